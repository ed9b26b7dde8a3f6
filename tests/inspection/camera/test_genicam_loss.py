"""Camera loss on the real producer: the acquirer is destroyed under load (as when a cable is pulled),
the device is held by someone else for a while (it is "gone"), then given back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from inspection.camera.genicam import CameraEvent, GenicamCamera, Options, create, pool
from inspection.domain.types import Frame, FrameFailure
from inspection.errors import CameraError

pytestmark = pytest.mark.camera

genicam = pytest.importorskip("genicam")
VIKY = Path(genicam.__file__).parent / "viky.cti"
if not VIKY.is_file():
    pytest.skip(f"viky.cti absent from {VIKY.parent}", allow_module_level=True)


def viky(**overrides: Any) -> Options:
    base: dict[str, Any] = {"producers": [str(VIKY)], "device": {"serial": "0"}, "pixel_format": "Mono8",
                            "width": 160, "height": 120, "frame_rate_hz": 100, "output": "mono8",
                            "reconnect": {"initial_backoff_s": 0.05, "max_backoff_s": 0.2, "budget_s": 30}}
    return Options(**{**base, **overrides})


def read_until(camera: GenicamCamera, wanted: type, limit_s: float = 15.0) -> tuple[Any, list[Any]]:
    """Read until an item of type `wanted` comes; everything read on the way is returned too.
    `limit_s` only guards against a hang; nothing here is a timing assertion."""
    seen: list[Any] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        item = camera.read(0.2)
        if isinstance(item, wanted):
            return item, seen
        seen.append(item)
    raise AssertionError(f"no {wanted.__name__} within {limit_s} s; got {[type(i).__name__ for i in seen]}")


def pull_the_cable(camera: GenicamCamera, hold: bool) -> Any:
    """Destroy the camera's acquirer under load; with `hold`, open the device for ourselves so that
    it stays gone until we give it back. Returns our acquirer (or None)."""
    with pool.lock:
        camera.acquirer.destroy()
        if not hold:
            return None
        harvester = pool.acquire(camera._producers)
        index = [d.id_ for d in harvester.device_info_list].index(camera.device.device_id)
        return harvester.create(index)


def give_back(blocker: Any) -> None:
    with pool.lock:
        blocker.destroy()
    pool.release()


def test_lost_camera_gives_a_failure_an_alarm_and_comes_back_after_the_device_returns() -> None:
    events: list[CameraEvent] = []
    with create(viky(), on_event=events.append) as camera:
        before, _ = read_until(camera, Frame)
        blocker = pull_the_cable(camera, hold=True)
        try:
            failure, _ = read_until(camera, FrameFailure)
            assert camera.connected is False
            while camera.counters.lost == 1 and len(camera.events) == 1 and not _gone_long_enough(camera):
                assert camera.read(0.1) is None  # no invented parts while the camera is away
        finally:
            give_back(blocker)
        after, on_the_way = read_until(camera, Frame)
        counters = camera.counters
    assert failure.code == "camera_lost" and failure.camera_id == "cam0"
    assert "camera 'cam0' (Machine Vision Games Ltd. Viky serial '0') lost" in failure.message
    assert before.sequence < failure.sequence < after.sequence, "sequence keeps increasing across the reconnect"
    assert [e.kind for e in events] == ["camera_lost", "camera_reconnected"]
    assert list(camera.events) == events
    assert counters.lost == 1 and counters.reconnects == 1
    assert all(item is None for item in on_the_way)


def _gone_long_enough(camera: GenicamCamera) -> bool:
    """Wait until the adapter has backed off at least twice (its backoff has grown past the first step)."""
    return camera._backoff >= 0.2


def test_acquirer_recreated_under_load_without_holding_the_device() -> None:
    with create(viky(frame_rate_hz=200)) as camera:
        read_until(camera, Frame)
        for _ in range(3):
            pull_the_cable(camera, hold=False)
            read_until(camera, FrameFailure)
            read_until(camera, Frame)
        assert camera.counters.lost == 3 and camera.counters.reconnects == 3


def test_reconnect_budget_spent_raises_camera_error() -> None:
    events: list[CameraEvent] = []
    camera = create(viky(reconnect={"initial_backoff_s": 0.05, "max_backoff_s": 0.1, "budget_s": 0.5}),
                    on_event=events.append)
    with camera:
        read_until(camera, Frame)
        blocker = pull_the_cable(camera, hold=True)
        try:
            with pytest.raises(CameraError, match=r"camera 'cam0' .* lost for .* reconnect budget of 0\.5 s spent; "
                                                  r"check its cable"):
                for _ in range(200):
                    camera.read(0.1)
        finally:
            give_back(blocker)
    assert [e.kind for e in events] == ["camera_lost", "camera_gave_up"]
    assert pool._users == 0


@pytest.mark.slow
def test_station_gives_the_failsafe_verdict_for_the_part_in_flight(tmp_path: Path, tiny_model: Path) -> None:
    """The pipeline end to end: the part in flight when the camera goes gets ERROR (fail-safe), and
    inspection goes on after the reconnect."""
    import threading

    from inspection.config import load_station_config
    from inspection.runtime.pipeline import Station

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"name: cam-loss\nmodel: {tiny_model}\ndefault:\n  min_confidence: 0.99\n", encoding="utf-8")
    config = tmp_path / "station.yaml"
    config.write_text(
        f"name: t\ndata_dir: {tmp_path / 'data'}\nrecipe: recipe.yaml\n"
        f"cameras:\n  - kind: genicam\n    id: top\n    producers: [{VIKY}]\n    device: {{serial: '1'}}\n"
        "    pixel_format: Mono8\n    width: 128\n    height: 128\n    frame_rate_hz: 20\n"
        "    queue_size: 2\n    reconnect: {initial_backoff_s: 0.05}\n"
        "detector:\n  kind: ultralytics\n  device: cpu\n  imgsz: 96\n", encoding="utf-8")
    seen: list[Any] = []
    with Station(load_station_config(config)) as station:
        camera = station.cameras[0]

        def watch(inspection: Any) -> None:
            seen.append(inspection)
            if len(seen) == 2:
                threading.Thread(target=pull_the_cable, args=(camera, False)).start()
            lost = [i for i, x in enumerate(seen) if isinstance(x.frame, FrameFailure)]
            if lost and len(seen) - lost[0] > 2:
                station.stop()  # seen the failure and two parts after it

        station.listeners.append(watch)
        station.run(max_parts=400)  # a guard; the listener stops the run
    failures = [i for i in seen if isinstance(i.frame, FrameFailure)]
    assert len(failures) == 1
    verdict = failures[0].verdict
    assert verdict.failsafe and verdict.status.rejects and verdict.reasons[0].code == "camera_lost"
    after = seen[seen.index(failures[0]) + 1:]
    assert after and all(isinstance(i.frame, Frame) for i in after), "inspection goes on after the reconnect"
