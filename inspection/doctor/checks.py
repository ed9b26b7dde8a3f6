"""`station doctor`: is this machine ready to run the station, and if not, what exactly to do.

Every check returns a :class:`Check` (✓ ok, ! warning, ✗ failure) with the fix an operator or integrator
can act on: the Debian/Ubuntu package to install, the variable to set, the file to create. Nothing here
imports Qt: the console calls :func:`qt_checks` *before* it creates a QApplication, so a missing system
library is explained instead of ending in Qt's own abort. Every probe that can block has a timeout.
"""

from __future__ import annotations

import ctypes.util
import enum
import importlib.metadata
import importlib.util
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "QT_SYSTEM_LIBRARIES",
    "Check",
    "Level",
    "clock_checks",
    "config_checks",
    "data_checks",
    "endpoints_in",
    "format_report",
    "inference_checks",
    "int8_advice",
    "python_checks",
    "qt_checks",
    "qt_platform_ok",
    "run_doctor",
]


class Level(enum.Enum):
    OK = "✓"
    WARN = "!"
    FAIL = "✗"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the diagnosis. ``fix`` says what to do when the check is not OK."""

    area: str
    name: str
    level: Level
    detail: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.level is not Level.FAIL


def _ok(area: str, name: str, detail: str = "") -> Check:
    return Check(area, name, Level.OK, detail)


# --- Python and packages -------------------------------------------------------------------------------

DISTRIBUTION = "inspection-station"


def python_checks() -> list[Check]:
    """Python version and every (non-extra) requirement of the installed distribution."""
    from packaging.requirements import Requirement  # arrives with matplotlib (ultralytics); pip relies on it too

    checks = []
    version = ".".join(map(str, sys.version_info[:3]))
    checks.append(_ok("python", "Python", f"{version} ({sys.executable})"))  # pip enforces requires-python
    try:
        requires = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return [*checks, Check("python", DISTRIBUTION, Level.FAIL, "not installed",
                               "in the repository: python3.11 -m venv .venv && .venv/bin/pip install -e .")]
    for text in requires:
        req = Requirement(text)
        marker = str(req.marker or "")
        extra = re.search(r'extra == "([^"]+)"', marker)
        if req.marker is not None and not extra and not req.marker.evaluate():
            continue
        if extra:
            continue  # the extras (test, …) are not the line's business
        try:
            installed = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check("python", req.name, Level.FAIL, "not installed",
                                f'pip install "{req.name}{req.specifier}"'))
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            checks.append(Check("python", req.name, Level.FAIL, f"{installed}, needs {req.specifier}",
                                f'pip install "{req.name}{req.specifier}"'))
        else:
            checks.append(_ok("python", req.name, installed))
    return checks


# --- Qt ------------------------------------------------------------------------------------------------

# soname → Debian/Ubuntu package. The xcb platform plugin of Qt 6 needs all of them; offscreen needs the
# GL/fontconfig/dbus ones. This is the list a fresh desktop lacks, one by one, in Qt's abort messages.
QT_SYSTEM_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
_OFFSCREEN_LIBRARIES = ("libEGL.so.1", "libGL.so.1", "libfontconfig.so.1", "libfreetype.so.6",
                        "libdbus-1.so.3", "libglib-2.0.so.0", "libxkbcommon.so.0")


def _qt_plugin_dir() -> Path | None:
    spec = importlib.util.find_spec("PyQt6")  # finds the package without importing Qt
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "Qt6" / "plugins", root / "Qt" / "plugins"):
        if candidate.is_dir():
            return candidate
    return None


def _platform() -> str:
    """The Qt platform plugin that will be asked for (QT_QPA_PLATFORM, else xcb or wayland on Linux)."""
    requested = os.environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if requested:
        return requested
    if sys.platform != "linux":
        return {"win32": "windows", "darwin": "cocoa"}.get(sys.platform, sys.platform)
    return "wayland" if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY") else "xcb"


def _ldd_missing(path: Path, timeout_s: float = 5.0) -> list[str] | None:
    """Sonames ``path`` needs that the dynamic loader cannot find; None when ldd is not available."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=timeout_s).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})


