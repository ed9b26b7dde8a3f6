"""Bounded image decoding for file sources (replay folders, recordings): an image never takes the station down.

The header is read first (Pillow reads only the header on `open`), so an image whose declared size is over
the configured limits — a decompression bomb: a few kB of PNG that inflates to gigabytes — is refused before
any pixel buffer is allocated. Every way a file can be bad ends in a `DecodeFailure` with a named
`ReasonCode`, never an exception: the part gets an ERROR verdict that says why, and the next part is
inspected normally.

JPEGs are decoded by libjpeg-turbo through simplejpeg in strict mode: libjpeg only *warns* about corrupt
entropy data ("premature end of data segment") and fills the rest of the image with grey, which OpenCV and
Pillow accept — a defect in the missing rows would pass. Strict mode makes that warning a failure (and
decodes the same pixels as OpenCV in half the time). A progressive JPEG may repeat scans thousands of times
(a "scan bomb": under 1 MB, minutes to decode); scans are counted before decoding.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from inspection.domain.codes import ReasonCode

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "DecodeFailure", "ImageLimits", "decode_image"]

DEFAULT_MAX_PIXELS = 50_000_000  # 50 MP: above any line-scan tile we inspect, far below a bomb's size
DEFAULT_MAX_BYTES = 200_000_000
MAX_JPEG_SCANS = 100  # an encoder's progressive JPEG has ≤ ~12 scans (an EXIF thumbnail adds one)
_DEEP_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I;32"}  # not 8 bits per channel
_ODD_MODES = {"LA", "La", "PA", "CMYK", "YCbCr", "LAB", "HSV"}  # channel layouts the station does not inspect


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        if self.max_pixels < 1 or self.max_bytes < 1:
            raise ValueError(f"ImageLimits: expected positive limits, got {self.max_pixels} px, {self.max_bytes} B")


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    code: ReasonCode
    message: str


def decode_image(path: Path, limits: ImageLimits = ImageLimits()) -> np.ndarray | DecodeFailure:
    """An 8-bit gray, BGR or BGRA image, or why not. Never raises."""
    try:
        return _decode(Path(path), limits)
    except Exception as exc:  # a decoder bug or an unforeseen file: still a named, per-part failure
        return DecodeFailure(ReasonCode.DECODE_ERROR, f"{path}: {type(exc).__name__}: {exc}")


def _decode(path: Path, limits: ImageLimits) -> np.ndarray | DecodeFailure:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return DecodeFailure(ReasonCode.DECODE_ERROR, f"{path}: cannot read: {exc.strerror or exc}")
    if size > limits.max_bytes:
        return DecodeFailure(ReasonCode.IMAGE_TOO_LARGE, f"{path}: {size} bytes > the limit of {limits.max_bytes}")
    if size == 0:
        return DecodeFailure(ReasonCode.IMAGE_TRUNCATED, f"{path}: empty file")
    data = path.read_bytes()
    header = _header(data)
    if isinstance(header, DecodeFailure):
        return DecodeFailure(header.code, f"{path}: {header.message}")
    (width, height), mode = header
    if width * height > limits.max_pixels:
        return DecodeFailure(ReasonCode.IMAGE_TOO_LARGE, f"{path}: {width}×{height} = {width * height} pixels > "
                             f"the limit of {limits.max_pixels} (refused before decoding)")
    if mode in _DEEP_MODES:
        return DecodeFailure(ReasonCode.IMAGE_DEPTH, f"{path}: {mode} image; the station inspects 8-bit images: "
                             "set the camera to an 8-bit pixel format")
    if mode in _ODD_MODES:
        return DecodeFailure(ReasonCode.IMAGE_CHANNELS, f"{path}: {mode} image; expected gray, BGR or BGRA")
    if _truncated(data):
        return DecodeFailure(ReasonCode.IMAGE_TRUNCATED, f"{path}: file ends before the image does")
    if data.startswith(b"\xff\xd8") and mode in ("L", "RGB"):
        jpeg = _decode_jpeg(data, gray=mode == "L")
        if isinstance(jpeg, DecodeFailure):
            return DecodeFailure(jpeg.code, f"{path}: {jpeg.message}")
        return jpeg
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return DecodeFailure(ReasonCode.DECODE_ERROR, f"{path}: image data corrupt")
    if image.dtype != np.uint8:
        return DecodeFailure(ReasonCode.IMAGE_DEPTH, f"{path}: {image.dtype} pixels; expected 8-bit")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        return DecodeFailure(ReasonCode.IMAGE_CHANNELS, f"{path}: {channels} channels; expected 1, 3 or 4")
    return image


def _header(data: bytes) -> tuple[tuple[int, int], str] | DecodeFailure:
    """Size and mode from the header alone (no pixel data is decoded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own, lower, limit
        try:
            with Image.open(io.BytesIO(data)) as probe:
                return probe.size, probe.mode
        except Image.DecompressionBombError as exc:
            return DecodeFailure(ReasonCode.IMAGE_TOO_LARGE, f"refused before decoding: {exc}")
        except Image.UnidentifiedImageError:
            return DecodeFailure(ReasonCode.DECODE_ERROR, "not a readable image (no image format recognised)")
        except Exception as exc:  # a broken header (SyntaxError, struct.error, …)
            return DecodeFailure(ReasonCode.DECODE_ERROR, f"not a readable image: {type(exc).__name__}: {exc}")


def _decode_jpeg(data: bytes, gray: bool) -> np.ndarray | DecodeFailure:
    # Only a progressive JPEG (SOF2 before the first scan) can repeat scans without end. Inside the entropy-
    # coded data every 0xFF byte is followed by 0x00 or a restart marker, so the count of start-of-scan markers
    # is exact (plus any in an embedded thumbnail).
    first_scan = data.find(b"\xff\xda")
    progressive = data.find(b"\xff\xc2", 0, first_scan) != -1
    scans = data.count(b"\xff\xda") if progressive else 1
    if scans > MAX_JPEG_SCANS:
        return DecodeFailure(ReasonCode.IMAGE_TOO_LARGE, f"{scans} JPEG scans (at most {MAX_JPEG_SCANS} are "
                             "decoded; an encoder writes ~12): refused before decoding")
    try:
        image = simplejpeg.decode_jpeg(data, "GRAY" if gray else "BGR", strict=True)
    except ValueError as exc:  # libjpeg's errors, and in strict mode its warnings about corrupt data
        code = ReasonCode.IMAGE_TRUNCATED if "premature end" in str(exc).lower() else ReasonCode.DECODE_ERROR
        return DecodeFailure(code, f"image data corrupt: {exc}")
    return image[:, :, 0] if gray else image


def _truncated(data: bytes) -> bool:
    """PNG and JPEG say where they end; a file cut short (a copy interrupted, a full disk) lacks that end."""
    if data.startswith(b"\x89PNG"):
        return b"IEND" not in data[-32:]
    if data.startswith(b"\xff\xd8"):
        return b"\xff\xd9" not in data[-32:]
    return False
