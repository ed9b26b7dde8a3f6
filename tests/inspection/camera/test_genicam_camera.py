"""The genicam adapter against a real GenTL producer: viky.cti from the genicam wheel (3 devices)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inspection.camera.genicam import GenicamCamera, Options, create, list_devices, pool
from inspection.domain.types import Frame
from inspection.errors import CameraError, ConfigError

pytestmark = pytest.mark.camera

genicam = pytest.importorskip("genicam")
VIKY = Path(genicam.__file__).parent / "viky.cti"
if not VIKY.is_file():
    pytest.skip(f"viky.cti absent from {VIKY.parent}", allow_module_level=True)


def viky(**overrides: Any) -> Options:
    """A small, fast viky stream (tests keep the CPU for everyone else)."""
    base: dict[str, Any] = {"producers": [str(VIKY)], "device": {"serial": "0"}, "pixel_format": "Mono8",
                            "width": 160, "height": 120, "frame_rate_hz": 100, "output": "mono8"}
    return Options(**{**base, **overrides})


def frames(camera: GenicamCamera, count: int, timeout_s: float = 2.0) -> list[Frame]:
    got = []
    for _ in range(count * 5):
        item = camera.read(timeout_s)
        if isinstance(item, Frame):
            got.append(item)
            if len(got) == count:
                return got
    raise AssertionError(f"only {len(got)} of {count} frames from {camera.camera_id}")


def test_viky_lists_its_three_devices() -> None:
    devices = list_devices((VIKY,))
    assert [(d.vendor, d.model, d.serial) for d in devices] == [("Machine Vision Games Ltd.", "Viky", s)
                                                                for s in "012"]
    assert all(d.interface.startswith("Custom:") for d in devices)


def test_frames_carry_camera_id_sequence_and_timestamps() -> None:
    before = time.time()
    with create(viky(id="top")) as camera:
        got = frames(camera, 10)
        counters = camera.counters
    after = time.time()
    assert all(f.image.shape == (120, 160) and f.image.dtype == np.uint8 for f in got)
    assert all(f.camera_id == "top" and f.pixel_format == "mono8" for f in got)
    sequences = [f.sequence for f in got]
    assert sequences == sorted(set(sequences)) and sequences[0] >= 1  # viky's frame ids start at 1
    assert all(f.source == f"VikyTL_DEV_red#{f.sequence}" for f in got)  # sequence = the buffer's frame id
    assert all(before <= f.timestamp_s <= after for f in got)
    assert all(f.device_timestamp_ns is None for f in got)  # viky's buffers carry no timestamp
    assert not got[0].image.flags.writeable
    assert counters.frames >= 10 and counters.incomplete == 0


@pytest.mark.parametrize(("serial", "bgr"), [("0", (0, 0, 255)), ("1", (0, 255, 0)), ("2", (255, 0, 0))])
def test_rgba8_devices_deliver_their_colour_as_bgr(serial: str, bgr: tuple[int, int, int]) -> None:
    """viky's red/green/blue devices draw a ball of their colour on white: the channel order is right."""
    with create(viky(device={"serial": serial}, pixel_format="RGBa8", output="bgr8")) as camera:
        frame = frames(camera, 1)[0]
    assert frame.image.shape == (120, 160, 3)
    ball = frame.image[frame.image.sum(axis=2) < 3 * 255]
    assert len(ball) > 0, "the ball is in every viky frame"
    assert tuple(int(c) for c in np.median(ball, axis=0)) == bgr


def test_mono_output_from_an_rgba_camera() -> None:
    with create(viky(pixel_format="RGBa8", output="mono8")) as camera:
        assert frames(camera, 1)[0].image.shape == (120, 160)


@pytest.mark.parametrize(("selector", "device_id"), [
    ({"serial": "1"}, "VikyTL_DEV_green"),
    ({"device_id": "VikyTL_DEV_blue"}, "VikyTL_DEV_blue"),
    ({"index": 2}, "VikyTL_DEV_blue"),
    ({"model": "Viky", "serial": "0"}, "VikyTL_DEV_red"),
    ({"vendor": "Machine Vision Games Ltd.", "serial": "2"}, "VikyTL_DEV_blue"),
])
def test_device_selection(selector: dict, device_id: str) -> None:
    with create(viky(device=selector)) as camera:
        assert camera.device is not None and camera.device.device_id == device_id
        assert frames(camera, 1)[0].source.startswith(device_id)


