"""Pixel-format conversion: every camera format becomes the uint8 mono/BGR image a Frame carries."""

from __future__ import annotations

import numpy as np
import pytest

from inspection.camera.pixel_formats import (
    parse_pixel_format,
    supported_pixel_formats,
    to_frame_image,
    unpack_10p,
    unpack_12p,
    unpack_gige_packed,
)
from inspection.errors import CameraError

H, W = 6, 8
# A colour scene in BGR with distinct channels (R=200, G=100, B=30) and a gradient so positions matter.
SCENE = np.zeros((H, W, 3), np.uint8)
SCENE[..., 0], SCENE[..., 1], SCENE[..., 2] = 30, 100, 200


def _mosaic(scene: np.ndarray, cell: str) -> np.ndarray:
    """PFNC Bayer: `cell` names the top-left 2x2 (RG = R at (0,0), G at (0,1), G at (1,0), B at (1,1))."""
    pattern = {"RG": "RGGB", "GR": "GRBG", "GB": "GBRG", "BG": "BGGR"}[cell]
    channel = {"B": 0, "G": 1, "R": 2}
    out = np.zeros(scene.shape[:2], scene.dtype)
    for dy in range(2):
        for dx in range(2):
            out[dy::2, dx::2] = scene[dy::2, dx::2, channel[pattern[dy * 2 + dx]]]
    return out


def test_mono8_is_copied_not_a_view_of_the_buffer() -> None:
    raw = np.arange(H * W, dtype=np.uint8)
    out = to_frame_image(raw, W, H, "Mono8", "mono8")
    assert out.shape == (H, W) and out.dtype == np.uint8
    assert np.array_equal(out.ravel(), raw)
    raw[:] = 0  # the driver reuses its buffer: the frame must keep its pixels
    assert out.ravel()[5] == 5


def test_mono8_to_bgr_repeats_the_plane() -> None:
    raw = np.arange(H * W, dtype=np.uint8)
    out = to_frame_image(raw, W, H, "Mono8", "bgr8")
    assert out.shape == (H, W, 3)
    assert all(np.array_equal(out[..., c].ravel(), raw) for c in range(3))


@pytest.mark.parametrize(("name", "order"), [("RGB8", (2, 1, 0)), ("BGR8", (0, 1, 2)),
                                             ("RGBa8", (2, 1, 0)), ("BGRa8", (0, 1, 2))])
def test_colour_formats_become_bgr(name: str, order: tuple[int, int, int]) -> None:
    channels = [SCENE[..., i] for i in order]
    if name.endswith("a8"):
        channels.append(np.full((H, W), 255, np.uint8))
    raw = np.stack(channels, axis=-1).ravel()
    out = to_frame_image(raw, W, H, name, "bgr8")
    assert out.shape == (H, W, 3)
    assert np.array_equal(out, SCENE)
    raw[:] = 0
    assert np.array_equal(out, SCENE), "the image must not share memory with the camera buffer"


@pytest.mark.parametrize("name", ["RGB8", "RGBa8", "BGR8"])
def test_colour_to_mono_is_luma(name: str) -> None:
    order = (0, 1, 2) if name.startswith("BGR") else (2, 1, 0)
    channels = [SCENE[..., i] for i in order] + ([np.zeros((H, W), np.uint8)] if name.endswith("a8") else [])
    out = to_frame_image(np.stack(channels, axis=-1).ravel(), W, H, name, "mono8")
    expected = round(0.299 * 200 + 0.587 * 100 + 0.114 * 30)
    assert out.shape == (H, W) and abs(int(out[3, 3]) - expected) <= 1


@pytest.mark.parametrize("cell", ["RG", "GR", "GB", "BG"])
def test_bayer_demosaics_to_the_right_colours(cell: str) -> None:
    out = to_frame_image(_mosaic(SCENE, cell).ravel(), W, H, f"Bayer{cell}8", "bgr8")
    # Away from the border every pixel must come back as the scene's colour (R=200, G=100, B=30).
    assert np.abs(out[2:-2, 2:-2].astype(int) - SCENE[2:-2, 2:-2]).max() <= 2


