"""Bad images of every kind: each gets an ERROR verdict with a named reason and its own PLC error code; the next
part is inspected normally; parts in = verdicts out = rows logged."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from inspection.camera.decode import DecodeFailure, ImageLimits, decode_image
from inspection.domain.codes import ReasonCode

from .conftest import plc_error, run_station, write_parts

MAX_PIXELS = 1_000_000
MAX_BYTES = 300_000


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def _scan_bomb(scans: int) -> bytes:
    """A progressive JPEG whose last scan repeats `scans` times: every decoder obliges, and a few hundred kB of
    it at 16 MP keep libjpeg busy for minutes."""
    data = cv2.imencode(".jpg", np.zeros((32, 32), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    last = data[data.rindex(b"\xff\xda"):-2]
    return data[:-2] + last * scans + b"\xff\xd9"


def _bad_images() -> dict[str, tuple[bytes, ReasonCode]]:
    rng = np.random.default_rng(1)
    good = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    jpeg = cv2.imencode(".jpg", good)[1].tobytes()
    scan_data = jpeg.rindex(b"\xff\xda")
    la = io.BytesIO()
    Image.new("LA", (64, 48), (100, 255)).save(la, format="PNG")
    return {
        "corrupt.png": (b"\x89PNG\r\n\x1a\n not an image at all", ReasonCode.DECODE_ERROR),
        "empty.png": (b"", ReasonCode.IMAGE_TRUNCATED),
        "truncated.png": (_png(good)[:-200], ReasonCode.IMAGE_TRUNCATED),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], ReasonCode.IMAGE_TRUNCATED),
        # Cut short, then given its end marker back: libjpeg only warns and greys the missing rows.
        "truncated_with_end.jpg": (jpeg[: scan_data + 200] + b"\xff\xd9", ReasonCode.IMAGE_TRUNCATED),
        "hole_in_scan.jpg": (jpeg[: scan_data + 200] + jpeg[scan_data + 400:], ReasonCode.DECODE_ERROR),
        "scan_bomb.jpg": (_scan_bomb(500), ReasonCode.IMAGE_TOO_LARGE),
        # A decompression bomb: 16 MP of zeros packs into a few kB; refused from its header.
        "bomb.png": (_png(np.zeros((4000, 4000), np.uint8)), ReasonCode.IMAGE_TOO_LARGE),
        "huge_file.png": (_png(rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)), ReasonCode.IMAGE_TOO_LARGE),
        "deep16.png": (_png((rng.integers(0, 65535, (48, 64))).astype(np.uint16)), ReasonCode.IMAGE_DEPTH),
        "gray_alpha.png": (la.getvalue(), ReasonCode.IMAGE_CHANNELS),
    }


def test_each_bad_image_gets_a_named_error_and_the_next_part_is_inspected(
        tmp_path: Path, station_config: Callable[..., object]) -> None:
    folder = tmp_path / "parts"
    bad = _bad_images()
    expected: dict[int, ReasonCode] = {}
    index = 0
    for name, (data, code) in bad.items():  # good, bad, good, bad, …, good: every bad part has a next part
        write_parts(folder, 1, start=index)
        index += 1
        (folder / f"part_{index:04d}_{name}").write_bytes(data)
        expected[index] = code
        index += 1
    write_parts(folder, 1, start=index)
    parts = index + 1
    config = station_config(parts=folder, camera={"max_pixels": MAX_PIXELS, "max_bytes": MAX_BYTES})
    run = run_station(config)
    run.assert_accounted(parts)
    assert run.elapsed_s < 60
    codes = run.codes()
    for sequence, inspection in enumerate(run.seen):
        row = run.rows[[r["sequence"] for r in run.rows].index(sequence)]
        if sequence in expected:
            want = expected[sequence]
            assert row["verdict"] == "ERROR" and codes[run.rows.index(row)] == want, (sequence, row["reasons"])
            assert plc_error(inspection) == want.plc_error != ReasonCode.OTHER.plc_error
        else:  # the part after a bad one is judged by the model, not fail-safe
            assert not inspection.verdict.failsafe and inspection.timings.infer_ms > 0, sequence


def test_a_decompression_bomb_is_refused_before_its_pixels_are_allocated(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(np.zeros((6000, 6000), np.uint8)))  # 36 MB once decoded, ~35 kB on disk
    tracemalloc.start()
    try:
        result = decode_image(path, ImageLimits(max_pixels=MAX_PIXELS))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, DecodeFailure) and result.code is ReasonCode.IMAGE_TOO_LARGE
    assert "6000×6000" in result.message and "before decoding" in result.message
    assert peak < 5_000_000  # the file is read, the 36 MB image never is


def test_decoder_never_raises_on_unreadable_paths(tmp_path: Path) -> None:
    folder = tmp_path / "a_folder.png"
    folder.mkdir()
    for path in (tmp_path / "missing.png", folder):
        result = decode_image(path)
        assert isinstance(result, DecodeFailure) and result.code is ReasonCode.DECODE_ERROR


def test_the_corrupt_jpegs_are_ones_other_decoders_accept(tmp_path: Path) -> None:
    """The point of the strict decoder: OpenCV returns a full-size image for each of these."""
    for name in ("truncated_with_end.jpg", "hole_in_scan.jpg", "scan_bomb.jpg"):
        data, _ = _bad_images()[name]
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.size > 0, name


def test_good_jpegs_decode_to_the_same_pixels_as_opencv(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    colour = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    for image, options in ((colour, []), (colour[:, :, 0].copy(), []), (colour, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])):
        path = tmp_path / "part.jpg"
        cv2.imwrite(str(path), image, options)
        decoded = decode_image(path)
        assert isinstance(decoded, np.ndarray)
        assert np.array_equal(decoded, cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
