"""The main screen's partial updates start where the change starts: same terminal result as Textual's own update,
fewer bytes. Both updates of every frame are played into two virtual terminals (pyte) and compared."""

from __future__ import annotations

import random
from typing import Any

import pyte
import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from console.screens.main_screen import LeanChopsUpdate, MainScreen
from tests.fixtures.scenes import make_scene_app
from widgets.cell_table import CellTable

SIZE = (120, 40)


class TwoTerminals:
    """What the stock update and the lean one would each have left on a terminal, and what each wrote."""

    def __init__(self) -> None:
        self.screens = [pyte.Screen(*SIZE), pyte.Screen(*SIZE)]
        self.streams = [pyte.Stream(screen) for screen in self.screens]
        self.written = [0, 0]
        self.partial_updates = 0

    def play(self, stock: str, lean: str) -> None:
        for index, data in enumerate((stock, lean)):
            self.streams[index].feed(data)
            self.written[index] += len(data.encode())

    def shown(self, index: int) -> list[list[tuple[str, Any, Any, bool]]]:
        screen = self.screens[index]
        return [
            [(c.data, c.fg, c.bg, c.bold) for c in (screen.buffer[y][x] for x in range(SIZE[0]))]
            for y in range(SIZE[1])
        ]


def _record(app: Any, terminals: TwoTerminals) -> None:
    def display(screen: Any, renderable: Any) -> None:
        if renderable is None:
            return
        console = app.console
        if isinstance(renderable, LeanChopsUpdate):
            stock = ChopsUpdate(renderable.chops, renderable.spans, renderable.chop_ends)
            terminals.play(stock.render_segments(console), renderable.render_segments(console))
            terminals.partial_updates += 1
        elif hasattr(renderable, "render_segments"):
            data = renderable.render_segments(console)
            terminals.play(data, data)

    app._display = display


async def _recording_from_a_full_frame(app: Any, terminals: TwoTerminals, pilot: Any) -> None:
    """Record both updates of every frame from now on, starting from a full frame: both terminals then hold the
    screen as it is."""
    await pilot.pause()
    _record(app, terminals)
    app.screen.refresh()
    await pilot.pause()


async def _a_full_repaint_changes_nothing(app: Any, terminals: TwoTerminals, pilot: Any) -> bool:
    """Whether a full frame over what the lean updates left shows the same screen."""
    lean = terminals.shown(1)
    app.screen.refresh()
    await pilot.pause()
    return terminals.shown(1) == lean


@pytest.mark.parametrize("wide", [False, True])
async def test_partial_updates_leave_the_same_screen_with_fewer_bytes(wide: bool) -> None:
    app = make_scene_app("degraded")
    terminals = TwoTerminals()
    async with app.run_test(size=SIZE) as pilot:
        await _recording_from_a_full_frame(app, terminals, pilot)
        assert isinstance(app.screen, MainScreen)
        table = app.query_one("#health-table", CellTable)
        columns = [str(column.key.value) for column in table.ordered_columns]
        keys = table.row_keys()
        for step in range(6):
            rows = []
            for number, key in enumerate(keys):
                cells = [table.get_cell(key, column) for column in columns]
                if wide and number == 0:
                    cells[1] = Text(f"日本{step % 2}")  # a wide character to the left of the next change
                cells[3] = Text(f"{10 + step + number}ms", justify="right")
                rows.append((key, cells))
            table.show_rows(rows, columns)
            await pilot.pause()
        assert terminals.partial_updates >= 6
        assert terminals.shown(0) == terminals.shown(1)
        assert terminals.written[1] < terminals.written[0]


# --- the update itself, on hand-made lines: random segments, chops and spans, wide characters at every edge --

_STYLES = [Style(), Style(bold=True), Style(color="red"), Style(bgcolor="blue"), Style(italic=True, underline=True)]
_STYLES.append(Style(reverse=True))
_PIECES = ["a", "bc", "日", "本x", " ", "def ", "語語"]


def _line(rng: random.Random) -> list[Segment]:
    return [Segment(rng.choice(_PIECES) * rng.randint(1, 3), rng.choice(_STYLES)) for _ in range(rng.randint(2, 9))]


def _char_edges(segments: list[Segment]) -> list[int]:
    """Columns where a character starts (and the line's end): the only places a chop edge can fall."""
    edges, x = [0], 0
    for segment in segments:
        for char in segment.text:
            x += cell_len(char)
            edges.append(x)
    return edges


