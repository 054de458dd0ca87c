"""History strips and sparklines are one span per run of a style, and draw exactly what a span per character drew."""

from __future__ import annotations

import random

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text

from console.model import BreakerState, Status
from widgets.breakers_pane import STATE_STYLE, history_strip
from widgets.breakers_pane import STRIP as BREAKER_STRIP
from widgets.render import SPARK_BLOCKS, STRIP, STYLE, spark, strip, styled_runs

CONSOLE = Console(width=60, color_system="truecolor", highlight=False, legacy_windows=False)


def drawn(text: Text) -> list[tuple[str, Style]]:
    return [(char, segment.style or Style()) for segment in CONSOLE.render(text) for char in segment.text]


def per_character(cells: list[tuple[str, str]], pad: int) -> Text:
    text = Text(" " * pad)
    for char, style in cells:
        text.append(char, style=style)
    return text


@pytest.mark.parametrize("seed", range(20))
def test_runs_draw_what_a_span_per_character_draws(seed: int) -> None:
    rng = random.Random(seed)
    cells = [
        (rng.choice(SPARK_BLOCKS + " "), rng.choice(["", "cyan", "red", "bold red"])) for _ in range(rng.randint(0, 30))
    ]
    pad = rng.randint(0, 5)
    runs = styled_runs(cells, pad)
    assert drawn(runs) == drawn(per_character(cells, pad))
    styles = [style for _char, style in cells]
    changes = sum(1 for a, b in zip(styles, styles[1:], strict=False) if a != b)
    assert len(runs.spans) <= changes + 1


def test_strips_and_sparklines_draw_as_before() -> None:
    rng = random.Random(7)
    statuses = tuple(rng.choice(list(Status)) for _ in range(14))
    assert drawn(strip(statuses, 10)) == drawn(per_character([(STRIP[s], STYLE[s]) for s in statuses[-10:]], 0))
    assert drawn(strip(statuses[:3], 10)) == drawn(per_character([(STRIP[s], STYLE[s]) for s in statuses[:3]], 7))
    states = tuple(rng.choice(list(BreakerState)) for _ in range(6))
    expected = per_character([(BREAKER_STRIP[s], STATE_STYLE[s].replace(" reverse", "")) for s in states], 4)
    assert drawn(history_strip(states, 10)) == drawn(expected)
    line = spark([1.0, None, 3.0, 3.0, 9.0], 8, "cyan", floor=0.0)
    assert line.plain == "   ▂ ▃▃█" and len(line.spans) == 2  # the gap splits the run
    assert drawn(line) == drawn(per_character([(c, "" if c == " " else "cyan") for c in "▂ ▃▃█"], 3))
