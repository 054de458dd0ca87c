"""The output filter that drops `reset + same style` pairs: fewer bytes, the very same screen."""

from __future__ import annotations

import io

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.style import Style
from rich.text import Text

from console.term_output import merge_style_runs

RESET = "\x1b[0m"
ORANGE = "\x1b[38;5;214;48;5;233m"
GREY = "\x1b[38;5;247;48;5;233m"


def screen_of(data: str, cols: int = 40, rows: int = 6) -> list[list[tuple[str, str, str, bool, bool]]]:
    screen = pyte.Screen(cols, rows)
    pyte.Stream(screen).feed(data)
    return [
        [(c.data, c.fg, c.bg, c.bold, c.reverse) for c in (screen.buffer[y][x] for x in range(cols))]
        for y in range(rows)
    ]


def test_a_border_line_loses_its_repeats() -> None:
    line = ORANGE + "╰" + RESET + ORANGE + "───" + RESET + GREY + " live " + RESET + ORANGE + "─" + RESET + ORANGE + "╯"
    merged, clean = merge_style_runs(line + RESET, clean=True)
    assert merged == ORANGE + "╰───" + RESET + GREY + " live " + RESET + ORANGE + "─╯" + RESET
    assert clean


def test_text_or_a_cursor_move_between_keeps_both() -> None:
    frame = ORANGE + "a" + RESET + "\x1b[3;1H" + ORANGE + "b" + RESET + " " + ORANGE + "c" + RESET
    assert merge_style_runs(frame, clean=True)[0] == frame


def test_stacked_styles_are_never_merged() -> None:
    bold = "\x1b[1m"
    frame = ORANGE + bold + "a" + RESET + ORANGE + bold + "b" + RESET
    # After `ORANGE bold`, re-sending ORANGE alone would lose the bold: nothing is merged.
    assert merge_style_runs(frame, clean=True)[0] == frame


def test_unknown_attributes_at_the_start_are_not_assumed_clean() -> None:
    frame = ORANGE + "a" + RESET + ORANGE + "b"
    assert merge_style_runs(frame, clean=False)[0] == frame  # the first style may sit on top of others
    assert merge_style_runs(frame, clean=True)[0] == ORANGE + "ab"


def test_the_end_state_carries_to_the_next_frame() -> None:
    assert merge_style_runs(ORANGE + "a" + RESET, clean=False)[1] is True
    assert merge_style_runs(ORANGE + "a", clean=True)[1] is False
    assert merge_style_runs("\x1b[5;5H", clean=True)[1] is True


COLOURS = st.sampled_from(["red", "green", "#ff8800", "color(214)", "grey50", "default"])
STYLES = st.builds(Style, color=COLOURS, bgcolor=COLOURS, bold=st.booleans(), reverse=st.booleans())
RUNS = st.lists(st.tuples(st.text("ab ─╯", min_size=1, max_size=6), STYLES), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(RUNS, st.booleans())
def test_the_screen_is_the_same_with_and_without_merging(runs: list[tuple[str, Style]], move: bool) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=40, legacy_windows=False)
    text = Text()
    for chunk, style in runs:
        text.append(chunk, style)
    console.print(text, end="")
    frame = RESET + ("\x1b[2;3H" if move else "") + buffer.getvalue() + RESET
    merged, _ = merge_style_runs(frame)
    assert len(merged) <= len(frame)
    assert screen_of(merged) == screen_of(frame)