def _paint(stream: pyte.Stream, segments: list[Segment], console: Console) -> None:
    stream.feed("\x1b[1;1H" + Strip(segments).render(console))


def _cells(screen: pyte.Screen, width: int) -> list[tuple[Any, ...]]:
    row = screen.buffer[0]
    return [
        (c.data, c.fg, c.bg, c.bold, c.italics, c.underscore, c.reverse, c.strikethrough)
        for c in (row[x] for x in range(width))
    ]


def _covered(segments: list[Segment], spans: list[tuple[int, int, int]]) -> list[Segment]:
    """The line as the terminal showed it before the update: every character a span touches is different."""
    out, x = [], 0
    for segment in segments:
        for char in segment.text:
            width = cell_len(char)
            touched = any(x1 < x + width and x < x2 for _, x1, x2 in spans)
            out.append(Segment("X" * width if touched else char, Style() if touched else segment.style))
            x += width
    return out


@pytest.mark.parametrize("seed", range(300))
def test_a_lean_update_leaves_the_new_line_on_the_terminal(seed: int) -> None:
    rng = random.Random(seed)
    console = Console(width=200, color_system="truecolor", force_terminal=True, legacy_windows=False)
    segments = _line(rng)
    edges = _char_edges(segments)
    width = edges[-1]
    cuts = sorted({0, width, *rng.sample(edges[1:-1], k=min(len(edges) - 2, rng.randint(0, 3)))})
    chop_strips = Strip(segments).divide(cuts[1:])
    chops = [dict(zip(cuts[:-1], chop_strips, strict=True))]
    spans: list[tuple[int, int, int]] = []
    x = 0
    while x < width - 1 and len(spans) < 3:
        x1 = rng.randint(x, width - 1)
        x2 = rng.randint(x1 + 1, width)
        spans.append((0, x1, x2))
        x = x2 + 1  # the compositor merges touching spans
    stock = ChopsUpdate(chops, spans, [cuts[1:]]).render_segments(console)
    lean = LeanChopsUpdate(chops, spans, [cuts[1:]]).render_segments(console)

    terminals = [pyte.Screen(200, 1) for _ in range(3)]
    streams = [pyte.Stream(screen) for screen in terminals]
    for stream in streams[:2]:
        _paint(stream, _covered(segments, spans), console)
    streams[0].feed(stock)
    streams[1].feed(lean)
    _paint(streams[2], segments, console)  # what the line is now
    expected = _cells(terminals[2], width)
    assert _cells(terminals[1], width) == expected, (spans, cuts, [s.text for s in segments])
    splits_a_wide_character = any(x1 not in edges or x2 not in edges for _, x1, x2 in spans)
    if not splits_a_wide_character:  # the stock update is right too: the check above compares like with like
        assert _cells(terminals[0], width) == expected
        assert len(lean) <= len(stock) + sum(len(s.text) for s in segments)  # at most a segment's more at an edge


# --- a pane's border follows its verdict and freshness, repainted alone ------------------------------------------


async def test_a_verdict_or_freshness_change_recolours_the_border_as_a_full_repaint_would() -> None:
    from datetime import UTC, datetime

    from console.model import PaneState, SourceMode, Status
    from widgets.queues_pane import QueuesPane

    app = make_scene_app("degraded")
    terminals = TwoTerminals()
    async with app.run_test(size=SIZE) as pilot:
        await _recording_from_a_full_frame(app, terminals, pilot)
        pane = app.query_one(QueuesPane)
        table = pane.query_one(CellTable)
        restyled: list[object] = []
        update_nodes = app.stylesheet.update_nodes

        def recording(nodes, animate=False):  # type: ignore[no-untyped-def]
            nodes = list(nodes)
            restyled.extend(nodes)
            return update_nodes(nodes, animate=animate)

        app.stylesheet.update_nodes = recording  # type: ignore[method-assign]
        at = datetime(2026, 11, 24, 4, 19, 7, tzinfo=UTC)
        steps = [
            (Status.WARN, PaneState(SourceMode.LIVE, at, "", 2)),
            (Status.CRIT, PaneState(SourceMode.STALE, at, "management API: timeout after 2s", 2)),
            (Status.OK, PaneState(SourceMode.UNREACHABLE, None, "connection refused", 2)),
            (Status.WARN, PaneState(SourceMode.LIVE, at, "", 2)),
        ]
        colours = {}
        for status, state in steps:
            pane.status, pane.state = status, state
            await pilot.pause()
            colours[status] = pane.styles.border_top[1]
            assert pane.has_class("-warn") is (status is Status.WARN)
            assert pane.has_class("-crit") is (status is Status.CRIT)
            assert await _a_full_repaint_changes_nothing(app, terminals, pilot)
        assert pane in restyled and table not in restyled  # the table is not restyled for its pane's border
        assert len(set(colours.values())) == 3  # ok, warn and crit borders differ


