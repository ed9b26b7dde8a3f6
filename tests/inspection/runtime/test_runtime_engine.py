"""The concurrent runtime behind Station.run: one verdict per part, deadlines, fail-safe, stop, slow consumers."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inspection.config import load_station_config
from inspection.domain.types import Frame, Inspection, VerdictStatus
from inspection.errors import ConfigError
from inspection.inference import DetectorOutput
from inspection.inference.yolo_detector import YoloDetector
from inspection.runtime import RuntimeOptions
from inspection.runtime.pipeline import Station

STAGES = ("acquire", "preprocess", "infer", "postprocess", "judge", "output", "latency")


class FaultyDetector:
    """The real exported detector behind the plain Detector protocol, with one injected fault."""

    def __init__(self, real: YoloDetector, fault: Callable[[Frame], None]) -> None:
        self.real, self.fault = real, fault
        self.model_id, self.class_names, self.task = real.model_id, real.class_names, real.task

    def warmup(self, frame: Frame) -> None:
        self.real.warmup(frame)

    def detect(self, frame: Frame) -> DetectorOutput:
        self.fault(frame)
        return self.real.detect(frame)

    def close(self) -> None:
        self.real.close()


def _rows(station: Station) -> list[tuple[str, int, str, str]]:
    return sqlite3.connect(station.db_path).execute(
        "select camera_id, sequence, verdict, reasons from inspections order by id").fetchall()


def _codes(row: tuple[str, int, str, str]) -> list[str]:
    return [r["code"] for r in json.loads(row[3])]


def test_every_part_gets_exactly_one_verdict_logged_with_stage_stats(make_station: Callable[..., Path]) -> None:
    config = load_station_config(make_station())
    (config.cameras[0].path / "part_0003.png").write_bytes(b"corrupt")
    seen: list[Inspection] = []
    with Station(config) as station:
        assert isinstance(station.detector, YoloDetector)
        station.listeners.append(seen.append)
        summary = station.run()
        rows = _rows(station)
        events = station.store.events()
    assert summary.parts == 8 == len(rows) == len(seen)
    assert sorted(r[1] for r in rows) == list(range(8))  # every sequence once: nothing dropped or doubled
    broken = next(r for r in rows if r[1] == 3)
    assert broken[2] == "ERROR" and _codes(broken) == ["decode_error"]
    assert summary.stage_stats["counters"]["failsafe:decode_error"] == 1
    judged = [i for i in seen if i.frame.sequence != 3]
    assert all(i.timings.infer_ms > 0 and i.timings.latency_ms >= i.timings.infer_ms for i in judged)
    for stage in STAGES:
        p = summary.stage_stats["stages_ms"][stage]
        assert 0 <= p["p50"] <= p["p95"] <= p["p99"]
    stored = [e for e in events if e["kind"] == "run_stats"]
    assert stored and set(json.loads(stored[-1]["data"])["stages_ms"]) == set(STAGES)


def test_max_parts_is_exact_across_two_cameras(make_station: Callable[..., Path],
                                              make_images: Callable[..., Path]) -> None:
    # At line rate (10 Hz) camera a alone needs 0.8 s for 9 parts, so a loaded machine that starts camera b's
    # thread late cannot let a take every part (free-running, it could).
    cameras = [{"kind": "replay", "id": cam, "path": str(make_images(cam, 4)), "loop": True, "rate_hz": 10}
               for cam in ("a", "b")]
    with Station(load_station_config(make_station(cameras=cameras))) as station:
        summary = station.run(max_parts=9)
        rows = _rows(station)
    assert summary.parts == 9 == len(rows)
    assert {r[0] for r in rows} == {"a", "b"}  # both cameras fed the one inference stage


def test_deadline_gives_counted_failsafe(make_station: Callable[..., Path]) -> None:
    config = load_station_config(make_station(recipe={"deadline_ms": 0.001, "failsafe_verdict": "FAIL"}))
    with Station(config) as station:
        summary = station.run(max_parts=3)
        rows = _rows(station)
    assert summary.parts == 3 and summary.counts["FAIL"] == 3 and summary.failsafe == 3
    assert all(_codes(r) == ["deadline"] for r in rows)
    assert summary.stage_stats["counters"]["failsafe:deadline"] == 3


def test_hung_inference_gets_failsafe_at_deadline_and_late_result_is_discarded(
        make_station: Callable[..., Path], make_images: Callable[..., Path]) -> None:
    release = threading.Event()
    # Parts 0.5 s apart: only the hung part can miss the 300 ms deadline, however loaded the machine.
    camera = {"kind": "replay", "id": "cam0", "path": str(make_images("hung", 4)), "rate_hz": 2.0}
    config = load_station_config(make_station(cameras=[camera], recipe={"deadline_ms": 300.0}))
    with Station(config) as station:
        station.warmup()
        assert station.detector is not None
        station.detector = FaultyDetector(
            station.detector, lambda f: release.wait(10.0) if f.sequence == 1 else None)  # type: ignore[assignment]
        # The hung part's verdict (from the watchdog) is what lets the model go on.
        station.listeners.append(lambda i: release.set() if i.frame.sequence == 1 else None)
        summary = station.run(max_parts=4)
        rows = _rows(station)
    assert summary.parts == 4 == len(rows) and sorted(r[1] for r in rows) == [0, 1, 2, 3]
    hung = next(r for r in rows if r[1] == 1)
    assert hung[2] == "ERROR" and _codes(hung) == ["deadline"]
    assert summary.stage_stats["counters"]["late_result_discarded"] == 1


def test_model_error_fails_safe_for_that_part_only(make_station: Callable[..., Path]) -> None:
    def explode(frame: Frame) -> None:
        if frame.sequence == 2:
            raise RuntimeError("inference engine crashed")

    with Station(load_station_config(make_station())) as station:
        assert station.detector is not None
        station.detector = FaultyDetector(station.detector, explode)  # type: ignore[assignment]
        summary = station.run()
        rows = _rows(station)
    assert summary.parts == 8 and summary.failsafe == 1
    bad = next(r for r in rows if r[1] == 2)
    assert bad[2] == "ERROR" and _codes(bad) == ["inspection_error"] and "crashed" in bad[3]
    assert all(r[2] != "ERROR" for r in rows if r[1] != 2)


def test_live_camera_overflow_is_failsafe_never_dropped(make_station: Callable[..., Path],
                                                       make_images: Callable[..., Path]) -> None:
    parts = make_images("live", 4)
    camera = {"kind": "replay", "id": "belt", "path": str(parts), "loop": True, "rate_hz": 1000.0,
              "max_parts": 20}
    config = load_station_config(make_station(cameras=[camera]))
    with Station(config) as station:
        station.runtime_options = RuntimeOptions(queue_size=1, stage_queue_size=1)
        assert station.detector is not None
        station.detector = FaultyDetector(station.detector, lambda f: time.sleep(0.03))  # type: ignore[assignment]
        summary = station.run()
        rows = _rows(station)
    assert summary.parts == 20 == len(rows) and sorted(r[1] for r in rows) == list(range(20))
    overflowed = [r for r in rows if _codes(r) == ["queue_full"]]
    assert overflowed and all(r[2] == "ERROR" for r in overflowed)
    assert summary.stage_stats["counters"]["failsafe:queue_full"] == len(overflowed)


def test_slow_listener_never_stalls_the_verdict_path(make_station: Callable[..., Path]) -> None:
    with Station(load_station_config(make_station())) as station:
        station.runtime_options = RuntimeOptions(listener_queue_size=1)
        station.listeners.append(lambda i: time.sleep(0.3))  # a UI that cannot keep up
        summary = station.run()
        published = station.output.published  # type: ignore[union-attr]
        rows = _rows(station)
    assert summary.parts == 8 == published == len(rows)
    assert summary.stage_stats["counters"].get("listener_dropped", 0) > 0


def test_stop_drains_parts_in_flight(make_station: Callable[..., Path], make_images: Callable[..., Path]) -> None:
    parts = make_images("endless", 3)
    camera = {"kind": "replay", "id": "cam0", "path": str(parts), "loop": True, "rate_hz": 50.0}
    with Station(load_station_config(make_station(cameras=[camera]))) as station:
        station.listeners.append(lambda i: station.stop() if i.frame.sequence >= 2 else None)
        summary = station.run()
        rows = _rows(station)
    assert summary.parts >= 3 and summary.parts == len(rows)
    assert sorted(r[1] for r in rows) == list(range(summary.parts))  # every part read got its verdict
    assert not [r for r in rows if "stopped" in _codes(r)]  # drained: judged, not abandoned


def test_tiling_from_the_recipe(make_station: Callable[..., Path]) -> None:
    tiling = {"tile_px": 48, "overlap_px": 16}
    with Station(load_station_config(make_station(recipe={"tiling": tiling}))) as station:
        detector = station.detector
        assert isinstance(detector, YoloDetector) and detector.tiling is not None
        image = Frame(np.full((72, 96, 3), 128, np.uint8), "cam0", 0, 0.0)
        prepared = detector.prepare(image)
        assert len(prepared.inputs) == 6  # 3 x 2 tiles of 48 px with 16 px overlap
        detector.release(prepared)
        seen: list[Inspection] = []
        station.listeners.append(seen.append)
        station.run(max_parts=2)
    assert len(seen) == 2
    for inspection in seen:
        assert inspection.detections  # the active untrained head finds plenty
        for d in inspection.detections:
            assert 0 <= d.box.x1 <= d.box.x2 <= 96 and 0 <= d.box.y1 <= d.box.y2 <= 72


def test_tiling_needs_an_exported_model_detector(make_station: Callable[..., Path],
                                                 runtime_model: tuple[Path, Path]) -> None:
    """The ultralytics detector runs whole frames only: a recipe tuned with tiles is refused, never run
    without them."""
    path = make_station(recipe={"tiling": {"tile_px": 48, "overlap_px": 16}},
                        detector={"kind": "ultralytics", "device": "cpu"})
    text = path.read_text().replace("  conf: 0.25\n", "")
    path.write_text(text)
    with pytest.raises(ConfigError, match="tiling: needs an exported-model detector"):
        Station(load_station_config(path)).open()


def test_inspect_one_part_still_works(make_station: Callable[..., Path]) -> None:
    with Station(load_station_config(make_station())) as station:
        frame = Frame(np.zeros((72, 96, 3), np.uint8), "cam0", 0, time.time())
        inspection = station.inspect(frame)
    assert inspection.verdict.status in (VerdictStatus.PASS, VerdictStatus.FAIL)
    assert inspection.model_id.startswith("rt_det@")


@pytest.mark.slow
def test_bench_cli_prints_the_two_ratio_lines(runtime_model: tuple[Path, Path],
                                              make_images: Callable[..., Path]) -> None:
    from inspection.cli import station

    pt, _ = runtime_model
    images = make_images("bench", 3)
    result = CliRunner().invoke(station, ["bench", "--model", str(pt), "--images", str(images), "--imgsz", "64",
                                          "--frames", "5", "--sporadic", "2", "--loaded", "5", "--loaded-rate", "50",
                                          "--backend", "onnx", "--peer", "onnx", "--set", "threads=1"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert re.fullmatch(r"pipeline/naive = \d+\.\d\d", lines[-3])
    assert re.fullmatch(r"pipeline/peer = \d+\.\d\d", lines[-2])
    assert re.fullmatch(r"pipeline/raw = \d+\.\d\d", lines[-1])
    assert "(a) ultralytics model.predict" in result.output and "(b) onnx raw forward" in result.output
    assert re.search(r"\(d\) ultralytics onnx export\s+\d+\.\d fps", result.output)
    assert re.search(r"under load: frame→verdict p50/p99\s+\d+\.\d/\d+\.\d ms, p99 / raw-forward p99 = "
                     r"\d+\.\d\d", result.output)
    assert re.search(r"\(c''\) pipeline, 50\.0 Hz \(\d+ %\)", result.output)  # --loaded-rate, not 80 % of (c)
    # sporadic parts against the raw forward under the same idle gaps, not only against a hot loop
    assert re.search(r"\(b'\) onnx raw forward, \d+\.\d Hz\s+\d+\.\d fps", result.output)
    assert re.search(r"… vs raw forward at that rate p99\s+\d+\.\d ms vs \d+\.\d ms", result.output)
    beyond = re.search(r"station cpu beyond the backend = (-?\d+\.\d) ms/part", result.output)
    cpu = {row: float(re.search(rf"^\({row}\) .* cpu\s+(\d+\.\d) ms/frame", result.output, re.M).group(1))
           for row in ("b", "c")}
    assert beyond is not None and float(beyond.group(1)) == pytest.approx(cpu["c"] - cpu["b"], abs=0.11)


def test_bench_set_needs_key_equals_value() -> None:
    from inspection.cli import station

    result = CliRunner().invoke(station, ["bench", "--set", "requests"])
    assert result.exit_code == 2 and "'requests': expected KEY=VALUE" in result.output


@pytest.mark.parametrize("stop_signal", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_drains_and_logs_every_part(make_station: Callable[..., Path],
                                                      make_images: Callable[..., Path], tmp_path: Path,
                                                      stop_signal: str) -> None:
    """A real SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop) to `station run`: parts in flight get their
    verdicts, the summary prints, devices close, exit 0."""
    import os
    import signal
    import subprocess
    import sys

    camera = {"kind": "replay", "id": "cam0", "path": str(make_images("sigint", 3)), "loop": True,
              "rate_hz": 20.0}
    config = make_station(cameras=[camera])
    db = tmp_path / "sigint.db"
    station_exe = Path(sys.executable).with_name("station")
    proc = subprocess.Popen([str(station_exe), "run", "-c", str(config), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    verdict_lines = 0
    for line in proc.stdout:
        if re.search(r"cam0#\d+\s+(PASS|FAIL|ERROR|REVIEW)", line):
            verdict_lines += 1
            if verdict_lines == 3:
                proc.send_signal(getattr(signal, stop_signal))
                break
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    parts = int(re.search(r"parts\s+(\d+)", rest).group(1))  # type: ignore[union-attr]
    rows = sqlite3.connect(db).execute("select sequence from inspections order by sequence").fetchall()
    assert parts >= 3 and [r[0] for r in rows] == list(range(parts))
    assert "yield" in rest  # the summary


class SlowSecondCall:
    """The real OpenVINO backend; the second network call's outputs come back 0.3 s late, so the calls after
    it finish first. Counts how many calls were under way at once."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls, self.open, self.most_open = 0, 0, 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def submit(self, batch: np.ndarray, queued: bool = False) -> object:
        with self._lock:
            self.calls += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
            late = self.calls == 2
        pending = self.real.submit(batch, queued)  # type: ignore[attr-defined]
        backend = self

        class Pending:
            def result(self) -> list[np.ndarray]:
                if late:
                    time.sleep(0.3)
                with backend._lock:
                    backend.open -= 1
                return pending.result()

        return Pending()