def _library_present(soname: str) -> bool:
    name = re.sub(r"^lib|\.so.*$", "", soname)
    found = ctypes.util.find_library(name)
    if not found:
        return False
    try:  # find_library may return another version (libxcb-cursor.so.1 for .so.0): load the exact one
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def missing_qt_libraries(platform: str | None = None) -> list[str]:
    """Sonames the Qt platform plugin needs and this system lacks."""
    platform = platform or _platform()
    plugins = _qt_plugin_dir()
    plugin = plugins / "platforms" / f"libq{platform}.so" if plugins else None
    missing: set[str] = set()
    if plugin is not None and plugin.is_file():
        missing |= set(_ldd_missing(plugin) or [])
    wanted = QT_SYSTEM_LIBRARIES if platform == "xcb" else dict.fromkeys(_OFFSCREEN_LIBRARIES, "")
    missing |= {soname for soname in wanted if not _library_present(soname)}
    return sorted(missing)


def qt_checks() -> list[Check]:
    """Can the console start here: PyQt6 installed, its platform plugin present, system libraries, display."""
    if sys.platform != "linux":
        found = importlib.util.find_spec("PyQt6") is not None
        return [Check("qt", "PyQt6", Level.OK if found else Level.FAIL, "" if found else "not installed",
                      "" if found else "pip install 'inspection-station[console]'")]
    plugins = _qt_plugin_dir()
    if plugins is None:
        return [Check("qt", "PyQt6", Level.FAIL, "not installed (the console needs it)",
                      "pip install 'inspection-station[console]'  (or run the headless demo: station demo --headless)")]
    platform = _platform()
    checks = [_ok("qt", "PyQt6 plugins", str(plugins))]
    plugin = plugins / "platforms" / f"libq{platform}.so"
    if not plugin.is_file():
        available = sorted(p.stem.removeprefix("libq") for p in (plugins / "platforms").glob("libq*.so"))
        checks.append(Check("qt", f"platform plugin {platform}", Level.FAIL, "not in PyQt6's plugins",
                            f"set QT_QPA_PLATFORM to one of: {', '.join(available)}"))
        return checks
    missing = missing_qt_libraries(platform)
    if missing:
        packages = sorted({QT_SYSTEM_LIBRARIES.get(s) or _guess_package(s) for s in missing})
        checks.append(Check("qt", f"system libraries for '{platform}'", Level.FAIL, "missing " + ", ".join(missing),
                            "sudo apt install " + " ".join(packages)))
    else:
        checks.append(_ok("qt", f"system libraries for '{platform}'", "all found"))
    if platform == "xcb" and not os.environ.get("DISPLAY"):
        checks.append(Check("qt", "display", Level.FAIL, "DISPLAY is not set (no X session)",
                            "start from the desktop session, or headless: QT_QPA_PLATFORM=offscreen / "
                            "station demo --headless"))
    elif platform == "wayland" and not os.environ.get("WAYLAND_DISPLAY"):
        checks.append(Check("qt", "display", Level.FAIL, "WAYLAND_DISPLAY is not set",
                            "start from the desktop session, or set QT_QPA_PLATFORM=xcb"))
    elif platform in ("xcb", "wayland"):
        checks.append(_ok("qt", "display", os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY", "")))
    return checks


def _guess_package(soname: str) -> str:
    """Debian's naming rule for a library package: libfoo.so.1 → libfoo1, libfoo-bar.so.0 → libfoo-bar0."""
    m = re.match(r"(lib[\w+.-]+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    base, major = m.group(1).lower().replace("_", "-"), m.group(2)
    return f"{base}-{major}" if base[-1].isdigit() else f"{base}{major}"


def qt_platform_ok() -> list[Check]:
    """The failures among :func:`qt_checks` (empty when the console can start)."""
    return [c for c in qt_checks() if c.level is Level.FAIL]


# --- cameras -------------------------------------------------------------------------------------------


def _with_timeout(fn: Callable[[], Any], timeout_s: float) -> Any:
    """Run ``fn`` on a daemon thread; TimeoutError when it does not return in time (a hung driver stays
    behind on its thread instead of hanging the doctor)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # reported to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="doctor-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def viky_producer() -> Path | None:
    """The simulated GenTL producer shipped inside the genicam wheel (3 virtual cameras)."""
    spec = importlib.util.find_spec("genicam")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "viky.cti"
    return path if path.is_file() else None


def camera_checks(timeout_s: float = 10.0) -> list[Check]:
    """harvesters installed, GenTL producers on GENICAM_GENTL64_PATH (and viky.cti), devices they see."""
    if importlib.util.find_spec("harvesters") is None:
        return [Check("camera", "harvesters", Level.WARN, "not installed (GenICam cameras unavailable)",
                      'pip install "harvesters>=1.4"')]
    checks = [_ok("camera", "harvesters", importlib.metadata.version("harvesters"))]
    env = os.environ.get("GENICAM_GENTL64_PATH", "")
    producers = sorted({p.resolve() for folder in env.split(os.pathsep) if folder and Path(folder).is_dir()
                        for p in Path(folder).glob("*.cti")})
    if producers:
        checks.append(_ok("camera", "GenTL producers", ", ".join(p.name for p in producers)))
    else:
        checks.append(Check("camera", "GenTL producers", Level.WARN,
                            f"none on GENICAM_GENTL64_PATH ({env or 'unset'})",
                            "install the camera vendor's SDK (it sets GENICAM_GENTL64_PATH) or name the .cti under "
                            "'producers:' in the camera YAML"))
    viky = viky_producer()
    if viky is not None:
        producers.append(viky)
        checks.append(_ok("camera", "simulated producer", f"viky.cti ({viky.parent.name} wheel)"))
    if producers:
        from inspection.camera.gentl import list_devices

        try:
            devices = _with_timeout(lambda: list_devices(tuple(producers)), timeout_s)
        except Exception as exc:
            checks.append(Check("camera", "cameras visible", Level.FAIL, f"enumeration failed: {exc}",
                                "check the producer installation; GigE: camera and PC on one subnet, jumbo frames"))
        else:
            names = [f"{d.vendor} {d.model} {d.serial}".strip() for d in devices]
            level = Level.OK if devices else Level.WARN
            checks.append(Check("camera", "cameras visible", level, f"{len(devices)}: " + "; ".join(names),
                                "" if devices else "check cabling, power and (GigE) the subnet"))
    return checks


# --- inference devices ---------------------------------------------------------------------------------

_ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return set(line.partition(":")[2].split())


def int8_advice(flags: set[str]) -> str:
    """Whether an INT8 export is worth making for this CPU, from the measurements in docs/benchmarks.md."""
    if "amx_tile" in flags:
        return ("OpenVINO computes bf16 natively here (its default); INT8 was not faster than bf16 on such a CPU: "
                "keep the FP32 export unless `station export-model --int8` reports INT8 faster here")
    if "avx512_bf16" in flags:
        return ("OpenVINO computes bf16 natively here (its default); NNCF INT8 (`station export-model --format "
                "openvino --int8`) took 0.66-0.80x of bf16's CPU time at 320 px but only ~0.9x at 640 px on such a "
                "CPU (AVX512-VNNI, no AMX): worth it for small inputs when the golden-set gate passes")
    if "avx2" in flags:
        return ("no native bf16: OpenVINO computes f32; NNCF INT8 (`station export-model --format openvino --int8`) "
                "took about half the CPU time of f32 on such a CPU, kept only within the golden-set tolerance")
    return "no AVX2: INT8 (`station export-model --format openvino --int8`) is the fastest CPU option"


def inference_checks(timeout_s: float = 20.0) -> list[Check]:
    """CPU instruction sets, OpenVINO devices, ONNX Runtime providers, CUDA and TensorRT."""
    checks = []
    flags = cpu_flags()
    have = [f for f in _ISA_FLAGS if f in flags]
    if flags:
        level = Level.OK if "avx2" in flags else Level.WARN
        checks.append(Check("inference", "CPU instruction sets", level, " ".join(have) or "no SSE4.2/AVX",
                            "" if level is Level.OK else "no AVX2: expect slow CPU inference; export to OpenVINO INT8"))
        checks.append(_ok("inference", "INT8 on this CPU", int8_advice(flags)))
    checks.append(_ok("inference", "CPU cores", str(os.cpu_count())))
    if importlib.util.find_spec("openvino") is not None:
        try:
            devices = _with_timeout(lambda: __import__("openvino").Core().available_devices, timeout_s)
            checks.append(_ok("inference", "OpenVINO devices", ", ".join(devices)))
        except Exception as exc:
            checks.append(Check("inference", "OpenVINO devices", Level.WARN, str(exc), "reinstall openvino"))
    else:
        checks.append(Check("inference", "OpenVINO", Level.WARN, "not installed (only needed for OpenVINO models)",
                            'pip install "openvino>=2024.0"'))
    if importlib.util.find_spec("onnxruntime") is not None:
        try:
            providers = _with_timeout(lambda: __import__("onnxruntime").get_available_providers(), timeout_s)
            checks.append(_ok("inference", "ONNX Runtime providers", ", ".join(providers)))
        except Exception as exc:
            checks.append(Check("inference", "ONNX Runtime", Level.WARN, str(exc), "reinstall onnxruntime"))
    if importlib.util.find_spec("torch") is not None:
        try:
            cuda = _with_timeout(_torch_cuda, timeout_s)
        except Exception as exc:
            checks.append(Check("inference", "CUDA", Level.WARN, f"torch failed: {exc}", "reinstall torch"))
        else:
            checks.append(_ok("inference", "CUDA", cuda) if cuda != "none" else
                          Check("inference", "CUDA", Level.OK, "no CUDA device: the CPU runs the models"))
    if importlib.util.find_spec("tensorrt") is not None:
        checks.append(_ok("inference", "TensorRT", importlib.metadata.version("tensorrt")))
    elif shutil.which("nvidia-smi"):
        checks.append(Check("inference", "TensorRT", Level.WARN, "NVIDIA GPU present, TensorRT not installed",
                            "pip install tensorrt (optional: fastest engine on NVIDIA GPUs)"))
    return checks


def _torch_cuda() -> str:
    import torch

    if not torch.cuda.is_available():
        return "none"
    return ", ".join(f"{i}: {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count()))


# --- data folder, database, clock ----------------------------------------------------------------------

MIN_FREE_MB = 1024


def data_checks(data_dir: Path, db_path: Path | None = None, min_free_mb: int = MIN_FREE_MB,
                timeout_s: float = 10.0) -> list[Check]:
    """The data folder exists (or can be made), is writable and has room; the database passes quick_check."""
    checks = []
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".doctor-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
        checks.append(_ok("data", "data folder writable", str(data_dir)))
    except OSError as exc:
        checks.append(Check("data", "data folder writable", Level.FAIL, f"{data_dir}: {exc.strerror or exc}",
                            "give the station user write access, or set data_dir (or STATION_DATA_DIR)"))
        return checks
    free_mb = shutil.disk_usage(data_dir).free // 2**20
    level = Level.OK if free_mb >= min_free_mb else Level.WARN if free_mb >= min_free_mb // 4 else Level.FAIL
    checks.append(Check("data", "free space", level, f"{free_mb:,} MB free (want ≥ {min_free_mb:,} MB)",
                        "" if level is Level.OK else "free disk space or move data_dir to a larger disk"))
    db = db_path or data_dir / "station.db"
    if not db.exists():
        checks.append(_ok("data", "database", f"{db} (not created yet)"))
        return checks
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=timeout_s) as con:
            result = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        con.close()
    except sqlite3.Error as exc:
        checks.append(Check("data", "database", Level.FAIL, f"{db}: {exc}",
                            "stop the station, copy the file aside and restore the last backup"))
        return checks
    if result == ["ok"]:
        checks.append(_ok("data", "database integrity", f"{db}: ok"))
    else:
        checks.append(Check("data", "database integrity", Level.FAIL, f"{db}: {'; '.join(result[:3])}",
                            "stop the station; sqlite3 station.db '.recover' > fixed.sql, or restore a backup"))
    return checks


def clock_checks(now: float | None = None) -> list[Check]:
    """The wall clock is plausible and (where systemd says so) synchronised: verdict timestamps depend on it."""
    now = time.time() if now is None else now
    checks = []
    year = time.gmtime(now).tm_year
    if year < 2024:
        checks.append(Check("clock", "system time", Level.FAIL, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now)),
                            "set the clock (timedatectl set-ntp true, or the BIOS clock battery)"))
    else:
        checks.append(_ok("clock", "system time", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
                          + f", zone {time.strftime('%Z')}"))
    timedatectl = shutil.which("timedatectl")
    if timedatectl:
        try:
            out = subprocess.run([timedatectl, "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                                 text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out == "yes":
            checks.append(_ok("clock", "NTP", "synchronised"))
        elif out == "no":
            checks.append(Check("clock", "NTP", Level.WARN, "not synchronised",
                                "sudo timedatectl set-ntp true (or point chrony at the plant's time server)"))
    return checks


# --- configured peers ----------------------------------------------------------------------------------

_DEFAULT_PORTS = {"opc.tcp": 4840, "mqtt": 1883, "mqtts": 8883, "postgresql": 5432, "postgres": 5432,
                  "http": 80, "https": 443, "modbus": 502, "s7": 102, "tcp": None}


@dataclass(frozen=True, slots=True)
class Endpoint:
    where: str  # the key path in the YAML
    host: str
    port: int


def endpoints_in(data: Any, where: str = "") -> Iterator[Endpoint]:
    """Every network peer a station YAML names: `host`+`port` pairs and URLs (opc.tcp://, mqtt://,
    postgresql://, http(s)://), whatever section they are in, so sections added later are checked too."""
    if isinstance(data, dict):
        host = data.get("host") or data.get("address") or data.get("ip")
        kind = str(data.get("kind", ""))
        port = data.get("port") or _DEFAULT_PORTS.get(kind)
        if isinstance(host, str) and isinstance(port, int):
            yield Endpoint(where or "/", host, port)
        for key, value in data.items():
            yield from endpoints_in(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from endpoints_in(value, f"{where}[{i}]")
    elif isinstance(data, str) and "://" in data:
        try:
            url = urlsplit(data)
            port = url.port or _DEFAULT_PORTS.get(url.scheme.split("+")[0])
        except ValueError:
            return
        if url.hostname and port:
            yield Endpoint(where, url.hostname, port)


def _plain(value: Any) -> Any:
    """A config as dicts and lists, each adapter section with its own fields (a parent's model_dump knows
    only the declared base type of a section, so a PLC's default host would be lost)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return {k: _plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _unique(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    out: dict[tuple[str, int], Endpoint] = {}
    for e in endpoints:
        out.setdefault((e.host, e.port), e)
    return list(out.values())


def reachable(endpoint: Endpoint, timeout_s: float) -> str | None:
    """None when a TCP connection opens within the timeout, else why not."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def config_checks(config_path: Path, timeout_s: float = 3.0) -> list[Check]:
    """The station YAML loads; every camera opens (GenTL producers, devices), every peer is reachable."""
    from inspection.config import load_station_config, read_yaml
    from inspection.errors import StationError

    try:
        config = load_station_config(config_path)
    except StationError as exc:
        return [Check("config", str(config_path), Level.FAIL, str(exc), "fix the file (station config-reference)")]
    checks = [_ok("config", str(config_path), f"station {config.name}: {len(config.cameras)} camera(s)")]
    from inspection.health.settings import signal_specs  # health.limits name the health catalogue's signals

    try:
        signal_specs(config.health, config_path)
    except StationError as exc:
        checks.append(Check("config", "health", Level.FAIL, str(exc), "fix health.limits (docs/health.md)"))
    for camera in config.cameras:
        checks.append(_camera_config_check(camera, timeout_s * 3))
    # The validated config (adapter defaults filled in, e.g. a PLC's host) and the raw file (sections this
    # module does not know yet), each peer once.
    for endpoint in _unique([*endpoints_in(_plain(config)), *endpoints_in(read_yaml(config_path))]):
        why = reachable(endpoint, timeout_s)
        name = f"{endpoint.where} {endpoint.host}:{endpoint.port}"
        checks.append(_ok("config", name, "reachable") if why is None else Check(
            "config", name, Level.FAIL, f"unreachable: {why}",
            "check the address, that the peer runs, and the firewall / cell network (docs/security.md)"))
    registry = config.registry_dir
    if config.model_registry is not None:
        checks.append(_ok("config", "model registry", str(registry)) if registry.is_dir() else Check(
            "config", "model registry", Level.FAIL, f"{registry} does not exist",
            "create it with station models register, or fix model_registry:"))
    checks += data_checks(config.data_dir, config.db_path, timeout_s=timeout_s)
    return checks


def _camera_config_check(camera: Any, timeout_s: float) -> Check:
    cam_id = getattr(camera, "id", None) or camera.kind
    name = f"camera {cam_id} ({camera.kind})"
    path = getattr(camera, "path", None)
    if camera.kind == "replay":
        ok = path is not None and Path(path).exists()
        return _ok("config", name, str(path)) if ok else Check("config", name, Level.FAIL, f"{path} does not exist",
                                                                 "fix path: in the camera section")
    if camera.kind == "genicam":
        from inspection.camera.gentl import list_devices, resolve_producers

        try:
            producers = resolve_producers(camera)
            devices = _with_timeout(lambda: list_devices(producers), timeout_s)
        except Exception as exc:
            return Check("config", name, Level.FAIL, str(exc), "station cameras --config … lists what is visible")
        serial = getattr(camera, "serial", None) or getattr(camera, "serial_number", None)
        if serial and not any(d.serial == str(serial) for d in devices):
            return Check("config", name, Level.FAIL, f"serial {serial} not among {[d.serial for d in devices]}",
                         "check cabling/power, or the serial in the camera YAML")
        if not devices:
            return Check("config", name, Level.FAIL, "no device visible", "check cabling, power and subnet")
        return _ok("config", name, f"{len(devices)} device(s) visible")
    return _ok("config", name, "configured")


# --- the whole diagnosis -------------------------------------------------------------------------------


def run_doctor(config_path: Path | None = None, data_dir: Path | None = None,
               sections: Iterable[str] = ("python", "qt", "camera", "inference", "data", "clock")) -> list[Check]:
    """Every check, in the order of the report."""
    from inspection.config import default_data_dir

    wanted = set(sections)
    checks: list[Check] = []
    if "python" in wanted:
        checks += python_checks()
    if "qt" in wanted:
        checks += qt_checks()
    if "camera" in wanted:
        checks += camera_checks()
    if "inference" in wanted:
        checks += inference_checks()
    if "data" in wanted and config_path is None:
        checks += data_checks(data_dir or default_data_dir())
    if "clock" in wanted:
        checks += clock_checks()
    if config_path is not None:
        checks += config_checks(config_path)
    return checks


AREA_TITLES = {"python": "Python and packages", "qt": "Console (Qt)", "camera": "Cameras (GenTL)",
               "inference": "Inference devices", "data": "Data folder and database", "clock": "Clock",
               "config": "Configured peers"}


def format_report(checks: list[Check], colour: Callable[[str, Level], str] = lambda s, _level: s) -> str:
    """The human report: a heading per area, one ✓/!/✗ line per check, the fix indented under it."""
    lines: list[str] = []
    area = None
    for check in checks:
        if check.area != area:
            area = check.area
            lines += ["", AREA_TITLES.get(area, area)] if lines else [AREA_TITLES.get(area, area)]
        text = f"  {check.level.value} {check.name}" + (f": {check.detail}" if check.detail else "")
        lines.append(colour(text, check.level))
        if check.fix and check.level is not Level.OK:
            lines.append(f"      → {check.fix}")
    failed = sum(c.level is Level.FAIL for c in checks)
    warned = sum(c.level is Level.WARN for c in checks)
    lines += ["", f"{failed} failed, {warned} warning(s), {len(checks) - failed - warned} ok"]
    return "\n".join(lines)
