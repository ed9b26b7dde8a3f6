"""Progress bars (rich) for the long build-time commands: train, eval, dataset build, export, anomaly
fit/eval, joints train.

Drawn on stderr and only when both stdout and stderr are terminals, so logs, pipes, `> file` and tests keep
clean output; a command's results still go to stdout. `set_quiet(True)` (the commands' `--quiet`/`--json`)
turns them off. `track` wraps an iterable; `bar` gives a handle to advance by hand (for loops that are not
iterables over the work, such as coreset selection). A total of 0 draws a bar without a known end.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["bar", "set_quiet", "track"]

T = TypeVar("T")
_quiet = False


def set_quiet(quiet: bool) -> None:
    """No progress bars at all in this process (a command's `--quiet` or `--json`)."""
    global _quiet
    _quiet = quiet


def _progress(console: Console | None) -> Progress:
    if console is None:  # the command's own output: only when a person watches both streams
        console = Console(stderr=True)
        show = console.is_terminal and sys.stdout.isatty()
    else:
        show = console.is_terminal
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, disable=_quiet or not show, transient=False)


@contextlib.contextmanager
def bar(description: str, total: int, console: Console | None = None) -> Iterator[Callable[[int], None]]:
    """`with bar("coreset", n) as advance: ... advance(k)`."""
    with _progress(console) as progress:
        task = progress.add_task(description, total=total or None)
        yield lambda steps=1: progress.advance(task, steps)


def track(items: Iterable[T], description: str, total: int, console: Console | None = None) -> Iterator[T]:
    """Yield `items`, advancing a bar of `total` steps by one per item."""
    with bar(description, total, console) as advance:
        for item in items:
            yield item
            advance(1)