@pytest.mark.parametrize(("selector", "message"), [
    ({"serial": "9"}, r"no device matches serial='9'; the producers .*viky\.cti.* see: \[0\] Machine Vision "
                      r"Games Ltd\. Viky serial='0'"),
    ({"user_id": "line1-top"}, r"no device matches user_id='line1-top'"),
    ({"model": "Viky"}, r"3 devices match model='Viky'; add 'serial:'"),
    ({"index": 5}, r"index 5 but the producers .* see 3 device\(s\)"),
])
def test_no_matching_device_is_a_clear_error(selector: dict, message: str) -> None:
    with pytest.raises(CameraError, match=message):
        create(viky(device=selector)).open()
    assert pool._users == 0, "a failed open must release the producer"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"width": 5000}, r"camera 'cam0' \(Machine Vision Games Ltd\. Viky, serial '0'\): node 'Width' = 5000 is "
                      r"out of range; this camera accepts 100 to 800"),
    ({"frame_rate_hz": 1000}, r"node 'AcquisitionFrameRate' = 1000\.0 is out of range; this camera accepts 1 to 200"),
    ({"pixel_format": "BayerRG8"}, r"node 'PixelFormat' = 'BayerRG8' is not accepted; this camera offers: "
                                   r"RGBa8, Mono8"),
    ({"exposure_us": 500}, r"node 'ExposureTime' does not exist on this camera \(step 'exposure'\)"),
    ({"features": {"NoSuchNode": 1}}, r"node 'NoSuchNode' does not exist on this camera \(step 'features'\)"),
    ({"features": {"Width": "wide"}}, r"node 'Width' expects an integer, got 'wide'"),
    ({"features": {"PayloadSize": 10}}, r"node 'PayloadSize' is read-only now"),
])
def test_rejected_feature_values_name_the_node(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create(viky(**overrides)).open()
    with create(viky()) as camera:  # the device was released: it opens again at once
        assert frames(camera, 1)


@pytest.mark.parametrize("mode", ["software", "hardware"])
def test_trigger_on_a_camera_without_trigger_nodes_is_a_clear_error(mode: str) -> None:
    with pytest.raises(ConfigError, match=r"node 'TriggerMode' does not exist on this camera \(step 'trigger'\)"
                                          r".*viky .*no trigger"):
        create(viky(trigger={"mode": mode, "source": "Line1"} if mode == "hardware" else {"mode": mode})).open()


def test_features_are_applied_in_order() -> None:
    # Width is set by `width`, then overwritten by `features` (applied last): the last write wins.
    with create(viky(width=160, features=[{"Width": 200}, {"Height": 100}])) as camera:
        assert frames(camera, 1)[0].image.shape == (100, 200)


def test_buffers_go_back_to_the_producer() -> None:
    """Two buffers only: the stream would stall after two frames if a buffer were ever held."""
    with create(viky(num_buffers=2, frame_rate_hz=200)) as camera:
        got = frames(camera, 30)
        assert camera.acquirer.num_holding_filled_buffers == 0
    assert len(got) == 30


def test_a_slow_reader_drops_the_oldest_frames_and_counts_them() -> None:
    with create(viky(queue_size=2, frame_rate_hz=200)) as camera:
        first = frames(camera, 1)[0]
        deadline = time.monotonic() + 10.0
        while camera.counters.dropped_queue < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # the station is busy elsewhere
        newer = frames(camera, 2)
        counters = camera.counters
    assert counters.dropped_queue >= 5 and counters.dropped >= counters.dropped_queue
    assert newer[0].sequence - first.sequence > counters.dropped_queue - 1  # the kept frames are the newest


def test_three_devices_at_once_each_on_its_own_thread() -> None:
    import threading

    cameras = [create(viky(id=f"cam{s}", device={"serial": s}, pixel_format="RGBa8", output="bgr8"))
               for s in "012"]
    for camera in cameras:
        camera.open()
    try:
        names = {t.name for t in threading.enumerate()}
        assert {"genicam-cam0", "genicam-cam1", "genicam-cam2"} <= names
        got = {c.camera_id: [] for c in cameras}
        for _ in range(10):
            for camera in cameras:
                got[camera.camera_id] += frames(camera, 1)
    finally:
        for camera in cameras:
            camera.close()
    for camera_id, colour in (("cam0", 2), ("cam1", 1), ("cam2", 0)):  # red, green, blue channel in BGR
        assert all(f.camera_id == camera_id for f in got[camera_id])
        ball = got[camera_id][-1].image
        ball = ball[ball.sum(axis=2) < 3 * 255]
        assert int(np.argmax(np.median(ball, axis=0))) == colour, f"{camera_id} got another device's frames"
    assert pool._users == 0


def test_read_before_open_is_an_error() -> None:
    with pytest.raises(CameraError, match=r"read\(\) before open\(\)"):
        create(viky()).read(0.1)


def test_text_file_as_producer_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "Fake.cti"
    fake.write_text("not a shared library", encoding="utf-8")
    with pytest.raises(CameraError, match=rf"GenTL producer {fake} cannot be loaded"):
        create(viky(producers=[str(fake)])).open()


@pytest.mark.skipif(os.name != "posix", reason="POSIX owners and modes")
def test_a_producer_another_account_could_replace_is_refused_before_it_is_loaded(tmp_path: Path) -> None:
    """A producer is native code: one whose file or folder others can write (or that another user owns) is
    refused before dlopen runs a line of it."""
    folder = tmp_path / "sdk"
    folder.mkdir(mode=0o755)
    copy = folder / "Vendor.cti"
    copy.write_bytes(b"\x7fELF pretend")  # never loaded: refused before
    copy.chmod(0o666)
    with pytest.raises(CameraError, match=r"Vendor.cti is writable by group or others \(mode -rw-rw-rw-\)"):
        create(viky(producers=[str(copy)])).open()
    copy.chmod(0o644)
    folder.chmod(0o777)
    with pytest.raises(CameraError, match="sdk is writable by group or others"):
        create(viky(producers=[str(copy)])).open()
    folder.chmod(0o755)
    if os.getuid() == 0:  # only root can give a file away
        os.chown(copy, 4242, -1)
        with pytest.raises(CameraError, match="belongs to user id 4242"):
            create(viky(producers=[str(copy)])).open()


def test_library_that_is_not_a_producer_is_named(tmp_path: Path) -> None:
    import ctypes.util

    library = ctypes.util.find_library("z") or ctypes.util.find_library("m")
    if library is None:
        pytest.skip("no system shared library to stand in for a broken producer")
    found = [Path(p) / library for p in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib")
             if (Path(p) / library).is_file()]
    if not found:
        pytest.skip(f"{library} not found on disk")
    producer = tmp_path / "NotAProducer.cti"
    producer.symlink_to(found[0])
    with pytest.raises(CameraError, match=rf"GenTL producer {producer} failed to load"):
        create(viky(producers=[str(producer)])).open()


def test_incomplete_buffers_reported_by_harvesters_are_counted() -> None:
    with create(viky()) as camera:
        frames(camera, 1)
        ia = camera.acquirer
        ia._emit_callbacks(ia.Events.INCOMPLETE_BUFFER)  # what harvesters does when it discards one
        ia._emit_callbacks(ia.Events.INCOMPLETE_BUFFER)
        assert camera.counters.incomplete == 2
        assert all(isinstance(camera.read(2.0), Frame) for _ in range(3)), "free run: counted, not a part"


def test_frame_id_gaps_count_as_device_drops_and_sequence_survives_a_reconnect() -> None:
    camera = GenicamCamera(viky())
    assert [camera._next_sequence(i) for i in (1, 2, 5, 6)] == [1, 2, 5, 6]
    assert camera.counters.dropped_device == 2
    camera._last_frame_id = None  # what a reconnect does: the new acquirer counts from 1 again
    assert [camera._next_sequence(i) for i in (1, 2)] == [7, 8]
    assert camera._next_sequence(None) == 9  # a producer without frame ids


def test_cameras_share_one_producer_load(tmp_path: Path) -> None:
    alias = tmp_path / "SameViky.cti"
    alias.symlink_to(VIKY)
    other = tmp_path / "Other.cti"
    other.write_bytes(VIKY.read_bytes()[:64])
    with create(viky(device={"serial": "0"})) as first:
        with create(viky(id="cam1", device={"serial": "1"}, producers=[str(alias)])) as second:
            assert frames(first, 1) and frames(second, 1)  # the same file under another name: shared
        with pytest.raises(CameraError, match=rf"GenTL producer\(s\) {other} cannot be loaded while cameras using"):
            create(viky(id="cam2", producers=[str(other)])).open()
    assert pool._users == 0
