"""Progress bars (rich) for the long build-time commands: anomaly fit/eval, joints train.

Drawn on stderr and only when stderr is a terminal, so logs, pipes and tests keep clean output; a
command's results still go to stdout. `track` wraps an iterable; `bar` gives a handle to advance by hand
(for loops that are not iterables over the work, such as coreset selection).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["bar", "track"]

T = TypeVar("T")


def _progress(console: Console | None) -> Progress:
    console = console or Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, disable=not console.is_terminal, transient=False)


@contextlib.contextmanager
def bar(description: str, total: int, console: Console | None = None) -> Iterator[Callable[[int], None]]:
    """`with bar("coreset", n) as advance: ... advance(k)`."""
    with _progress(console) as progress:
        task = progress.add_task(description, total=total)
        yield lambda steps=1: progress.advance(task, steps)


def track(items: Iterable[T], description: str, total: int, console: Console | None = None) -> Iterator[T]:
    """Yield `items`, advancing a bar of `total` steps by one per item."""
    with bar(description, total, console) as advance:
        for item in items:
            yield item
            advance(1)
