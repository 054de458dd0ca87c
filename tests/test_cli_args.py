"""The console's own command line is read without building every subcommand's parser (a start-up saving); it
must read exactly what the full parser reads, and hand everything else to it."""

from __future__ import annotations

import argparse

import pytest

from console.cli import SUBCOMMANDS, build_parser, parse_tui_args


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    return set(actions[0].choices)


def test_the_subcommand_list_is_the_parsers() -> None:
    assert _subcommands(build_parser()) == SUBCOMMANDS


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--config", "ops.toml"],
        ["-c", "ops.toml", "-e", "prod"],
        ["--config=ops.toml", "--env=staging", "--refresh", "2.5"],
        ["--write", "--reason", "INC-42 drain the DLQ"],
        ["--conf", "ops.toml"],  # an abbreviation, as argparse allows
        ["-cops.toml"],
    ],
)
def test_the_console_command_line_reads_as_the_full_parser_reads_it(argv: list[str]) -> None:
    fast = parse_tui_args(argv)
    assert fast is not None
    assert vars(fast) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["snapshot", "--json"],
        ["--config", "x.toml", "dlq", "list"],
        ["tui", "--write"],
        ["-h"],
        ["--help"],
        ["--verbose"],  # unknown: the full parser says so
        ["--refresh", "soon"],  # not a number: the full parser says so
        ["--config"],  # a missing value
        ["--env", "demo"],  # an option's value that names a subcommand: left to the full parser
        ["--re", "x"],  # ambiguous (--refresh, --reason): argparse reports it through error(), not a raise
    ],
)
def test_anything_else_goes_to_the_full_parser(argv: list[str]) -> None:
    assert parse_tui_args(argv) is None


def test_a_bad_option_still_gets_the_full_parsers_message(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--refresh", "soon"])
    assert exited.value.code == 2
    assert "--refresh: invalid float value: 'soon'" in capsys.readouterr().err


def test_an_ambiguous_option_is_explained_by_the_full_parser(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--re", "x"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "ambiguous option: --re" in err
    assert "COMMAND" in err  # the full parser's usage line, which lists the subcommands
