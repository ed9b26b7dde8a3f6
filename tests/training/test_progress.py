"""Progress bars of the long build-time commands: drawn on a terminal, silent in pipes and logs."""

from __future__ import annotations

import io
import sys

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from training.progress import bar, is_quiet, quiet_option, set_quiet, track


def test_track_draws_a_bar_on_a_terminal_and_yields_every_item() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    assert list(track(iter(range(3)), "features", 3, console)) == [0, 1, 2]
    text = out.getvalue()
    assert "features" in text and "3/3" in text


def test_nothing_is_drawn_when_the_output_is_not_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with bar("coreset", 5, console) as advance:
        for _ in range(5):
            advance(1)
    assert list(track([1, 2], "scoring", 2, console)) == [1, 2]
    assert out.getvalue() == ""


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("stdout_tty", "quiet", "drawn"), [(True, False, True), (False, False, False),
                                                             (True, True, False)])
def test_the_commands_bar_needs_both_streams_on_a_terminal_and_no_quiet(
        monkeypatch: pytest.MonkeyPatch, stdout_tty: bool, quiet: bool, drawn: bool) -> None:
    """`station eval > report.txt` or `--quiet`: the results stay clean, no bar frames in a log."""
    err = _Terminal(True)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", _Terminal(stdout_tty))
    monkeypatch.setenv("TERM", "xterm")
    set_quiet(quiet)
    try:
        assert list(track([1, 2, 3], "inspecting", 3)) == [1, 2, 3]
    finally:
        set_quiet(False)
    assert ("inspecting" in err.getvalue()) is drawn


def test_quiet_option_sets_and_resets_quiet_per_invocation() -> None:
    seen = []

    @click.command()
    @quiet_option
    def command() -> None:
        seen.append(is_quiet())

    assert CliRunner().invoke(command, ["--quiet"]).exit_code == 0
    assert CliRunner().invoke(command, []).exit_code == 0
    assert seen == [True, False]
