"""QuietStatic repaints only the changed spans of its lines, rendering the content once per `show`: the terminal
it leaves after many small updates is the one a fresh render of the last content draws."""

from __future__ import annotations

import random
from typing import Any

import pyte
import pytest
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Offset
from textual.selection import Selection
from textual.visual import RichVisual, Visual
from textual.widgets import Static

from widgets.quiet_static import QuietStatic

SIZE = (60, 14)
NAMES = ["users", "sessions", "注文", "products", "a-very-long-namespace-name-that-gets-cut"]


def content(rng: random.Random) -> RenderableType:
    """A Cache-pane-like body: a table whose figures move, rows and findings that come and go, wide text."""
    table = Table(box=None, expand=True, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("NAME", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("HIT", justify="right", width=5)
    table.add_column("OPS/S", justify="right", width=7)
    for name in rng.sample(NAMES, rng.randint(1, len(NAMES))):
        hit = rng.choice([None, rng.randint(0, 100)])
        table.add_row(
            name,
            Text("—" if hit is None else f"{hit}%", style="yellow" if (hit or 0) < 80 else ""),
            str(rng.randint(0, 2000)),
        )
    findings = [Text(f"▲ finding {n} 東京", style="yellow") for n in range(rng.randint(0, 3))]
    return Group(table, *findings)


def line_content(rng: random.Random) -> RenderableType:
    """The Cache pane's body as it is drawn when it fits: a Group of one-line Texts (grid lines with styled
    spans, wide text, right-aligned figures) and findings that come and go."""
    lines = [Text("NAME" + " " * 40 + "  HIT  OPS/S", style="bold")]
    for name in rng.sample(NAMES[:4], rng.randint(1, 4)):
        hit = rng.randint(0, 100)
        line = Text(f"{name:<20}"[:20])
        line.append(f"{hit:>3}%", style="yellow" if hit < 80 else "")
        line.append(f"{rng.randint(0, 2000):>7}")
        lines.append(line)
    lines += [Text(f"▲ finding {n} 東京", style="yellow") for n in range(rng.randint(0, 2))]
    return Group(*lines)


class Body(App[None]):
    CSS = "#fixed { height: 8; } #auto { height: auto; }"

    def __init__(self, cls: type[Static], first: RenderableType, auto: bool) -> None:
        super().__init__()
        self.cls, self.first, self.auto = cls, first, auto

    def compose(self) -> ComposeResult:
        yield self.cls(self.first, id="auto" if self.auto else "fixed")


class Terminal:
    def __init__(self) -> None:
        self.screen = pyte.Screen(*SIZE)
        self.stream = pyte.Stream(self.screen)

    def attach(self, app: App[None]) -> None:
        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None and hasattr(renderable, "render_segments"):
                self.stream.feed(renderable.render_segments(app.console))

        app._display = display  # type: ignore[method-assign]

    def cells(self) -> list[list[tuple[str, str, str, bool]]]:
        """What a person sees: a blank's foreground colour and weight do not show (and differ between paths)."""
        rows = self.screen.buffer
        return [[_seen(rows[y][x]) for x in range(SIZE[0])] for y in range(SIZE[1])]


def _seen(cell: Any) -> tuple[str, str, str, bool]:
    return (" ", "", cell.bg, False) if cell.data == " " else (cell.data, cell.fg, cell.bg, cell.bold)


async def fresh_render(last: RenderableType, auto: bool) -> list[list[tuple[str, str, str, bool]]]:
    app = Body(Static, last, auto)
    terminal = Terminal()
    async with app.run_test(size=SIZE) as pilot:
        terminal.attach(app)
        app.screen.refresh()
        await pilot.pause()
    return terminal.cells()


@pytest.mark.parametrize("make", [content, line_content], ids=["table", "lines"])
@pytest.mark.parametrize("auto", [False, True], ids=["fixed-height", "auto-height"])
@pytest.mark.parametrize("seed", range(8))
async def test_small_updates_leave_what_a_fresh_render_draws(seed: int, auto: bool, make: Any) -> None:
    rng = random.Random(seed)
    app = Body(QuietStatic, "waiting", auto)
    terminal = Terminal()
    renders = 0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        body = app.query_one(QuietStatic)
        terminal.attach(app)
        app.screen.refresh()
        await pilot.pause()
        render_content = body._render_content

        def counted() -> None:
            nonlocal renders
            renders += 1
            render_content()

        body._render_content = counted  # type: ignore[method-assign]
        last: RenderableType = "waiting"
        for _step in range(12):
            if rng.random() < 0.3:
                body.show(make(rng))  # shown twice before a frame: the second must not compare with the first's
            last = make(rng)
            body.show(last)
            if rng.random() < 0.3:
                body.show(last)  # the same again: nothing new to repaint, and nothing lost
            await pilot.pause()
    assert terminal.cells() == await fresh_render(last, auto)
    if not auto:  # a fixed height never needs a second render of the content: `show` rendered it
        assert renders == 0


async def test_an_unchanged_content_repaints_nothing() -> None:
    app = Body(QuietStatic, "waiting", False)
    async with app.run_test(size=SIZE) as pilot:
        body = app.query_one(QuietStatic)
        body.show(content(random.Random(1)))
        await pilot.pause()
        body.show(content(random.Random(1)))
        assert not body._repaint_regions
        body.show(content(random.Random(2)))
        assert body._repaint_regions


async def test_lines_of_one_line_texts_are_rendered_as_textual_renders_the_whole_group() -> None:
    app = Body(QuietStatic, "waiting", False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        body = app.query_one(QuietStatic)
        width, height = body.size
        for seed in range(6):
            group = line_content(random.Random(seed))
            lines = body._line_strips(group, width, height)
            whole = Visual.to_strips(body, RichVisual(body, group), width, height, body.visual_style)
            assert lines is not None and lines == whole
            assert body._line_strips(group, width, height) == whole  # from the memo, the same again
        assert body._line_strips(content(random.Random(0)), width, height) is None  # a table: Textual renders it
        assert body._line_strips(Group(Text("x" * (width + 1))), width, height) is None  # would wrap
        assert body._line_strips(Group(*[Text("x")] * (height + 1)), width, height) is None  # does not fit
        app.screen.selections = {body: Selection(Offset(0, 1), Offset(4, 2))}  # the mouse selected some text
        assert body._line_strips(line_content(random.Random(0)), width, height) is None  # drawn by Textual
