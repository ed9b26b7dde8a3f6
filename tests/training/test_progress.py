"""Progress bars of the long build-time commands: drawn on a terminal, silent in pipes and logs."""

from __future__ import annotations

import io

from rich.console import Console

from training.progress import bar, track


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
