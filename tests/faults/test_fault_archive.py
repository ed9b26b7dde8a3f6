"""Archive failures of every kind cost images, never verdict rows: the row is written without its image, one
alarm is raised with a running count and cleared when the archive works again; images are written atomically,
so a row never points at a half-written file.

Full and read-only use a real 1 MB tmpfs (root only; skipped with the reason otherwise); a vanished archive is a
real folder replaced by a file; I/O error and permission denied are injected at the os layer (as root a mode
bit does not stop a write, and no device here fails with EIO on demand)."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pytest

import inspection.records.store as store_module
from inspection.runtime.pipeline import Station

from .conftest import fill_up, remount, run_station

PARTS = 16
FAIL_FROM, FAIL_UNTIL = 4, 10  # archive calls (0-based) during which the archive is broken


def _rig(fault: str, archive: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Station], None]:
    filler, away = archive / "filler.bin", archive.with_name("archive_unmounted")
    real_write, real_open = os.write, os.open

    def start() -> None:
        if fault == "full":
            fill_up(filler, leave=2048)
        elif fault == "read_only":
            remount(archive, "ro")
        elif fault == "vanished":  # the share went away (its files with it) and something else took its name
            archive.rename(away)
            archive.write_text("not a folder")
        elif fault == "eio":
            monkeypatch.setattr(store_module.os, "write", _raise(errno.EIO))
        elif fault == "permission":
            monkeypatch.setattr(store_module.os, "open", _raise(errno.EACCES))

    def stop() -> None:
        if fault == "full":
            filler.unlink()
        elif fault == "read_only":
            remount(archive, "rw")
        elif fault == "vanished":
            archive.unlink()
            away.rename(archive)
        elif fault == "eio":
            monkeypatch.setattr(store_module.os, "write", real_write)
        elif fault == "permission":
            monkeypatch.setattr(store_module.os, "open", real_open)

    def rig(station: Station) -> None:
        assert station.store is not None
        real = station.store.archive_image
        calls = [0]

        def archive_image(*args: Any, **kwargs: Any) -> Any:  # on the recorder thread: deterministic
            if calls[0] == FAIL_FROM:
                start()
            if calls[0] == FAIL_UNTIL:
                stop()
            calls[0] += 1
            return real(*args, **kwargs)

        station.store.archive_image = archive_image  # type: ignore[method-assign]

    return rig


def _raise(code: int) -> Callable[..., Any]:
    def fail(*_: Any, **__: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize("fault", ["full", "read_only", "vanished", "eio", "permission"])
def test_archive_failure_costs_images_never_rows(fault: str, tmp_path: Path, station_config: Callable[..., Any],
                                                 tmpfs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import write_parts

    archive = tmp_path / "archive"
    if fault in ("full", "read_only"):
        tmpfs(archive, "1m")
    else:
        archive.mkdir()
    config = station_config(parts=write_parts(tmp_path / "parts", PARTS),
                            store={"keep_images": "all", "archive_dir": str(archive), "min_free_mb": 0})
    run = run_station(config, prepare=_rig(fault, archive, monkeypatch))
    run.assert_accounted(PARTS)
    with_image = [r for r in run.rows if r["image_path"]]
    assert FAIL_FROM <= len(with_image) <= PARTS - (FAIL_UNTIL - FAIL_FROM) + 1
    for row in with_image:  # a row never points at a missing or half-written image
        image = cv2.imread(row["image_path"])
        assert image is not None and image.shape == (48, 64, 3), row["image_path"]
    alarms = run.alarms("archive_write_failed")
    assert len(alarms) == 1, [a["message"] for a in alarms]
    cleared = [e for e in run.events if e["kind"] == "archive_write_failed_cleared"]
    assert len(cleared) == 1 and json.loads(cleared[0]["data"])["count"] == PARTS - len(with_image)
    assert not list(archive.rglob(".*.tmp")), "a temp file was left behind"


def test_temp_files_a_killed_station_left_are_swept_at_start(tmp_path: Path,
                                                            station_config: Callable[..., Any]) -> None:
    archive = tmp_path / "archive"
    day = archive / "2026-01-02"
    day.mkdir(parents=True)
    (day / ".1_cam0_00000001_PASS.png.tmp").write_bytes(b"\x89PNG half")
    (day / "1_cam0_00000000_PASS.png").write_bytes(b"kept")
    config = station_config(store={"keep_images": "none", "archive_dir": str(archive)})
    with Station(config):
        assert sorted(p.name for p in day.iterdir()) == ["1_cam0_00000000_PASS.png"]
