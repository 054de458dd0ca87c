"""QuietFooter rebuilds its keys only when the keys it shows change, and then shows exactly what Footer shows."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from widgets.quiet_footer import QuietFooter


class Pane(Static, can_focus=True):
    BINDINGS = [Binding("i", "noop", "Invalidate")]

    def action_noop(self) -> None:
        pass


class Keys(App[None]):
    AUTO_FOCUS = None  # nothing focused: only the app's keys at first
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("p", "noop", "Pause")]

    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.footer = footer

    def compose(self) -> ComposeResult:
        yield Pane("a", id="a")
        yield Pane("b", id="b")
        yield Static("plain", id="plain")
        yield self.footer()

    def action_noop(self) -> None:
        pass


def shown(app: App[None]) -> list[str]:
    return [str(key.render()) for key in app.screen.query_one(Footer).query("FooterKey")]


async def test_the_same_keys_are_not_rebuilt_and_new_keys_are_shown_as_footer_shows_them() -> None:
    quiet, stock = Keys(QuietFooter), Keys(Footer)
    async with quiet.run_test(size=(80, 10)) as pilot, stock.run_test(size=(80, 10)) as stock_pilot:
        await pilot.pause()
        footer = quiet.screen.query_one(QuietFooter)
        composed: list[int] = []
        compose = footer.compose
        footer.compose = lambda: (composed.append(1), compose())[1]  # type: ignore[method-assign]

        quiet.screen.bindings_updated_signal.publish(quiet.screen)  # what a focus move or a mount publishes
        await pilot.pause()
        assert composed == [], "the same keys: nothing rebuilt"

        for app, each in ((quiet, pilot), (stock, stock_pilot)):
            app.query_one("#a").focus()
            await each.pause()
        assert composed == [1], "a pane's own key appeared: rebuilt once"
        assert any("Invalidate" in text for text in shown(quiet))
        assert shown(quiet) == shown(stock)

        quiet.query_one("#b").focus()  # another pane with the same keys
        await pilot.pause()
        assert composed == [1]
        for app, each in ((quiet, pilot), (stock, stock_pilot)):
            app.set_focus(None)
            await each.pause()
        assert composed == [1, 1]
        assert not any("Invalidate" in text for text in shown(quiet))
        assert shown(quiet) == shown(stock)
