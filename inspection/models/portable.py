"""Repo-relative paths in shipped metadata (model cards, sample READMEs, configs).

A model card written on the training machine used to carry that machine's paths (`/tmp/station-data/…`,
`/work/main/training/ship.py`): useless to anyone else and a leak of the trainer's layout. Writers run
their text through :func:`portable_text`; the repository test scans every shipped json/md/yaml file with
:func:`absolute_paths` so none comes back.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

__all__ = ["REPO_TOP_DIRS", "absolute_paths", "portable_path", "portable_text", "portable_value"]

# Top-level folders of this repository: a path through any of them is a checkout of it, wherever it lies.
REPO_TOP_DIRS = ("inspection", "station_ui", "training", "datasets", "camera_configs", "tests", "docs", "bench")

# An absolute path as it appears in text: POSIX roots that are machine- or user-specific (not /opt or /usr,
# where vendors install GenTL producers), or a Windows drive.
_ABSOLUTE = re.compile(
    r"(?<![\w.~<>$-])"
    r"(?:/(?:root|tmp|home|work|Users|var/folders|private)(?:/[^\s`'\",;)\]}]*)?"
    r"|[A-Za-z]:\\[^\s`'\",;)\]}]*)"
)


def absolute_paths(text: str) -> list[str]:
    """Every machine-specific absolute path in ``text`` (empty when the text is portable)."""
    return [m.group(0) for m in _ABSOLUTE.finditer(text)]


def portable_path(path: str, repo: Path | None = None) -> str:
    """One absolute path made portable.

    Inside this checkout (or any checkout of the repository) it becomes repo-relative; the shared data
    folder beside the checkout becomes ``../shared/…``; a temporary file keeps only its place under
    ``$TMPDIR``; anything else keeps its last two parts under ``<local>``.
    """
    windows = "\\" in path
    parts = [p for p in path.split("\\")[1:] if p] if windows else list(PurePosixPath(path).parts[1:])
    repo = (repo or Path(__file__).resolve().parents[1]).resolve()
    if not windows:
        try:
            return Path(path).resolve().relative_to(repo).as_posix() or "."
        except ValueError:
            pass
    if "shared" in parts:
        i = len(parts) - 1 - parts[::-1].index("shared")
        return "/".join(["..", *parts[i:]])
    for i, part in enumerate(parts):
        if part in REPO_TOP_DIRS and i > 0:
            return "/".join(parts[i:])
    if parts[:1] == ["tmp"] or parts[:2] == ["var", "folders"]:
        return "/".join(["$TMPDIR", *(parts[1:] if parts[:1] == ["tmp"] else parts[-2:])])
    return "/".join(["<local>", *parts[-2:]])


def portable_text(text: str, repo: Path | None = None) -> str:
    """``text`` with every absolute path replaced by :func:`portable_path`.

    Paths inside the checkout are made relative first, wherever it lies (a CI runner's ``/check/…`` or
    ``/builds/…`` is not one of the machine-specific roots the generic pattern knows).
    """
    repo = (repo or Path(__file__).resolve().parents[1]).resolve()
    path_char = r"[^\s`'\",;)\]}]"
    inside = re.compile(rf"(?<![\w.~<>$-]){re.escape(repo.as_posix())}(?:/(?P<rest>{path_char}*)|(?!{path_char}))")
    text = inside.sub(lambda m: m.group("rest") or ".", text)
    return _ABSOLUTE.sub(lambda m: portable_path(m.group(0), repo), text)


def portable_value(value: object, repo: Path | None = None) -> object:
    """A JSON-like value (dicts, lists, strings) with every string made portable."""
    if isinstance(value, str):
        return portable_text(value, repo)
    if isinstance(value, dict):
        return {k: portable_value(v, repo) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable_value(v, repo) for v in value]
    return value

