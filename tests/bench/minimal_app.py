"""The floor for any Textual program: one label, nothing else (the start-up peer)."""

from textual.app import App, ComposeResult
from textual.widgets import Static


class Minimal(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("minimal textual app")


if __name__ == "__main__":
    Minimal().run()
