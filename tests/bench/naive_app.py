"""A naive Textual dashboard (reference for terminal bytes/s, not a target): every second it rebuilds a 30-row
table and six sparklines with new random figures, the way a first attempt at a dashboard would."""

import random

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Sparkline


class Naive(App[None]):
    CSS = "Sparkline { height: 3; width: 1fr; } DataTable { height: 1fr; }"

    def compose(self) -> ComposeResult:
        with Horizontal(id="sparks"):
            for _ in range(6):
                yield Sparkline([random.random() for _ in range(30)])
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("queue", "depth", "consumers", "rate", "eta")
        self.repaint()
        self.set_interval(1.0, self.repaint)

    def repaint(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for n in range(30):
            table.add_row(f"queue-{n:02d}", random.randint(0, 999), random.randint(0, 5), f"{random.random():.2f}", "-")
        for spark in self.query(Sparkline):
            spark.data = [*spark.data[1:], random.random()]


if __name__ == "__main__":
    Naive().run()