# --- a partial update renders only what is in front of each change --------------------------------------------


def _recording_renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    from textual.widget import Widget

    renders: list[tuple[Any, Any]] = []
    render_lines = Widget.render_lines

    def recording(self: Any, crop: Any) -> Any:
        renders.append((self, crop))
        return render_lines(self, crop)

    monkeypatch.setattr(Widget, "render_lines", recording)
    return renders


def _changed(table: CellTable, row: int, text: str) -> list[tuple[Any, list[Any]]]:
    columns = [str(column.key.value) for column in table.ordered_columns]
    rows = []
    for number, key in enumerate(table.row_keys()):
        cells = [table.get_cell(key, column) for column in columns]
        if number == row:
            cells[-1] = Text(text)
        rows.append((key, cells))
    return rows


async def test_a_partial_update_renders_the_widgets_in_front_of_each_change_and_shows_what_a_full_repaint_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from console.model import Status
    from widgets.queues_pane import QueuesPane

    app = make_scene_app("degraded")
    terminals = TwoTerminals()
    async with app.run_test(size=SIZE) as pilot:
        await _recording_from_a_full_frame(app, terminals, pilot)
        renders = _recording_renders(monkeypatch)
        health = app.query_one("#health-table", CellTable)
        queues = app.query_one("#queues-table", CellTable)
        # One changed cell: the table alone draws it, one line (Textual drew every pane its frame's box touched).
        health.show_rows(_changed(health, 1, "changed"), [str(c.key.value) for c in health.ordered_columns])
        await pilot.pause()
        assert [(widget, crop.height) for widget, crop in renders] == [(health, 1)]
        steps = [
            lambda: queues.show_rows(
                _changed(queues, 0, "far below"), [str(c.key.value) for c in queues.ordered_columns]
            ),
            lambda: setattr(app.query_one(QueuesPane), "status", Status.OK),  # the border: the pane, not its table
            lambda: (  # one frame, a change at the top and one far below: Textual's box took in most panes
                health.show_rows(_changed(health, 0, "top"), [str(c.key.value) for c in health.ordered_columns]),
                queues.show_rows(_changed(queues, 2, "low"), [str(c.key.value) for c in queues.ordered_columns]),
            ),
            lambda: setattr(app.query_one(QueuesPane), "status", Status.CRIT),
        ]
        for index, step in enumerate(steps):
            renders.clear()
            step()
            await pilot.pause()
            assert renders, f"step {index} was drawn"
            assert len(renders) < 10  # Textual drew 15-20 widgets for a change at the top and one at the bottom
            assert await _a_full_repaint_changes_nothing(app, terminals, pilot)


# --- a table pane whose columns are still the other set when its rows arrive ----------------------------------


@pytest.mark.parametrize("pane_id", ["queues", "dlq", "breakers"])
async def test_rows_arriving_before_the_resize_rebuild_the_columns_instead_of_raising(pane_id: str) -> None:
    from widgets.table_pane import TablePane

    app = make_scene_app("degraded")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pane = app.query_one(f"#{pane_id}", TablePane)
        table = pane.query_one(CellTable)
        wanted = [key for key, _h, _w in pane.columns]
        other = pane.NARROW if pane.columns is pane.WIDE else pane.WIDE
        table.clear(columns=True)  # the table as the other width left it, its Resize not yet handled
        for key, header, width in other:
            table.add_column(header, key=key, width=width or 10)
        pane._refresh_table()  # a reading arrives: DataTable raised CellDoesNotExist for the missing columns
        await pilot.pause()
        assert [str(column.key.value) for column in table.ordered_columns] == wanted
        assert table.row_count > 0
