"""`station doctor` against the real machine, real files and real peers on 127.0.0.1."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.cli import station
from inspection.doctor.checks import (
    QT_SYSTEM_LIBRARIES,
    Check,
    Level,
    _guess_package,
    _library_present,
    clock_checks,
    config_checks,
    data_checks,
    endpoints_in,
    format_report,
    int8_advice,
    qt_checks,
)
from inspection.outputs.modbus_sim import ModbusSim
from inspection.outputs.plc_sim import free_port


def test_the_issue_s_packages_are_named() -> None:
    packages = set(QT_SYSTEM_LIBRARIES.values())
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-render-util0",
            "libxkbcommon-x11-0", "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3"} <= packages
    assert _guess_package("libxcb-foo.so.2") == "libxcb-foo2" and _guess_package("libbar1.so.3") == "libbar1-3"


def test_xcb_without_display_or_libraries_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    checks = {c.name: c for c in qt_checks()}
    assert checks["display"].level is Level.FAIL and "QT_QPA_PLATFORM=offscreen" in checks["display"].fix
    libraries = checks["system libraries for 'xcb'"]
    missing = [s for s in QT_SYSTEM_LIBRARIES if not _library_present(s)]
    if missing:  # this machine lacks some (a fresh container does): each is named with its package
        assert libraries.level is Level.FAIL
        assert all(QT_SYSTEM_LIBRARIES[s] in libraries.fix for s in missing), libraries
        assert libraries.fix.startswith("sudo apt install ")
    else:
        assert libraries.level is Level.OK


def test_offscreen_qt_is_ready_here_and_an_unknown_platform_lists_the_real_ones(monkeypatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert all(c.ok for c in qt_checks())
    monkeypatch.setenv("QT_QPA_PLATFORM", "nosuchplatform")
    failed = [c for c in qt_checks() if not c.ok]
    assert failed and "offscreen" in failed[0].fix


def test_data_folder_database_and_free_space(tmp_path: Path) -> None:
    assert all(c.ok for c in data_checks(tmp_path / "new"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad = data_checks(blocker / "data")
    assert bad[0].level is Level.FAIL and "STATION_DATA_DIR" in bad[0].fix
    db = tmp_path / "station.db"
    with sqlite3.connect(db) as con:
        con.execute("create table t (x)")
    con.close()
    assert data_checks(tmp_path)[-1].detail.endswith(": ok")
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    assert data_checks(tmp_path)[-1].level is Level.FAIL
    huge = data_checks(tmp_path / "new", min_free_mb=10**12)
    assert [c.level for c in huge if c.name == "free space"] == [Level.FAIL]


def test_clock() -> None:
    assert clock_checks(now=0)[0].level is Level.FAIL
    assert clock_checks()[0].level is Level.OK


def test_endpoints_are_found_wherever_a_section_names_them() -> None:
    raw = {"output": {"kind": "modbus", "host": "10.0.0.5", "port": 502},
           "telemetry": [{"kind": "mqtt", "url": "mqtts://broker.plant:8883"}],
           "central": {"dsn": "postgresql://u@db.plant/verdicts"},
           "registry": {"uri": "http://mlflow.plant:5000"}, "note": "no url here"}
    found = {(e.where, e.host, e.port) for e in endpoints_in(raw)}
    assert found == {("output", "10.0.0.5", 502), ("telemetry[0].url", "broker.plant", 8883),
                     ("central.dsn", "db.plant", 5432), ("registry.uri", "mlflow.plant", 5000)}


def _station_yaml(tmp_path: Path, output: str) -> Path:
    (tmp_path / "recipe.yaml").write_text("name: doctor\n")
    (tmp_path / "parts").mkdir()
    path = tmp_path / "station.yaml"
    path.write_text(f"recipe: recipe.yaml\ndata_dir: {tmp_path / 'data'}\ncameras:\n  - kind: replay\n"
                    f"    path: parts\n  - kind: replay\n    id: gone\n    path: nowhere\n"
                    f"detector:\n  kind: ultralytics\n  model: m.pt\noutput:\n{output}")
    return path


@pytest.mark.plc
def test_config_peers_are_reached_with_a_timeout(tmp_path: Path) -> None:
    sim = ModbusSim().start()
    try:
        path = _station_yaml(tmp_path, f"  kind: modbus\n  port: {sim.port}\n")
        checks = config_checks(path, timeout_s=2)
    finally:
        sim.stop()
    by_name = {c.name: c for c in checks}
    assert by_name[f"output 127.0.0.1:{sim.port}"].level is Level.OK
    assert by_name["camera gone (replay)"].level is Level.FAIL
    closed = free_port()
    (tmp_path / "b").mkdir()
    checks = config_checks(_station_yaml(tmp_path / "b", f"  kind: modbus\n  port: {closed}\n"), timeout_s=2)
    peer = next(c for c in checks if c.name == f"output 127.0.0.1:{closed}")
    assert peer.level is Level.FAIL and "unreachable" in peer.detail


def test_cli_exit_code_follows_required_failures(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(station, ["doctor", "--skip", "qt", "--skip", "camera", "--skip", "inference",
                                 "--data-dir", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "✓ data folder writable" in ok.output and "Python and packages" in ok.output
    (tmp_path / "file").write_text("x")
    bad = runner.invoke(station, ["doctor", "--skip", "qt", "--skip", "camera", "--skip", "inference",
                                  "--data-dir", str(tmp_path / "file" / "data")])
    assert bad.exit_code == 1 and "✗ data folder writable" in bad.output and "→ give the station user" in bad.output


def test_report_format() -> None:
    text = format_report([Check("qt", "display", Level.FAIL, "unset", "do this"), Check("clock", "t", Level.OK)])
    assert text.splitlines()[:3] == ["Console (Qt)", "  ✗ display: unset", "      → do this"]
    assert text.endswith("1 failed, 0 warning(s), 1 ok")


def test_a_listening_socket_counts_as_reachable() -> None:
    from inspection.doctor.checks import Endpoint, reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert reachable(Endpoint("x", "127.0.0.1", server.getsockname()[1]), 1.0) is None


@pytest.mark.parametrize(("flags", "expected"), [
    ({"avx2", "avx512f", "avx512_bf16", "amx_tile"}, "INT8 was not faster than bf16"),  # Sapphire Rapids
    ({"avx2", "avx512f", "avx512_bf16", "avx512_vnni"}, "0.66-0.80x of bf16's CPU time"),  # AMD Zen 4
    ({"avx2", "fma"}, "about half the CPU time of f32"),  # AMD Zen 3: measured 2026-12-06
    ({"sse4_2"}, "no AVX2"),
])
def test_int8_advice_follows_the_measurements(flags: set[str], expected: str) -> None:
    assert expected in int8_advice(flags)