def test_two_requests_in_flight_keep_the_camera_order(make_station: Callable[..., Path],
                                                       runtime_model: tuple[Path, Path]) -> None:
    """OpenVINO with `requests: 2`: the next part is in the network while the last one finishes, and verdicts
    still leave in camera order however the calls finish."""
    from training.export import export_model

    pt, _ = runtime_model
    xml = export_model(pt, "openvino", imgsz=64, out=pt.with_name("rt_det_ov.xml"), max_images=1).path
    config = load_station_config(make_station(detector={"kind": "openvino", "model": str(xml), "requests": 2,
                                                        "hint": "latency"}))
    with Station(config) as station:
        station.warmup()
        assert isinstance(station.detector, YoloDetector) and station.detector.in_flight == 2
        slow = SlowSecondCall(station.detector.backend)
        station.detector.backend = slow  # type: ignore[assignment]
        seen: list[Inspection] = []
        station.listeners.append(seen.append)
        summary = station.run()
        rows = _rows(station)
    assert summary.parts == 8 == len(rows) and summary.failsafe == 0
    assert [r[1] for r in rows] == list(range(8)) == [i.frame.sequence for i in seen]  # in order, each once
    assert slow.calls == 8 and slow.most_open == 2  # two under way at once, never more


class RecordsTheWay:
    """The real OpenVINO backend (slow on its first call if asked); notes for each call whether parts were
    queued behind it and which compilation ran it (hint: auto)."""

    def __init__(self, real: object, slow_first: bool) -> None:
        self.real, self.slow_first = real, slow_first
        self.ways: list[tuple[bool, str]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def submit(self, batch: np.ndarray, queued: bool = False) -> object:
        if self.slow_first and not self.ways:
            time.sleep(0.3)  # the parts behind it pile up
        before = dict(self.real.calls)  # type: ignore[attr-defined]
        pending = self.real.submit(batch, queued)  # type: ignore[attr-defined]
        way = next(k for k, v in self.real.calls.items() if v != before[k])  # type: ignore[attr-defined]
        self.ways.append((queued, way))
        return pending


@pytest.mark.parametrize("rate_hz", [None, 20.0])
def test_auto_hint_runs_a_lone_part_on_all_threads_and_queued_parts_on_the_streams(
        make_station: Callable[..., Path], runtime_model: tuple[Path, Path], make_images: Callable[..., Path],
        rate_hz: float | None) -> None:
    """`hint: auto` (the default): a part with nothing behind it takes the latency compilation (all threads on
    one call); parts that queue up go to the parallel streams. Verdicts keep the camera order either way."""
    from training.export import export_model

    pt, _ = runtime_model
    xml = export_model(pt, "openvino", imgsz=64, out=pt.with_name("rt_det_ov_auto.xml"), max_images=1).path
    parts = make_images("paced", 8)
    camera = {"kind": "replay", "id": "cam0", "path": str(parts), **({"rate_hz": rate_hz} if rate_hz else {})}
    config = load_station_config(make_station(cameras=[camera], detector={"kind": "openvino", "model": str(xml)}))
    with Station(config) as station:
        station.warmup()
        assert isinstance(station.detector, YoloDetector) and station.detector.in_flight == 2
        recorder = RecordsTheWay(station.detector.backend, slow_first=rate_hz is None)
        station.detector.backend = recorder  # type: ignore[assignment]
        summary = station.run()
        rows = _rows(station)
    assert summary.parts == 8 == len(rows) and summary.failsafe == 0
    assert [r[1] for r in rows] == list(range(8))
    assert len(recorder.ways) == 8
    assert all(way == "streams" for queued, way in recorder.ways if queued)
    if rate_hz is None:  # a burst: the parts behind the slow first call are queued and go to the streams
        assert recorder.ways[1] == (True, "streams")
    else:  # 50 ms apart, each part is alone (a machine that stalls for 50 ms may queue one)
        assert sum(way == (False, "latency") for way in recorder.ways) >= 6


class FailingThirdCall(SlowSecondCall):
    """The real backend; the third call's outputs never come (the request failed inside OpenVINO)."""

    def submit(self, batch: np.ndarray, queued: bool = False) -> object:
        pending = super().submit(batch, queued)
        if self.calls != 3:
            return pending

        class Failed:
            def result(self) -> list[np.ndarray]:
                pending.result()
                raise RuntimeError("infer request failed")

        return Failed()


def test_a_failed_request_in_flight_costs_only_its_part(make_station: Callable[..., Path],
                                                        runtime_model: tuple[Path, Path]) -> None:
    from training.export import export_model

    pt, _ = runtime_model
    xml = export_model(pt, "openvino", imgsz=64, out=pt.with_name("rt_det_ov_fail.xml"), max_images=1).path
    config = load_station_config(make_station(detector={"kind": "openvino", "model": str(xml), "requests": 2}))
    with Station(config) as station:
        station.warmup()
        failing = FailingThirdCall(station.detector.backend)  # type: ignore[union-attr]
        station.detector.backend = failing  # type: ignore[union-attr]
        summary = station.run()
        rows = _rows(station)
    assert summary.parts == 8 == len(rows) and summary.failsafe == 1
    assert sorted(r[1] for r in rows) == list(range(8))  # every part once
    failed = [r for r in rows if r[2] == "ERROR"]
    assert [r[1] for r in failed] == [2] and _codes(failed[0]) == ["inspection_error"]  # the third call's part
    # judged verdicts keep the camera order; a fail-safe one goes out as soon as it is decided (a reject)
    judged = [r[1] for r in rows if r[2] != "ERROR"]
    assert judged == sorted(judged)
