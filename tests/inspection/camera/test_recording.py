"""`station record` recordings: written by the Recorder, played back by the replay camera with the same
camera id, sequence numbers, part ids, timestamps, failures and timing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from inspection.camera import EndOfStream
from inspection.camera.recording import (
    FRAMES_FILE,
    RecordEntry,
    Recorder,
    read_recording,
    record_camera,
    schedule_offsets,
)
from inspection.camera.replay import Options as ReplayOptions
from inspection.camera.replay import ReplayCamera
from inspection.domain.types import Frame, FrameFailure
from inspection.errors import CameraError, DataError, OutputError

T0 = 1_700_000_000.0


def _frames() -> list[Frame | FrameFailure]:
    rng = np.random.default_rng(3)
    mono = rng.integers(0, 255, (24, 32), dtype=np.uint8)
    colour = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    return [
        Frame(mono, "line3", 41, T0, part_id="PCB-0001", device_timestamp_ns=5_000_000, source="dev#41",
              pixel_format="mono8"),
        Frame(colour, "line3", 42, T0 + 0.05, part_id="PCB-0002", device_timestamp_ns=55_000_000, source="dev#42"),
        FrameFailure("line3", 43, T0 + 0.10, "camera_lost", "camera 'line3' lost", part_id="PCB-0003"),
        Frame(colour[::-1].copy(), "line3", 47, T0 + 0.30, part_id="PCB-0004"),
    ]


def _record(folder: Path, items: list[Frame | FrameFailure]) -> Path:
    with Recorder(folder, {"camera_id": "line3"}) as recorder:
        for item in items:
            recorder.write(item)
    return folder


def _play(folder: Path, **options: object) -> list[Frame | FrameFailure]:
    camera = ReplayCamera(ReplayOptions(path=folder, **options))
    out = []
    with camera:
        while True:
            try:
                item = camera.read(5.0)
            except EndOfStream:
                return out
            if item is not None:
                out.append(item)


def test_replay_gives_back_what_was_recorded(tmp_path: Path) -> None:
    items = _frames()
    played = _play(_record(tmp_path / "rec", items), timing="rate")
    assert [type(p) for p in played] == [type(i) for i in items]
    for original, copy in zip(items, played, strict=True):
        assert (copy.camera_id, copy.sequence, copy.timestamp_s, copy.part_id) == \
            (original.camera_id, original.sequence, original.timestamp_s, original.part_id)
        if isinstance(original, Frame):
            assert isinstance(copy, Frame)
            assert np.array_equal(copy.image, original.image), "PNG is lossless"
            assert (copy.device_timestamp_ns, copy.pixel_format) == (original.device_timestamp_ns,
                                                                      original.pixel_format)
        else:
            assert isinstance(copy, FrameFailure)
            assert (copy.code, copy.message) == (original.code, original.message)


def test_replay_options_still_rule_when_given(tmp_path: Path) -> None:
    played = _play(_record(tmp_path / "rec", _frames()), id="renamed", pixel_format="bgr8", timing="rate")
    assert all(p.camera_id == "renamed" for p in played)
    assert played[0].image.shape == (24, 32, 3)  # the mono frame, expanded as the station asked


def test_looping_a_recording_keeps_part_keys_unique(tmp_path: Path) -> None:
    played = _play(_record(tmp_path / "rec", _frames()), loop=True, max_parts=8, timing="rate")
    keys = [(p.camera_id, p.sequence) for p in played]
    assert len(keys) == 8 and len(set(keys)) == 8


def test_schedule_follows_recorded_gaps_and_never_goes_back() -> None:
    entries = [RecordEntry("c", i, t) for i, t in enumerate([10.0, 10.05, 10.04, 10.30])]
    assert schedule_offsets(entries) == pytest.approx([0.0, 0.05, 0.05, 0.30])


def test_playback_keeps_the_recorded_timing(tmp_path: Path) -> None:
    """Sleeps only make playback later, never earlier: the recorded 0.3 s span is a lower bound."""
    folder = _record(tmp_path / "rec", _frames())
    started = time.monotonic()
    played = _play(folder)
    assert len(played) == 4
    assert time.monotonic() - started >= 0.3


def test_corrupt_line_is_named_with_file_and_line(tmp_path: Path) -> None:
    folder = _record(tmp_path / "rec", _frames())
    lines = (folder / FRAMES_FILE).read_text(encoding="utf-8").splitlines()
    lines[1] = '{"camera_id": "line3", "timestamp_s": 1.0}'
    (folder / FRAMES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{FRAMES_FILE}:2: not a recorded part \(KeyError"):
        read_recording(folder)
    with pytest.raises(CameraError, match=rf"replay camera 'cam0': .*{FRAMES_FILE}:2"):
        ReplayCamera(ReplayOptions(path=folder)).open()


def test_empty_recording_is_an_error(tmp_path: Path) -> None:
    (tmp_path / FRAMES_FILE).write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"holds no parts"):
        read_recording(tmp_path)


def test_missing_image_of_a_recorded_frame_becomes_a_failure(tmp_path: Path) -> None:
    folder = _record(tmp_path / "rec", _frames())
    (folder / "000001.png").unlink()
    played = _play(folder, timing="rate")
    assert isinstance(played[1], FrameFailure) and played[1].code == "decode_error"
    assert played[1].sequence == 42 and played[1].part_id == "PCB-0002"


def test_recorder_refuses_to_overwrite_a_recording(tmp_path: Path) -> None:
    folder = _record(tmp_path / "rec", _frames())
    with pytest.raises(OutputError, match=r"already holds a recording; choose a new folder"):
        Recorder(folder).open()


def test_plain_image_folders_play_as_before(tmp_path: Path) -> None:
    import cv2

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"p{i}.png"), np.full((8, 8, 3), i, np.uint8))
    played = _play(tmp_path)
    assert [p.sequence for p in played] == [0, 1, 2] and all(p.camera_id == "cam0" for p in played)


@pytest.mark.camera
def test_recording_a_viky_stream_and_replaying_it(tmp_path: Path) -> None:
    genicam = pytest.importorskip("genicam")
    from inspection.camera.genicam import Options, create

    viky = Path(genicam.__file__).parent / "viky.cti"
    options = Options(id="top", producers=[str(viky)], device={"serial": "2"}, pixel_format="RGBa8", width=160,
                      height=120, frame_rate_hz=50)
    with create(options) as camera, Recorder(tmp_path / "rec", {"camera_id": "top"}) as recorder:
        assert record_camera(camera, recorder, frames=8) == 8
    entries = read_recording(tmp_path / "rec")
    header = json.loads((tmp_path / "rec" / "recording.json").read_text(encoding="utf-8"))
    assert header["format"] == "station-recording" and header["camera_id"] == "top"
    played = _play(tmp_path / "rec", timing="rate")
    assert [p.sequence for p in played] == [e.sequence for e in entries]
    assert all(isinstance(p, Frame) and p.camera_id == "top" and p.image.shape == (120, 160, 3) for p in played)
    assert [p.source for p in played] == [f"VikyTL_DEV_blue#{e.sequence}" for e in entries]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("sequence", 10**30, "sequence must be a whole number"),  # would overflow SQLite's INTEGER at the end of a run
    ("sequence", "7", "sequence must be a whole number"),
    ("part_id", ["a"], "part_id must be text"),
    ("file", 123, "file must be text"),
    ("file", "../../outside.png", "points outside"),
    ("file", "/etc/passwd", "absolute path"),
])
def test_hostile_fields_in_a_recording_are_refused_with_file_and_line(tmp_path: Path, field: str, value: object,
                                                                     expected: str) -> None:
    folder = _record(tmp_path / "rec", _frames())
    lines = (folder / FRAMES_FILE).read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[1])
    entry[field] = value
    lines[1] = json.dumps(entry)
    (folder / FRAMES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=expected) as info:
        read_recording(folder)
    assert f"{FRAMES_FILE}:2" in str(info.value)


def test_a_gap_of_centuries_in_a_recording_is_replayed_as_ten_minutes() -> None:
    entries = [RecordEntry("c", i, t) for i, t in enumerate([10.0, 10.05, 1e12, 1e12 + 0.1])]
    assert schedule_offsets(entries) == pytest.approx([0.0, 0.05, 600.05, 600.15])
