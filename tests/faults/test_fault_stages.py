"""Faults × stages: an exception of any type in any runtime stage gives the part in hand its fail-safe verdict,
raises one alarm naming the stage and the cause, and the stage goes on; a stage that keeps failing stops the
station safely (PLC outputs fail-safe, fault set, a clear exit code). Parts in = verdicts out = rows logged."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inspection.domain.codes import ReasonCode
from inspection.errors import CameraError, StageFailure
from inspection.outputs.modbus_sim import ModbusSim
from inspection.runtime.engine import Runtime
from inspection.runtime.pipeline import Station

from .conftest import FAST_PLC, plc_error, run_station

PARTS = 8


class Bug(BaseException):
    """Not an Exception: what a bare `except Exception` lets through and used to kill a thread silently."""


EXCEPTIONS = [pytest.param(RuntimeError, id="RuntimeError"), pytest.param(MemoryError, id="MemoryError"),
              pytest.param(Bug, id="BaseException")]


def once(at: int, exc_type: type[BaseException], real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, except that call number `at` (0-based) raises exc_type first."""
    calls = [0]
    lock = threading.Lock()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with lock:
            n = calls[0]
            calls[0] += 1
        if n == at:
            raise exc_type(f"injected fault in call {n}")
        return real(*args, **kwargs)

    return wrapper


def _inject(stage: str, exc_type: type[BaseException], monkeypatch: pytest.MonkeyPatch) -> Callable[[Station], None]:
    def rig(station: Station) -> None:
        if stage == "camera":
            camera = station.cameras[0]
            camera.read = once(3, exc_type, camera.read)  # type: ignore[method-assign]
        elif stage in ("prepare", "forward", "finish"):
            setattr(station.detector, stage, once(3, exc_type, getattr(station.detector, stage)))
        elif stage == "judge":
            station.judge.judge = once(3, exc_type, station.judge.judge)  # type: ignore[method-assign]
        elif stage == "output":
            station.output.publish = once(3, exc_type, station.output.publish)  # type: ignore[union-attr]
        elif stage == "recorder":
            station.store.record_row = once(3, exc_type, station.store.record_row)  # type: ignore[union-attr]
        elif stage == "listeners":
            station.listeners.append(once(3, exc_type, lambda inspection: None))
        elif stage == "watchdog":
            # the first call: a quick run (an idle CI machine) may check only once before it ends
            monkeypatch.setattr(Runtime, "_workers_finished", once(0, exc_type, Runtime._workers_finished))
        elif stage == "telemetry":  # the per-verdict hook on the recorder thread (telemetry feed, samples)
            monkeypatch.setattr(station, "_recorded", once(3, exc_type, station._recorded))

    return rig


# stage → (extra parts the fault adds, reason code of the one fail-safe part or None)
STAGES = {
    "camera": (1, ReasonCode.CAMERA_ERROR),  # the failed read is a part: it gets its fail-safe verdict
    "prepare": (0, {RuntimeError: ReasonCode.INSPECTION_ERROR, MemoryError: ReasonCode.INSPECTION_ERROR,
                    Bug: ReasonCode.STAGE_FAILED}),
    "forward": (0, {RuntimeError: ReasonCode.INSPECTION_ERROR, MemoryError: ReasonCode.INSPECTION_ERROR,
                    Bug: ReasonCode.STAGE_FAILED}),
    "judge": (0, {RuntimeError: ReasonCode.INSPECTION_ERROR, MemoryError: ReasonCode.INSPECTION_ERROR,
                  Bug: ReasonCode.STAGE_FAILED}),
    "output": (0, None),  # the verdict was judged; the PLC did not get it: alarm, still counted and logged
    "recorder": (0, None),  # the row is written from the spool
    "listeners": (0, None),
    "watchdog": (0, None),
    "telemetry": (0, None),
}


SUPERVISED_AS = {"forward": "infer", "finish": "judge", "telemetry": "recorder"}  # the thread each one runs on


