"""`grid_lines` draws exactly what the equivalent Rich Table draws (character and style of every cell), or
declines (None) and the Table is drawn instead."""

from __future__ import annotations

import random

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text

from widgets.cache_pane import INSTANCE_COLUMNS, NAMESPACE_COLUMNS
from widgets.render import spark
from widgets.text_grid import GridColumn, as_table, grid_lines

NULL = Style()
NAMES = ["redis", "x", "cache-primary-eu-west-1.internal", "注文キャッシュ", "a\tb", "[bold]not markup[/]", ""]
FIGURES = ["85%", "—", "100%", "<0.1%", "582", "1.2", "12k", "3.6M", "3.6M 45%", "1023.9M 100%", "12 (3b)", "0.0"]
STYLES = ["", "yellow", "bold red", "green"]


def cells(renderables: list[object], width: int) -> list[list[tuple[str, Style]]]:
    console = Console(width=width, color_system="truecolor", highlight=False, legacy_windows=False)
    options = console.options.update(width=width, min_width=width, max_width=width, height=None)
    return [
        [(char, segment.style or NULL) for segment in line for char in segment.text]
        for renderable in renderables
        for line in console.render_lines(renderable, options, pad=True)
    ]


def random_cell(rng: random.Random, column: GridColumn) -> Text | str:
    pool = NAMES if column.width is None or column.header == "ROLE" else FIGURES
    if column.width is not None and rng.random() < 0.9:  # mostly what fits; now and then what a Table would wrap
        pool = [value for value in pool if len(value) <= column.width] or pool
    if column.header == "TREND":
        return spark([rng.random() for _ in range(rng.randint(0, 25))], column.width or 10, "cyan", floor=0.0)
    value = rng.choice(pool)
    return value if rng.random() < 0.3 else Text(value, style=rng.choice(STYLES))


@pytest.mark.parametrize(
    "columns",
    [INSTANCE_COLUMNS[False], INSTANCE_COLUMNS[True], NAMESPACE_COLUMNS[False], NAMESPACE_COLUMNS[True]],
    ids=["instances", "instances-wide", "namespaces", "namespaces-wide"],
)
def test_grid_lines_draw_what_the_table_draws(columns: tuple[GridColumn, ...]) -> None:
    rng = random.Random(len(columns))
    drawn = 0
    for _case in range(250):
        width = rng.randint(8, 130)
        rows = [[random_cell(rng, c) for c in columns] for _ in range(rng.randint(0, 4))]
        lines = grid_lines(columns, rows, width)
        if lines is None:
            continue
        drawn += 1
        assert cells(list(lines), width) == cells([as_table(columns, rows)], width), (width, rows)
    assert drawn > 50  # many cases are drawn as lines, not handed back


def test_a_cell_a_table_would_wrap_is_handed_back() -> None:
    columns = INSTANCE_COLUMNS[False]
    row = [Text("●"), "redis", "<0.1%", "1.2", "3.6M", "0.0"]  # "<0.1%" is wider than HIT (4): wrapped
    assert grid_lines(columns, [row], 60) is None
    assert grid_lines(columns, [[*row[:2], "5%", *row[3:]]], 60) is not None
    assert grid_lines(columns, [row[:2] + ["5%"] + row[3:]], 20) is None  # no room for the flexible column
    assert grid_lines(columns, [[Text("●"), Text("two\nlines"), *row[2:]]], 60) is None
