"""Progress bars (rich) for the long build-time commands: train, eval, dataset build, export, anomaly
fit/eval, joints train.

Drawn on stderr and only when both stdout and stderr are terminals, so logs, pipes, `> file` and tests keep
clean output; a command's results still go to stdout. `set_quiet(True)` (the commands' `--quiet`/`--json`)
turns them off. `track` wraps an iterable; `bar` gives a handle to advance by hand (for loops that are not
iterables over the work, such as coreset selection). A total of 0 draws a bar without a known end.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["bar", "is_quiet", "quiet_logger", "quiet_option", "set_quiet", "track"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
_quiet = False


def set_quiet(quiet: bool) -> None:
    """No progress bars at all in this process (a command's `--quiet` or `--json`)."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def quiet_option(command: F) -> F:
    """`-q/--quiet` on a long command: no progress bars (nor ultralytics' own, where the command runs it)."""

    def apply(_ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        set_quiet(value)  # also when not given: a quiet earlier command in the same process must not leak
        return value

    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=apply,
                        help="no progress bars (none are drawn unless stdout and stderr are terminals)")(command)


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """When quiet, a library's info lines and bars (ultralytics': its bars switch off above INFO) are held back
    for the block; warnings still show."""
    logger = logging.getLogger(name)
    level = logger.level
    if _quiet:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


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
