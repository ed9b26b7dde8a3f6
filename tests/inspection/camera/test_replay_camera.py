from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.camera import EndOfStream
from inspection.camera.replay import Options, ReplayCamera
from inspection.domain.types import Frame, FrameFailure
from inspection.errors import CameraError


def read_all(camera: ReplayCamera) -> list[Frame | FrameFailure]:
    items: list[Frame | FrameFailure] = []
    with camera:
        while True:
            try:
                item = camera.read(timeout_s=1.0)
            except EndOfStream:
                return items
            if item is not None:
                items.append(item)


def test_folder_once_in_name_order(parts_dir: Path) -> None:
    items = read_all(ReplayCamera(Options(path=parts_dir)))
    assert [f.sequence for f in items] == list(range(6))
    assert [Path(f.source).name for f in items] == sorted(p.name for p in parts_dir.iterdir())
    assert all(isinstance(f, Frame) and f.image.shape == (96, 96, 3) for f in items)


def test_decoded_images_are_handed_over_read_only_without_a_copy(parts_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import inspection.domain.types as types

    copies = []
    real_copy = types._readonly_copy
    monkeypatch.setattr(types, "_readonly_copy", lambda image: copies.append(1) or real_copy(image))
    for pixel_format in ("bgr8", "mono8"):
        items = read_all(ReplayCamera(Options(path=parts_dir, pixel_format=pixel_format)))
        assert len(items) == 6 and all(not f.image.flags.writeable for f in items)  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="read-only"):
            items[0].image[0, 0] = 0  # type: ignore[union-attr]
    assert copies == []


def test_loop_and_max_parts_and_mono(parts_dir: Path) -> None:
    items = read_all(ReplayCamera(Options(path=parts_dir, loop=True, max_parts=14, pixel_format="mono8")))
    assert len(items) == 14
    assert items[6].source == items[0].source  # wrapped around
    assert all(isinstance(f, Frame) and f.image.ndim == 2 and f.pixel_format == "mono8" for f in items)


def test_line_rate_is_respected(parts_dir: Path) -> None:
    camera = ReplayCamera(Options(path=parts_dir, rate_hz=50.0))
    start = time.monotonic()
    items = read_all(camera)
    assert len(items) == 6
    assert time.monotonic() - start >= 5 / 50.0 * 0.9  # 6 parts span 5 intervals


def test_read_times_out_when_next_part_not_due(parts_dir: Path) -> None:
    with ReplayCamera(Options(path=parts_dir, rate_hz=0.5)) as camera:
        assert isinstance(camera.read(timeout_s=0.01), Frame)
        assert camera.read(timeout_s=0.01) is None


def test_corrupt_and_empty_images_become_failures(parts_dir: Path) -> None:
    (parts_dir / "part_0002.png").write_bytes(b"\x89PNG\r\n not really")
    (parts_dir / "part_0003.png").write_bytes(b"")
    items = read_all(ReplayCamera(Options(path=parts_dir)))
    assert len(items) == 6
    failures = [f for f in items if isinstance(f, FrameFailure)]
    assert [f.sequence for f in failures] == [2, 3]
    assert [f.code for f in failures] == ["decode_error", "image_truncated"]  # named reasons (inspection.codes)
    assert all("part_000" in f.message for f in failures)


def test_a_file_removed_mid_run_is_one_error_and_an_emptied_folder_is_a_lost_camera(parts_dir: Path) -> None:
    """Looping over a folder someone clears: the removed file's part is an ERROR, the rest go on; once nothing
    is left the camera is gone (CameraError: the station stops safely) — not an endless row of ERRORs."""
    import shutil

    with ReplayCamera(Options(path=parts_dir, loop=True)) as camera:
        assert isinstance(camera.read(timeout_s=1.0), Frame)  # part_0000
        (parts_dir / "part_0001.png").unlink()
        gone = camera.read(timeout_s=1.0)
        assert isinstance(gone, FrameFailure) and "part_0001" in gone.message
        after = [camera.read(timeout_s=1.0) for _ in range(6)]
        assert all(isinstance(f, Frame) for f in after)
        assert "part_0001.png" not in {Path(f.source).name for f in after}  # listed afresh
        shutil.rmtree(parts_dir)
        with pytest.raises(CameraError, match="no longer exists"):
            for _ in range(6):
                camera.read(timeout_s=1.0)


def test_video_source(tmp_path: Path) -> None:
    path = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    items = read_all(ReplayCamera(Options(path=path)))
    assert len(items) == 5 and all(isinstance(f, Frame) and f.image.shape == (48, 64, 3) for f in items)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nowhere", "does not exist"),
        (lambda p: p, "no images"),
        (lambda p: (p / "notes.txt", (p / "notes.txt").write_text("x"))[0], "neither an image folder nor a video"),
    ],
)
def test_bad_sources_are_clear_errors(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(CameraError, match=message):
        ReplayCamera(Options(path=make(tmp_path))).open()


def test_no_burst_of_parts_after_a_slow_start(parts_dir: Path) -> None:
    """A station warming up its model after open() must not meet a backlog of 'overdue' parts."""
    with ReplayCamera(Options(path=parts_dir, rate_hz=20.0)) as camera:
        time.sleep(0.3)  # model warm-up between open() and the first read
        start = time.monotonic()
        for _ in range(4):
            assert isinstance(camera.read(timeout_s=1.0), Frame)
        assert time.monotonic() - start >= 3 / 20.0 * 0.9
