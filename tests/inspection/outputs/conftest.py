"""Fixtures for the PLC tests: real protocol servers on 127.0.0.1 (free ports) and Inspection builders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from inspection.domain.types import Box, Detection, Frame, Inspection, Reason, Verdict, VerdictStatus
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.opcua_sim import OpcUaSim
from inspection.outputs.s7_sim import S7Sim

# Short timeouts so fail-safe and reconnect paths run in well under a second each.
FAST = {"timeout_s": 0.3, "connect_timeout_s": 0.5, "heartbeat_period_s": 0.05, "poll_period_s": 0.005,
        "reconnect_backoff_s": 0.05, "reconnect_backoff_max_s": 0.2}


_OURS = ("plc-", "opcua-client", "modbus-sim", "genicam-line", "opcua-station-server")


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Every output and simulator a test opens must be closed by it (threads end with close())."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        leaked = [t.name for t in set(threading.enumerate()) - before if t.is_alive() and t.name.startswith(_OURS)]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture
def fast() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture
def wait_until() -> Callable[..., bool]:
    """Poll a condition (the PLC side is asynchronous); returns the final truth value for the assert."""

    def wait(condition: Callable[[], Any], timeout_s: float = 5.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if condition():
                return True
            time.sleep(0.005)
        return bool(condition())

    return wait


@pytest.fixture
def inspection() -> Callable[..., Inspection]:
    """inspection(seq, status="PASS", part_id=None, classes=(), class_ids=(), failsafe_code=None)."""
    image = np.zeros((8, 8), np.uint8)

    def make(seq: int, status: str = "PASS", part_id: str | None = None, classes: tuple[str, ...] = (),
             class_ids: tuple[int, ...] = (), failsafe_code: str | None = None,
             timestamp_s: float | None = None) -> Inspection:
        defects = tuple(Detection(name, 0.9, Box(0, 0, 4, 4), class_id=cid)
                        for name, cid in zip(classes, class_ids or (-1,) * len(classes), strict=True))
        if failsafe_code is not None:
            verdict = Verdict.error(failsafe_code, "could not be inspected")
        elif status == "PASS":
            verdict = Verdict.passed()
        else:
            verdict = Verdict(VerdictStatus(status), (Reason("defect", "defect found"),))
        frame = Frame(image, "cam0", seq, time.time() if timestamp_s is None else timestamp_s, part_id=part_id)
        return Inspection(frame, defects, verdict, defects, recipe="test")

    return make


@pytest.fixture
def modbus_plc() -> Iterator[ModbusSim]:
    with ModbusSim() as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture
def s7_plc() -> Iterator[S7Sim]:
    with S7Sim() as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture(scope="module")
def opcua_plc() -> Iterator[OpcUaSim]:
    """One asyncua server per module: it takes seconds to start on a loaded machine."""
    sim = OpcUaSim()
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
