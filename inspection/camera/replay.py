"""Replay camera: plays an image folder or a video file as if parts passed a camera at line rate.

A folder written by `station record` (it holds frames.jsonl, see inspection.camera.recording) plays
back with its recorded camera id, sequence numbers, part ids, timestamps and failures, at the recorded
timing unless `rate_hz` is set (`timing: rate` with no rate_hz = as fast as possible).

Used by the demo, by regression tests of recipes and models on recorded line data, and wherever a
real camera is not at hand. An image that fails to decode becomes a FrameFailure (→ ERROR verdict) with a
named reason (see `inspection.camera.decode`: bounded, bombs refused from the header), never a silently
skipped part.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from inspection.camera import CameraBase, EndOfStream
from inspection.camera.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DecodeFailure, ImageLimits, decode_image
from inspection.camera.recording import RecordEntry, is_recording, read_recording, schedule_offsets
from inspection.config import AdapterOptions, ConfigPath
from inspection.domain.codes import ReasonCode
from inspection.domain.images import IMAGE_SUFFIXES, image_files
from inspection.domain.types import Frame, FrameFailure
from inspection.errors import CameraError, StationError

__all__ = ["Options", "ReplayCamera", "create"]

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v"})


class Options(AdapterOptions):
    kind: Literal["replay"] = "replay"
    id: str = Field("cam0", min_length=1, description="camera id in logs and verdicts")
    path: ConfigPath = Field(description="folder of images (sorted by name) or a video file")
    loop: bool = Field(False, description="start again at the end instead of finishing")
    rate_hz: float | None = Field(None, ge=0.001, le=100_000.0,
                                  description="parts per second (0.001–100000); empty = as fast as possible")
    pixel_format: Literal["bgr8", "mono8"] = "bgr8"
    max_parts: int | None = Field(None, ge=1, description="stop after this many parts")
    timing: Literal["recorded", "rate"] | None = Field(
        None, description="for a `station record` folder: recorded gaps (default unless rate_hz) or rate_hz")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, description="larger images (by their header) are refused "
                            "before decoding: ERROR image_too_large")
    max_bytes: int = Field(DEFAULT_MAX_BYTES, ge=1, description="larger image files are refused: ERROR image_too_large")


def create(options: Options, **_: object) -> ReplayCamera:
    return ReplayCamera(options)


class ReplayCamera(CameraBase):
    def __init__(self, options: Options) -> None:
        self.options = options
        self.camera_id = options.id
        self._files: list[Path] = []
        self._video: cv2.VideoCapture | None = None
        self._index = 0
        self._sequence = 0
        self._next_due: float | None = None  # the line starts at the first read, not at open()
        self._recording: list[RecordEntry] | None = None
        self._offsets: list[float] = []
        self._pass_start = 0.0
        self._pass = 0
        self._limits = ImageLimits(options.max_pixels, options.max_bytes)

    def open(self) -> None:
        path = self.options.path
        if not path.exists():
            raise CameraError(f"replay camera {self.camera_id!r}: {path} does not exist")
        if path.is_dir() and is_recording(path):
            self._open_recording(path)
        elif path.is_dir():
            self._files = image_files(path)
            if not self._files:
                raise CameraError(
                    f"replay camera {self.camera_id!r}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}"
                )
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            self._video = cv2.VideoCapture(str(path))
            if not self._video.isOpened():
                raise CameraError(f"replay camera {self.camera_id!r}: cannot open video {path}")
        else:
            raise CameraError(
                f"replay camera {self.camera_id!r}: {path} is neither an image folder nor a video "
                f"({', '.join(sorted(VIDEO_SUFFIXES))})"
            )
        self._next_due = None

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None

    def read(self, timeout_s: float) -> Frame | FrameFailure | None:
        if self.options.max_parts is not None and self._sequence >= self.options.max_parts:
            raise EndOfStream
        if self._recording is not None:
            return self._read_recorded(timeout_s)
        if not self._wait_until_due(timeout_s):
            return None
        image, source = self._next_image()
        sequence = self._sequence
        self._sequence += 1
        now = time.time()
        if isinstance(image, DecodeFailure):
            return FrameFailure(self.camera_id, sequence, now, image.code, image.message, source=source)
        if image is None:
            return FrameFailure(self.camera_id, sequence, now, ReasonCode.DECODE_ERROR,
                                f"image could not be decoded: {source}", source=source)
        pixels = self._convert(image)
        pixels.flags.writeable = False  # freshly decoded and ours alone: the Frame takes it without a copy
        return Frame(pixels, self.camera_id, sequence, now, source=source, pixel_format=self.options.pixel_format)

    @property
    def frames_total(self) -> int | None:
        """Number of parts in one pass over the source (None for a video of unknown length)."""
        if self._recording is not None:
            return len(self._recording)
        if self._files:
            return len(self._files)
        if self._video is not None:
            count = int(self._video.get(cv2.CAP_PROP_FRAME_COUNT))
            return count if count > 0 else None
        return None

    # --- recordings (station record) ---------------------------------------------------------------

    def _open_recording(self, path: Path) -> None:
        try:
            self._recording = read_recording(path)
        except StationError as exc:
            raise CameraError(f"replay camera {self.camera_id!r}: {exc}") from None
        self._offsets = schedule_offsets(self._recording)
        if "id" not in self.options.model_fields_set:  # keep the recorded camera's id unless renamed
            self.camera_id = self._recording[0].camera_id

    def _recorded_timing(self) -> bool:
        timing = self.options.timing or ("rate" if self.options.rate_hz is not None else "recorded")
        return timing == "recorded"

    def _read_recorded(self, timeout_s: float) -> Frame | FrameFailure | None:
        assert self._recording is not None
        if self._index >= len(self._recording):
            if not self.options.loop:
                raise EndOfStream
            self._index, self._pass = 0, self._pass + 1
        if self._index == 0 and self._recorded_timing():
            self._pass_start = time.monotonic()
        if self._recorded_timing():
            delay = self._pass_start + self._offsets[self._index] - time.monotonic()
            if delay > timeout_s:
                time.sleep(max(timeout_s, 0.0))
                return None
            if delay > 0:
                time.sleep(delay)
        elif not self._wait_until_due(timeout_s):
            return None
        entry = self._recording[self._index]
        self._index += 1
        self._sequence += 1
        return self._recorded_item(entry)

    def _recorded_item(self, entry: RecordEntry) -> Frame | FrameFailure:
        # Looping must not repeat part keys: later passes shift the sequence past the recorded ones.
        assert self._recording is not None
        span = max(e.sequence for e in self._recording) + 1
        sequence = entry.sequence + self._pass * span
        folder = self.options.path
        if entry.file is None:
            return FrameFailure(self.camera_id, sequence, entry.timestamp_s, entry.code or "recorded_failure",
                                entry.message or "recorded without an image", entry.part_id, entry.source)
        image = self._decode(folder / entry.file)
        if isinstance(image, DecodeFailure):
            return FrameFailure(self.camera_id, sequence, entry.timestamp_s, image.code, image.message,
                                entry.part_id, str(folder / entry.file))
        fmt = self.options.pixel_format if "pixel_format" in self.options.model_fields_set else entry.pixel_format
        if fmt == "mono8":
            image = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        else:
            fmt, image = "bgr8", image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return Frame(image, self.camera_id, sequence, entry.timestamp_s, entry.part_id,
                     entry.device_timestamp_ns, entry.source or str(folder / entry.file), fmt)

    def _wait_until_due(self, timeout_s: float) -> bool:
        if self.options.rate_hz is None:
            return True
        if self._next_due is None:
            self._next_due = time.monotonic()
        delay = self._next_due - time.monotonic()
        if delay > timeout_s:
            time.sleep(max(timeout_s, 0.0))
            return False
        if delay > 0:
            time.sleep(delay)
        # Schedule from the due time, not from now, so the mean rate holds, but never release a burst of
        # parts after a stall (a slow warm-up would otherwise look like the line delivering 10 parts at once).
        self._next_due = max(self._next_due + 1.0 / self.options.rate_hz, time.monotonic())
        return True

    def _decode(self, path: Path) -> np.ndarray | DecodeFailure:
        image = decode_image(path, self._limits)
        if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        return image

    def _next_image(self) -> tuple[np.ndarray | DecodeFailure | None, str]:
        if self._video is not None:
            return self._next_video_frame()
        if self._index >= len(self._files):
            if not self.options.loop:
                raise EndOfStream
            self._index = 0
        path = self._files[self._index]
        self._index += 1
        image = self._decode(path)
        if isinstance(image, DecodeFailure) and not path.exists():
            self._source_vanished(path)
        return image, str(path)

    def _source_vanished(self, path: Path) -> None:
        """A file gone between the listing and its turn: its part is an ERROR (the caller's DecodeFailure) and
        the folder is listed afresh. When nothing is left to replay, the camera is gone: CameraError, which
        stops the station safely (exit 4) instead of an endless row of ERROR verdicts."""
        folder = self.options.path
        self._files = image_files(folder) if folder.is_dir() else []
        if not self._files:
            raise CameraError(f"replay camera {self.camera_id!r}: {path.name} is gone and {folder} "
                              f"{'has no images left' if folder.is_dir() else 'no longer exists'}: the image "
                              "source vanished; check what removes files there, then start again")
        self._index = next((i for i, f in enumerate(self._files) if f.name > path.name), len(self._files))

    def _next_video_frame(self) -> tuple[np.ndarray | None, str]:
        assert self._video is not None
        ok, image = self._video.read()
        if not ok:
            if not self.options.loop:
                raise EndOfStream
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._video.read()
            if not ok:
                raise CameraError(f"replay camera {self.camera_id!r}: video {self.options.path} has no frames")
        position = int(self._video.get(cv2.CAP_PROP_POS_FRAMES))
        return image, f"{self.options.path}#{position}"

    def _convert(self, image: np.ndarray) -> np.ndarray:
        if self.options.pixel_format == "mono8":
            return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