@pytest.mark.parametrize("exc_type", EXCEPTIONS)
@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_fault_of_any_type_costs_at_most_that_part(stage: str, exc_type: type[BaseException],
                                                           station_config: Callable[..., Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    extra, expected = STAGES[stage]
    code = expected.get(exc_type) if isinstance(expected, dict) else expected
    run = run_station(station_config(), prepare=_inject(stage, exc_type, monkeypatch))
    run.assert_accounted(PARTS + extra)
    assert run.summary.fault is None and run.elapsed_s < 30
    failsafe = [i for i in run.seen if i.verdict.failsafe]
    if code is None:
        assert failsafe == []
    else:
        assert [i.verdict.reasons[0].code for i in failsafe] == [code]
        assert plc_error(failsafe[0]) == code.plc_error
    kinds = [e["kind"] for e in run.events if e["level"] == "alarm"]
    if stage == "output":
        assert kinds == ["output_error"]
    elif stage == "camera":
        assert kinds == ["camera_error"]
        assert json.loads(run.alarms("camera_error")[0]["data"])["source"] == "camera-cam0"
    elif exc_type is Bug or stage in ("recorder", "watchdog"):  # no handler of its own: the supervisor's
        stage_alarms = run.alarms("stage_failed")
        assert len(stage_alarms) == 1 and "injected fault" in stage_alarms[0]["message"]
        assert stage_alarms[0]["message"].startswith(SUPERVISED_AS.get(stage, stage))
        assert json.loads(stage_alarms[0]["data"])["source"] == SUPERVISED_AS.get(stage, stage)
    else:  # the stage's own handler took it (a model error is a per-part inspection error)
        assert "stage_failed" not in kinds


def test_a_stage_that_keeps_failing_stops_the_station_safely(station_config: Callable[..., Any],
                                                            tmp_path: Path) -> None:
    """Every forward raises: after stage_restarts failures the station stops; every part it took has a verdict
    and a row, the PLC shows reject/fault/not ready, and the run carries a StageFailure (exit code 8)."""
    from .conftest import write_parts

    parts = write_parts(tmp_path / "many", 40)
    with ModbusSim() as sim:
        config = station_config(parts=parts, output={"kind": "modbus", "port": sim.port, **FAST_PLC})

        def rig(station: Station) -> None:
            def broken(items: Any) -> None:
                raise Bug("the model runtime is broken")

            station.detector.forward = broken  # type: ignore[union-attr]

        run = run_station(config, prepare=rig)
        assert isinstance(run.summary.fault, StageFailure) and run.summary.fault.exit_code == 8
        assert run.summary.parts == len(run.rows) == len(run.seen) < 40
        assert all(i.verdict.failsafe for i in run.seen)
        assert {i.verdict.reasons[0].code for i in run.seen} <= {ReasonCode.STAGE_FAILED, ReasonCode.STOPPED}
        assert sim.read("outputs.fault") is True and sim.read("outputs.ready") is False
        assert sim.read("outputs.reject") is True
        assert len(run.alarms("safe_stop")) == 1 and len(run.alarms("stage_failed")) == 1  # folded
        assert run.elapsed_s < 30


def test_a_lost_camera_stops_the_station_with_the_camera_exit_code(station_config: Callable[..., Any]) -> None:
    def rig(station: Station) -> None:
        camera = station.cameras[0]
        real = camera.read

        def read(timeout_s: float) -> Any:
            if camera._sequence >= 5:  # type: ignore[attr-defined]
                raise CameraError("replay camera 'cam0': the device is gone")
            return real(timeout_s)

        camera.read = read  # type: ignore[method-assign]

    run = run_station(station_config(), prepare=rig)
    run.assert_accounted(5)
    assert isinstance(run.summary.fault, CameraError) and run.summary.fault.exit_code == 4
    assert len(run.alarms("camera_error")) == 1 and len(run.alarms("safe_stop")) == 1
