"""Camera pixel formats (GenICam PFNC names) → the uint8 mono or BGR image a `Frame` carries.

Cameras deliver Mono8, RGB8/BGR8, RGBa8/BGRa8, Bayer mosaics and 10/12-bit mono, packed or not. The
detector wants uint8 HxW (mono) or HxWx3 (BGR). `to_frame_image` does that conversion in one pass
that also copies the pixels out of the driver's buffer, so the buffer can go back to the camera at once.

Input is either the raw bytes of the buffer (uint8, 1-D or 2-D) or the uint16 pixels harvesters has
already unpacked for 10/12-bit formats; both work. Names follow the GenICam Pixel Format Naming
Convention: a `p` suffix is LSB-first bit packing (Mono10p: 4 pixels in 5 bytes), `Packed` is the
GigE Vision 3-bytes-for-2-pixels packing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from inspection.errors import CameraError

__all__ = [
    "OutputFormat",
    "PixelFormat",
    "parse_pixel_format",
    "supported_pixel_formats",
    "to_frame_image",
    "unpack_10p",
    "unpack_12p",
    "unpack_gige_packed",
]

OutputFormat = Literal["bgr8", "mono8"]

# PFNC Bayer names give the colours of the top-left 2x2 cell (RG = red at (0,0), green at (0,1)).
# OpenCV names its codes after a different cell of the same mosaic, so its codes are the swapped ones;
# tests/inspection/camera/test_pixel_formats.py proves each mapping on a mosaicked colour image.
_BAYER_TO_BGR = {
    "RG": cv2.COLOR_BayerBG2BGR,
    "GR": cv2.COLOR_BayerGB2BGR,
    "GB": cv2.COLOR_BayerGR2BGR,
    "BG": cv2.COLOR_BayerRG2BGR,
}
_BAYER_TO_GRAY = {
    "RG": cv2.COLOR_BayerBG2GRAY,
    "GR": cv2.COLOR_BayerGB2GRAY,
    "GB": cv2.COLOR_BayerGR2GRAY,
    "BG": cv2.COLOR_BayerRG2GRAY,
}
_COLOR_TO_BGR = {"RGB": cv2.COLOR_RGB2BGR, "RGBa": cv2.COLOR_RGBA2BGR, "BGRa": cv2.COLOR_BGRA2BGR}
_COLOR_TO_GRAY = {
    "RGB": cv2.COLOR_RGB2GRAY, "BGR": cv2.COLOR_BGR2GRAY,
    "RGBa": cv2.COLOR_RGBA2GRAY, "BGRa": cv2.COLOR_BGRA2GRAY,
}
_CHANNELS = {"Mono": 1, "Bayer": 1, "RGB": 3, "BGR": 3, "RGBa": 4, "BGRa": 4}
_NAME = re.compile(r"^(Mono|BayerRG|BayerGR|BayerGB|BayerBG|RGBa|BGRa|RGB|BGR)(8|10|12|14|16)(p|Packed)?$")


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """A parsed PFNC name: `family` Mono/Bayer/RGB/BGR/RGBa/BGRa, `bayer` the 2x2 cell ("RG"…),
    `bits` per channel, `packing` "" (one byte or one little-endian uint16 per value), "p" or "Packed"."""

    name: str
    family: str
    bits: int
    packing: str = ""
    bayer: str = ""

    @property
    def channels(self) -> int:
        return _CHANNELS[self.family]


@functools.cache
def supported_pixel_formats() -> tuple[str, ...]:
    """Every name `to_frame_image` accepts (for docs and error messages)."""
    names = ["Mono8", "Mono10", "Mono12", "Mono14", "Mono16", "Mono10p", "Mono12p", "Mono10Packed",
             "Mono12Packed", "RGB8", "BGR8", "RGBa8", "BGRa8"]
    for cell in ("RG", "GR", "GB", "BG"):
        names += [f"Bayer{cell}8", f"Bayer{cell}10", f"Bayer{cell}12", f"Bayer{cell}10p", f"Bayer{cell}12p",
                  f"Bayer{cell}10Packed", f"Bayer{cell}12Packed", f"Bayer{cell}16"]
    return tuple(names)


@functools.lru_cache(maxsize=64)
def parse_pixel_format(name: str) -> PixelFormat:
    match = _NAME.match(name)
    if match is None or name not in supported_pixel_formats():
        raise CameraError(
            f"pixel format {name!r} is not supported; set the camera's PixelFormat to one of: "
            f"{', '.join(supported_pixel_formats())}"
        )
    head, bits, packing = match.group(1), int(match.group(2)), match.group(3) or ""
    if head.startswith("Bayer"):
        return PixelFormat(name, "Bayer", bits, packing, head[5:])
    return PixelFormat(name, head, bits, packing)


def to_frame_image(data: np.ndarray, width: int, height: int, pixel_format: str,
                   output: OutputFormat = "bgr8") -> np.ndarray:
    """Convert one camera buffer to a new, owned uint8 image: HxW for "mono8", HxWx3 BGR for "bgr8".

    The result never shares memory with `data` (which is usually a view into driver memory)."""
    fmt = parse_pixel_format(pixel_format)
    if width <= 0 or height <= 0:
        raise CameraError(f"{pixel_format} buffer: expected a positive width and height, got {width}x{height}")
    values = _values(np.asarray(data), fmt, width, height)
    plane = values if fmt.bits == 8 else _to_8bit(values, fmt.bits)
    if fmt.channels == 1:
        image = plane.reshape(height, width)
        if fmt.family == "Bayer":
            table = _BAYER_TO_BGR if output == "bgr8" else _BAYER_TO_GRAY
            return cv2.cvtColor(image, table[fmt.bayer])
        if output == "bgr8":
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image.copy() if fmt.bits == 8 else image  # 8-bit: still a view of the driver's buffer
    image = plane.reshape(height, width, fmt.channels)
    if output == "mono8":
        return cv2.cvtColor(image, _COLOR_TO_GRAY[fmt.family])
    if fmt.family == "BGR":
        return image.copy() if fmt.bits == 8 else image
    return cv2.cvtColor(image, _COLOR_TO_BGR[fmt.family])


def _values(data: np.ndarray, fmt: PixelFormat, width: int, height: int) -> np.ndarray:
    """The pixel values as a flat array: uint8 for 8-bit formats, uint16 otherwise."""
    count = width * height * fmt.channels
    if fmt.bits > 8 and data.dtype == np.uint16:  # already unpacked (harvesters does this)
        flat = data.reshape(-1)
        _check_size(flat.size, count, fmt, width, height, "values")
        return flat[:count]
    if data.dtype != np.uint8:
        raise CameraError(f"{fmt.name} buffer: expected uint8 bytes or uint16 values, got {data.dtype}")
    raw = data.reshape(-1)
    if fmt.bits == 8:
        _check_size(raw.size, count, fmt, width, height, "bytes")
        return raw[:count]
    if fmt.packing == "p":
        needed = (count * fmt.bits + 7) // 8
        _check_size(raw.size, needed, fmt, width, height, "bytes")
        unpack = unpack_10p if fmt.bits == 10 else unpack_12p
        return unpack(raw[:needed], count)
    if fmt.packing == "Packed":
        needed = (count + 1) // 2 * 3
        _check_size(raw.size, needed, fmt, width, height, "bytes")
        return unpack_gige_packed(raw[:needed], fmt.bits, count)
    _check_size(raw.size, count * 2, fmt, width, height, "bytes")
    return raw[: count * 2].view("<u2")


def _check_size(got: int, needed: int, fmt: PixelFormat, width: int, height: int, unit: str) -> None:
    if got < needed:
        raise CameraError(
            f"{fmt.name} buffer of {width}x{height}: expected at least {needed} {unit}, got {got} "
            f"(incomplete buffer, or the camera's PixelFormat/Width/Height changed under the stream)"
        )


def _to_8bit(values: np.ndarray, bits: int) -> np.ndarray:
    """Keep the most significant 8 bits (what a display and the detector's training data use)."""
    return (values >> (bits - 8)).astype(np.uint8)


def unpack_10p(raw: np.ndarray, count: int) -> np.ndarray:
    """PFNC Mono10p: LSB-first bit stream, 4 pixels in 5 bytes."""
    groups = raw[: (count + 3) // 4 * 5]
    if groups.size % 5:
        groups = np.concatenate([groups, np.zeros(5 - groups.size % 5, np.uint8)])
    b = groups.reshape(-1, 5).astype(np.uint16)
    out = np.empty((b.shape[0], 4), np.uint16)
    out[:, 0] = b[:, 0] | ((b[:, 1] & 0x03) << 8)
    out[:, 1] = (b[:, 1] >> 2) | ((b[:, 2] & 0x0F) << 6)
    out[:, 2] = (b[:, 2] >> 4) | ((b[:, 3] & 0x3F) << 4)
    out[:, 3] = (b[:, 3] >> 6) | (b[:, 4] << 2)
    return out.reshape(-1)[:count]


def unpack_12p(raw: np.ndarray, count: int) -> np.ndarray:
    """PFNC Mono12p: LSB-first bit stream, 2 pixels in 3 bytes."""
    b = _triples(raw, count)
    out = np.empty((b.shape[0], 2), np.uint16)
    out[:, 0] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    out[:, 1] = (b[:, 1] >> 4) | (b[:, 2] << 4)
    return out.reshape(-1)[:count]


def unpack_gige_packed(raw: np.ndarray, bits: int, count: int) -> np.ndarray:
    """GigE Vision Mono10Packed/Mono12Packed: 2 pixels in 3 bytes, the high bits in bytes 0 and 2,
    the low bits of both pixels shared in byte 1."""
    b = _triples(raw, count)
    low_bits = bits - 8
    mask = (1 << low_bits) - 1
    out = np.empty((b.shape[0], 2), np.uint16)
    out[:, 0] = (b[:, 0] << low_bits) | (b[:, 1] & mask)
    out[:, 1] = (b[:, 2] << low_bits) | ((b[:, 1] >> 4) & mask)
    return out.reshape(-1)[:count]


def _triples(raw: np.ndarray, count: int) -> np.ndarray:
    groups = raw[: (count + 1) // 2 * 3]
    return groups.reshape(-1, 3).astype(np.uint16)