@pytest.mark.parametrize("cell", ["RG", "BG"])
def test_bayer16bit_and_packed_demosaic(cell: str) -> None:
    mosaic = _mosaic(SCENE, cell).astype(np.uint16) << 4  # 12-bit values
    out = to_frame_image(mosaic.astype("<u2").view(np.uint8).ravel(), W, H, f"Bayer{cell}12", "bgr8")
    assert np.abs(out[2:-2, 2:-2].astype(int) - SCENE[2:-2, 2:-2]).max() <= 2


def _pack_10p(values: np.ndarray) -> np.ndarray:
    """Reference packer, written bit by bit from the PFNC spec (LSB first)."""
    bits = "".join(format(int(v), "010b")[::-1] for v in values)
    bits += "0" * (-len(bits) % 8)
    return np.array([int(bits[i:i + 8][::-1], 2) for i in range(0, len(bits), 8)], np.uint8)


def _pack_12p(values: np.ndarray) -> np.ndarray:
    bits = "".join(format(int(v), "012b")[::-1] for v in values)
    bits += "0" * (-len(bits) % 8)
    return np.array([int(bits[i:i + 8][::-1], 2) for i in range(0, len(bits), 8)], np.uint8)


def test_unpack_10p_and_12p_match_the_bit_layout() -> None:
    rng = np.random.default_rng(1)
    v10 = rng.integers(0, 1024, 48).astype(np.uint16)
    v12 = rng.integers(0, 4096, 48).astype(np.uint16)
    assert np.array_equal(unpack_10p(_pack_10p(v10), v10.size), v10)
    assert np.array_equal(unpack_12p(_pack_12p(v12), v12.size), v12)


@pytest.mark.parametrize(("ours", "theirs", "bits"), [
    ("Mono10p", "Mono10p", 10), ("Mono12p", "Mono12p", 12),
    ("Mono10Packed", "Mono10Packed", 10), ("Mono12Packed", "Mono12Packed", 12),
])
def test_unpackers_agree_with_harvesters(ours: str, theirs: str, bits: int) -> None:
    """harvesters' own PFNC classes are an independent implementation of the same layouts."""
    from harvesters.util import pfnc

    rng = np.random.default_rng(2)
    raw = rng.integers(0, 256, 60, dtype=np.uint8)
    reference = getattr(pfnc, theirs)().expand(raw.copy())
    count = reference.size
    if ours.endswith("Packed"):
        mine = unpack_gige_packed(raw, bits, count)
    else:
        mine = (unpack_10p if bits == 10 else unpack_12p)(raw, count)
    assert np.array_equal(mine, reference)


@pytest.mark.parametrize(("name", "bits"), [("Mono10", 10), ("Mono12", 12), ("Mono16", 16)])
def test_high_bit_mono_keeps_the_top_8_bits(name: str, bits: int) -> None:
    values = np.linspace(0, (1 << bits) - 1, H * W).astype(np.uint16)
    expected = (values >> (bits - 8)).astype(np.uint8).reshape(H, W)
    as_bytes = to_frame_image(values.astype("<u2").view(np.uint8), W, H, name, "mono8")
    as_values = to_frame_image(values, W, H, name, "mono8")  # what harvesters hands over already unpacked
    assert np.array_equal(as_bytes, expected) and np.array_equal(as_values, expected)


def test_packed_mono_end_to_end() -> None:
    values = np.arange(H * W, dtype=np.uint16) * 20
    out = to_frame_image(_pack_10p(values), W, H, "Mono10p", "mono8")
    assert np.array_equal(out.ravel(), (values >> 2).astype(np.uint8))


def test_every_supported_name_parses() -> None:
    for name in supported_pixel_formats():
        assert parse_pixel_format(name).name == name


@pytest.mark.parametrize("name", ["YUV422_8", "Coord3D_ABC32f", "Mono9", "mono8"])
def test_unknown_format_names_the_format_and_the_choices(name: str) -> None:
    with pytest.raises(CameraError, match=rf"pixel format '{name}' is not supported.*Mono8"):
        to_frame_image(np.zeros(H * W * 4, np.uint8), W, H, name)


def test_short_buffer_is_a_clear_error() -> None:
    with pytest.raises(CameraError, match=r"RGB8 buffer of 8x6: expected at least 144 bytes, got 10"):
        to_frame_image(np.zeros(10, np.uint8), W, H, "RGB8")
