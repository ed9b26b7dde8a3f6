"""Recordings of a camera's stream that the replay camera plays back with the same metadata and timing.

A recording is a folder:

    recording.json   what was recorded: format/version, camera id, device, start time, camera config
    frames.jsonl     one JSON object a line per part, in order (see RecordEntry)
    000000.png …     one lossless PNG per frame (mono stays mono, colour is BGR)

A part whose image could not be had (FrameFailure: camera lost, incomplete buffer) is a line with a
`code` and no file, so replay gives it the same fail-safe verdict again. `station record` writes
recordings; `kind: replay` with `path:` on the folder plays them (recorded timing unless `rate_hz`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import cv2

from inspection.camera import EndOfStream
from inspection.domain.types import Frame, FrameFailure
from inspection.errors import DataError, OutputError
from inspection.security.inputs import confined

__all__ = [
    "FORMAT",
    "FRAMES_FILE",
    "META_FILE",
    "RecordEntry",
    "Recorder",
    "is_recording",
    "read_recording",
    "read_recording_meta",
    "record_camera",
    "schedule_offsets",
]

FORMAT = "station-recording"
VERSION = 1
FRAMES_FILE = "frames.jsonl"
META_FILE = "recording.json"
MAX_RECORDED_GAP_S = 600.0
"""A longer pause in a recording (a break, or an edited timestamp far in the future) is replayed as this."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """One recorded part. `file` is the image's name in the folder, None for a failure (`code` set)."""

    camera_id: str
    sequence: int
    timestamp_s: float
    file: str | None = None
    part_id: str | None = None
    device_timestamp_ns: int | None = None
    pixel_format: str = "bgr8"
    source: str | None = None
    code: str | None = None
    message: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordEntry:
        """One line of frames.jsonl, checked field by field: a recording is a file anyone can edit, and its
        values end up in SQLite columns, PLC registers and the operator's screen. ValueError/TypeError say why."""
        sequence = data["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or not 0 <= sequence < 2**53:
            raise ValueError(f"sequence must be a whole number from 0 to 2^53, got {sequence!r}")
        device_ns = data.get("device_timestamp_ns")
        if device_ns is not None and (not isinstance(device_ns, int) or not 0 <= device_ns < 2**63):
            raise ValueError(f"device_timestamp_ns must be a whole number from 0 to 2^63, got {device_ns!r}")
        return cls(
            camera_id=str(data["camera_id"]), sequence=sequence, timestamp_s=float(data["timestamp_s"]),
            file=_text(data, "file"), part_id=_text(data, "part_id"), device_timestamp_ns=device_ns,
            pixel_format=str(data.get("pixel_format", "bgr8")), source=_text(data, "source"),
            code=_text(data, "code"), message=_text(data, "message"),
        )


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be text, got {type(value).__name__} {value!r}"[:200])
    return value


def is_recording(folder: Path) -> bool:
    return (Path(folder) / FRAMES_FILE).is_file()


class Recorder:
    """`with Recorder(folder, meta) as rec: rec.write(frame_or_failure)` — one line flushed per part,
    so a recording cut short (power loss, Ctrl-C) is still readable up to its last part."""

    def __init__(self, folder: Path, meta: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.meta = dict(meta or {})
        self.count = 0
        self._lines: Any = None

    def open(self) -> None:
        if is_recording(self.folder):
            raise OutputError(f"{self.folder} already holds a recording; choose a new folder for --output")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            meta = {"format": FORMAT, "version": VERSION,
                    "started": datetime.now(UTC).isoformat(timespec="milliseconds"), **self.meta}
            (self.folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
            self._lines = (self.folder / FRAMES_FILE).open("w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write the recording in {self.folder}: {exc}") from None

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()
            self._lines = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def write(self, item: Frame | FrameFailure) -> RecordEntry:
        if self._lines is None:
            raise OutputError("Recorder.write() before open()")
        if isinstance(item, FrameFailure):
            entry = RecordEntry(item.camera_id, item.sequence, item.timestamp_s, None, item.part_id,
                                source=item.source, code=item.code, message=item.message)
        else:
            name = f"{self.count:06d}.png"
            if not cv2.imwrite(str(self.folder / name), item.image):
                raise OutputError(f"cannot write {self.folder / name} (disk full or not writable?)")
            entry = RecordEntry(item.camera_id, item.sequence, item.timestamp_s, name, item.part_id,
                                item.device_timestamp_ns, item.pixel_format, item.source)
        self._lines.write(json.dumps(asdict(entry)) + "\n")
        self._lines.flush()
        self.count += 1
        return entry


def read_recording_meta(folder: Path) -> dict[str, Any]:
    path = Path(folder) / META_FILE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not a readable recording header ({exc})") from None


def read_recording(folder: Path) -> list[RecordEntry]:
    """Every part of a recording, in recorded order; a malformed line is an error naming file and line."""
    path = Path(folder) / FRAMES_FILE
    meta = read_recording_meta(folder)
    if meta and meta.get("format") != FORMAT:
        raise DataError(f"{Path(folder) / META_FILE}: format {meta.get('format')!r} is not {FORMAT!r}")
    entries: list[RecordEntry] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the recording ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = RecordEntry.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: not a recorded part ({type(exc).__name__}: {exc}); "
                            f"expected a JSON object with camera_id, sequence, timestamp_s") from None
        if not math.isfinite(entry.timestamp_s):
            raise DataError(f"{path}:{number}: timestamp_s must be a finite number, got {entry.timestamp_s}")
        if entry.file is not None:  # the image lies in the recording's folder, never elsewhere
            confined(Path(folder), entry.file, f"{path}:{number}: file")
        entries.append(entry)
    if not entries:
        raise DataError(f"{path}: the recording holds no parts")
    return entries


def schedule_offsets(entries: list[RecordEntry]) -> list[float]:
    """Seconds from the first part at which each part is due on playback: the recorded host-time
    gaps, never negative (a clock step backwards during recording must not bunch the parts up)."""
    offsets, last, previous = [], 0.0, entries[0].timestamp_s if entries else 0.0
    for entry in entries:
        gap = min(max(entry.timestamp_s - previous, 0.0), MAX_RECORDED_GAP_S)
        if gap == MAX_RECORDED_GAP_S:
            log.warning("recorded part %s came %.0f s after the one before: replayed %.0f s after it",
                        entry.sequence, entry.timestamp_s - previous, MAX_RECORDED_GAP_S)
        previous = max(previous, entry.timestamp_s)
        last += gap
        offsets.append(last)
    return offsets


def record_camera(camera: Any, recorder: Recorder, frames: int | None = None, duration_s: float | None = None,
                  read_timeout_s: float = 1.0, stop: Any = None) -> int:
    """Read from an opened camera into `recorder` until `frames` parts, `duration_s` or `stop()` is true."""
    started = time.monotonic()
    while True:
        if frames is not None and recorder.count >= frames:
            break
        if duration_s is not None and time.monotonic() - started >= duration_s:
            break
        if stop is not None and stop():
            break
        try:
            item = camera.read(read_timeout_s)
        except EndOfStream:  # a replay source played to its end
            break
        if item is not None:
            recorder.write(item)
    return recorder.count
