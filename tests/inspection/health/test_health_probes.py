"""Line I/O and station signals from the components' health probes (inspection/health/probe.py): the PLC
output against the pymodbus PLC simulator, a viky camera without DeviceTemperature, and a real station run
on the bundled demo whose health samples carry every probed signal; the `health:` section of the station
YAML in force, and bad sections refused with errors that name the file, the key and the known signals."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inspection.adapters.registry import create_adapter
from inspection.config import HealthSection, load_station_config
from inspection.demo import demo_config_path
from inspection.domain.recipe import Recipe
from inspection.domain.types import Frame, Inspection, Verdict
from inspection.errors import ConfigError, OutputError
from inspection.health.probe import HealthProbe, poll_probes, probes_of
from inspection.health.signals import SIGNALS
from inspection.health.station import HealthListener, open_station_health
from inspection.health.store import HealthLog
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.plc_sim import free_port
from inspection.records.store import Store

FAST = {"timeout_s": 0.3, "connect_timeout_s": 0.5, "heartbeat_period_s": 0.05, "poll_period_s": 0.005,
        "reconnect_backoff_s": 0.05, "reconnect_backoff_max_s": 0.2}
PROBED = ("output_p99_ms", "plc_reconnects", "telemetry_backlog", "queue_fill", "record_backlog", "cpu_pct",
          "disk_free_gb")


def _wait(condition: Callable[[], Any], timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def _part(seq: int) -> Inspection:
    return Inspection(Frame(np.zeros((8, 8), np.uint8), "cam0", seq, time.time(), part_id=str(seq)), (),
                      Verdict.passed())


def test_every_probed_signal_is_in_the_catalogue() -> None:
    for name in (*PROBED, "camera_temp_c"):
        assert name in SIGNALS, name
        assert not SIGNALS[name].drift  # wander legitimately: warn by limit and forecast, not by drift


def test_probes_merge_the_worse_value_and_a_failing_probe_is_skipped_and_logged_once(caplog) -> None:
    def broken() -> dict[str, float]:
        raise RuntimeError("node map gone")

    failed: set[int] = set()
    probes = [lambda: {"camera_temp_c": 41.0}, broken, lambda: {"camera_temp_c": 47.5, "telemetry_backlog": 0.1}]
    with caplog.at_level(logging.WARNING, logger="inspection.health.probe"):
        assert poll_probes(probes, failed) == {"camera_temp_c": 47.5, "telemetry_backlog": 0.1}
        assert poll_probes(probes, failed) == {"camera_temp_c": 47.5, "telemetry_backlog": 0.1}
    assert [r.getMessage() for r in caplog.records].count(
        f"health probe {broken.__qualname__} failed: RuntimeError: node map gone") == 1
    assert probes_of([object(), None]) == []


@pytest.mark.plc
def test_plc_output_probe_reports_write_p99_and_reconnects_against_the_modbus_simulator() -> None:
    sim = ModbusSim().start()
    config = load_station_config(demo_config_path(), overrides={"output": {"kind": "modbus", "port": sim.port,
                                                                           **FAST}})
    output = create_adapter("output", config.output)
    assert isinstance(output, HealthProbe)
    try:
        output.open()
        assert _wait(lambda: output.connected)
        assert output.health_signals() == {"plc_reconnects": 0.0}  # no result written yet: no p99
        for seq in range(1, 41):
            output.publish(_part(seq))
        healthy = output.health_signals()
        # A loopback Modbus write: well under the request timeout, never zero.
        assert 0.0 < healthy["output_p99_ms"] < FAST["timeout_s"] * 1000.0
        assert healthy["plc_reconnects"] == 0.0
        sim.stop()  # the PLC goes away and comes back
        with pytest.raises(OutputError):
            for seq in range(41, 44):
                output.publish(_part(seq))
        sim.start()
        assert _wait(lambda: output.connected)
        assert output.health_signals()["plc_reconnects"] == 1.0
        sim.stall_s = 0.2  # a PLC under load answers late: the tail of the write times shows it
        with pytest.raises(OutputError):
            output.publish(_part(44))
        sim.stall_s = 0.0
        slow = output.health_signals()["output_p99_ms"]
        assert slow >= 150.0 and slow > 10 * healthy["output_p99_ms"]
    finally:
        output.close()
        sim.stop()


@pytest.mark.camera
def test_a_camera_without_device_temperature_leaves_the_signal_absent_not_an_error(tmp_path: Path, caplog) -> None:
    genicam = pytest.importorskip("genicam")
    from inspection.camera.genicam import Options, create

    viky = Path(genicam.__file__).parent / "viky.cti"
    if not viky.is_file():
        pytest.skip(f"viky.cti absent from {viky.parent}")
    options = Options(producers=[str(viky)], device={"serial": "0"}, pixel_format="Mono8", width=160, height=120,
                      frame_rate_hz=100, output="mono8")
    with create(options) as camera, Store(tmp_path / "s.db") as store, \
            caplog.at_level(logging.WARNING, logger="inspection.health"):
        assert isinstance(camera, HealthProbe)
        assert camera.acquirer.remote_device.node_map is not None
        assert camera.health_signals() == {}  # viky has no DeviceTemperature node
        listener = open_station_health(store, Recipe(name="r"), None, tmp_path,
                                       HealthSection(sample_every=1, station_every=1), probes_of([camera]))
        for _ in range(5):
            frame = camera.read(2.0)
            assert isinstance(frame, Frame)  # probing did not disturb the grab thread
            listener(Inspection(frame, (), Verdict.passed()))
        samples = HealthLog(store).samples()
    assert len(samples) == 5
    assert all("camera_temp_c" not in s and "cpu_pct" in s for s in samples)
    assert not [r for r in caplog.records if "probe" in r.getMessage()]


@pytest.mark.plc
@pytest.mark.slow
def test_station_run_on_the_demo_logs_every_probed_signal_with_the_configured_health_section(tmp_path: Path) -> None:
    from inspection.runtime.pipeline import Station

    broker_away = free_port()
    with ModbusSim() as sim:
        config = load_station_config(demo_config_path(), overrides={
            "cameras": [{"kind": "replay", "id": "cam0", "path": "parts/solder", "loop": True, "rate_hz": 25}],
            "output": {"kind": "modbus", "port": sim.port, **FAST},
            "telemetry": [{"kind": "mqtt", "port": broker_away, "buffer_messages": 200, "connect_timeout_s": 0.5,
                           "close_timeout_s": 0.0}],
            "health": {"sample_every": 2, "station_every": 1, "publish_every": 5, "learn_parts": 30,
                       "lam": 0.1, "limits": {"cpu_pct": 99.0, "output_p99_ms": 4.0, "camera_temp_c": 60.0}}})
        with Station(config, db_path=tmp_path / "s.db") as st:
            listener = st.health
            assert isinstance(listener, HealthListener)
            assert (listener.sample_every, listener.station_every, listener.publish_every) == (2, 1, 5)
            assert listener.monitor.config.learn_parts == 30 and listener.monitor.config.lam == 0.1
            assert listener.monitor.specs["camera_temp_c"].limit == 60.0
            summary = st.run(max_parts=50)
            assert summary.parts == 50
            samples = HealthLog(st.store).samples()  # type: ignore[arg-type]
            states = {s.name: s for s in listener.monitor.states()}
            snapshot = st.telemetry.health  # type: ignore[union-attr]
    assert len(samples) >= 15  # the listener may skip parts under load (latest-only), never the verdicts
    late = samples[len(samples) // 2:]
    for name in PROBED:
        assert all(name in s for s in late), f"{name} missing from the health samples"
    assert all("camera_temp_c" not in s for s in samples)  # a replay camera has no temperature: absent
    assert all(0.0 < s["output_p99_ms"] < FAST["timeout_s"] * 1000.0 for s in late)
    assert all(s["plc_reconnects"] == 0.0 for s in late)
    assert all(0.0 <= s["queue_fill"] <= 1.0 and 0.0 <= s["record_backlog"] <= 1.0 for s in late)
    assert all(0.0 <= s["cpu_pct"] <= 100.0 and s["disk_free_gb"] > 0.0 for s in late)
    # The broker is away: verdict messages wait in the telemetry buffer, so its backlog grows.
    backlog = [s["telemetry_backlog"] for s in samples]
    assert backlog[-1] > backlog[0] and 0.05 < backlog[-1] <= 1.0
    # The baseline was learned from the first 30 parts; the limits overridden are in force.
    assert not listener.monitor.learning
    assert states["cpu_pct"].high_limit == 99.0
    p99 = states["output_p99_ms"]
    assert p99.baseline is not None and p99.high_limit == pytest.approx(p99.baseline * 5.0)
    assert "output_p99_ms" in snapshot["signals"] and "telemetry_backlog" in snapshot["signals"]


def test_health_section_overrides_go_into_the_listener_and_monitor(tmp_path: Path) -> None:
    section = HealthSection(sample_every=3, station_every=7, publish_every=11, learn_parts=50, width=4.0,
                            limits={"disk_free_gb": 20.0, "brightness": 0.1})
    with Store(tmp_path / "s.db") as store:
        listener = open_station_health(store, Recipe(name="r"), section=section)
    assert (listener.sample_every, listener.station_every, listener.publish_every) == (3, 7, 11)
    monitor = listener.monitor
    assert monitor.config.learn_parts == 50 and monitor.config.width == 4.0 and monitor.config.lam == 0.03
    assert monitor.specs["disk_free_gb"].limit == 20.0 and monitor.specs["brightness"].limit == 0.1
    assert SIGNALS["brightness"].limit == 0.2  # the catalogue itself is untouched


def test_an_unknown_signal_in_health_limits_names_the_file_the_key_and_the_known_signals(tmp_path: Path) -> None:
    from inspection.doctor.checks import Level, config_checks
    from inspection.runtime.pipeline import Station

    path = tmp_path / "station.yaml"
    demo = demo_config_path()
    path.write_text(f"recipe: {demo.parent / 'recipes' / 'solder.yaml'}\n"
                    f"cameras:\n  - kind: replay\n    path: {demo.parent / 'parts' / 'solder'}\n"
                    f"detector:\n  kind: onnx\noutput:\n  kind: none\ndata_dir: {tmp_path / 'data'}\n"
                    "health:\n  limits:\n    focus_score: 0.3\n", encoding="utf-8")
    config = load_station_config(path)
    with pytest.raises(ConfigError) as error:
        Station(config, db_path=tmp_path / "s.db").open()
    message = str(error.value)
    assert message.startswith(f"{path}: health.limits.focus_score: unknown health signal 'focus_score'")
    assert "known signals: sharpness, brightness" in message and "camera_temp_c" in message
    health = [c for c in config_checks(path, timeout_s=0.2) if c.name == "health"]
    assert len(health) == 1 and health[0].level is Level.FAIL and "focus_score" in health[0].detail


@pytest.mark.parametrize(("health", "expected"), [
    ({"sample_evry": 5}, "health.sample_evry: unknown key"),
    ({"station_every": 0}, "health.station_every: Input should be greater than or equal to 1"),
    ({"learn_parts": 10}, "health.learn_parts: Input should be greater than or equal to 30"),
    ({"lam": 1.5}, "health.lam: Input should be less than or equal to 1"),
    ({"limits": {"cpu_pct": "high"}}, "health.limits.cpu_pct: Input should be a valid number"),
    ({"limits": {"cpu_pct": float("nan")}}, "health.limits.cpu_pct: Input should be a finite number"),
])
def test_bad_health_sections_are_refused_at_load(health: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match="^" + str(demo_config_path()).replace(".", r"\.")) as error:
        load_station_config(demo_config_path(), overrides={"health": health})
    assert expected in str(error.value)


def test_a_ratio_limit_must_be_positive(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store, pytest.raises(ConfigError, match=r"^s\.yaml: health\.limits\.sharpness: "
                                                                             r"expected a ratio limit > 0"):
        open_station_health(store, Recipe(name="r"), section=HealthSection(limits={"sharpness": -0.5}),
                            source="s.yaml")


def test_health_disabled_adds_no_listener(tmp_path: Path) -> None:
    from inspection.runtime.pipeline import Station

    config = load_station_config(demo_config_path(), overrides={"health": {"enabled": False}})
    with Station(config, db_path=tmp_path / "s.db") as st:
        assert st.health is None and not any(isinstance(x, HealthListener) for x in st.listeners)


def test_section_defaults_are_the_monitor_and_listener_defaults() -> None:
    import inspect

    from inspection.health.monitor import HealthConfig
    from inspection.health.settings import monitor_config

    assert monitor_config(HealthSection()) == HealthConfig()
    defaults = inspect.signature(HealthListener).parameters
    section = HealthSection()
    assert all(defaults[k].default == getattr(section, k) for k in ("sample_every", "station_every", "publish_every"))
    assert f"= the monitor's {HealthConfig().lam}" in HealthSection.model_fields["lam"].description  # type: ignore[operator]
    assert f"empty = {HealthConfig().width:g}" in HealthSection.model_fields["width"].description  # type: ignore[operator]
