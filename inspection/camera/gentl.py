"""GenTL producers and devices, shared by every GenICam adapter in the process (cameras, output lines).

A GenTL producer library is loaded once per process (a second harvesters Harvester over the same
.cti sees no devices) and Harvester.update() destroys every acquirer, so everything that opens a
GenICam device goes through the one `pool` here.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspection.camera.genicam_options import ENV_PRODUCER_PATH
from inspection.errors import CameraError, ConfigError

if TYPE_CHECKING:
    from inspection.camera.genicam_options import DeviceSelector, Options

__all__ = [
    "ENV_PRODUCER_PATH",
    "GENTL_ENTRY_POINTS",
    "DeviceDescription",
    "HarvesterPool",
    "list_devices",
    "pool",
    "resolve_producers",
    "select_device",
]

log = logging.getLogger(__name__)
# harvesters logs every expected failure (a lost device, a fetch timeout) with a traceback; the adapters
# report those themselves with the camera's name, so the library's own log stays quiet unless asked for.
HARVESTERS_LOG = logging.getLogger("inspection.camera.harvesters")
HARVESTERS_LOG.setLevel(logging.CRITICAL)

_PLATFORM = {"linux": "linux", "win32": "windows", "darwin": "darwin"}.get(sys.platform, sys.platform)


# --- producers and devices --------------------------------------------------------------------------


def resolve_producers(options: Options | None = None) -> tuple[Path, ...]:
    """The .cti files to load: from the options, else every .cti in $GENICAM_GENTL64_PATH's folders.
    A named file that does not exist is an error naming it."""
    named: tuple[Path, ...] = ()
    if options is not None:
        named = options.producers.get(_PLATFORM, ()) if isinstance(options.producers, dict) else options.producers
        if isinstance(options.producers, dict) and not named:
            raise ConfigError(
                f"camera {options.id!r}: producers: no entry for this OS ({_PLATFORM}); add "
                f"'{_PLATFORM}: [path/to/producer.cti]' or set {ENV_PRODUCER_PATH}"
            )
    if named:
        for path in named:
            if not path.is_file():
                raise ConfigError(
                    f"GenTL producer {path} does not exist; install the camera vendor's SDK or fix the path "
                    f"under 'producers:' in the camera YAML"
                )
        return tuple(named)
    env = os.environ.get(ENV_PRODUCER_PATH, "")
    folders = [Path(p) for p in env.split(os.pathsep) if p.strip()]
    found = sorted({p.resolve() for folder in folders if folder.is_dir() for p in folder.glob("*.cti")})
    if not found:
        raise ConfigError(
            f"no GenTL producer: name the .cti file(s) under 'producers:' in the camera YAML, or set "
            f"{ENV_PRODUCER_PATH} to the folder(s) holding them (now {env or 'unset'!r})"
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    vendor: str
    model: str
    serial: str
    interface: str
    user_id: str
    device_id: str

    def line(self) -> str:
        """The `station cameras` line: vendor, model, serial, interface, tab-separated."""
        return "\t".join((self.vendor, self.model, self.serial, self.interface))


def _info(info: Any, name: str) -> str:
    try:
        value = getattr(info, name)
    except Exception:  # a producer may not implement every info query
        return ""
    return "" if value is None else str(value)


def _describe(info: Any) -> DeviceDescription:
    try:
        interface = f"{_info(info, 'tl_type')}:{_info(info.parent, 'id_')}"
    except Exception:
        interface = _info(info, "tl_type")
    return DeviceDescription(_info(info, "vendor"), _info(info, "model"), _info(info, "serial_number"),
                             interface, _info(info, "user_defined_name"), _info(info, "id_"))


class HarvesterPool:
    """One harvesters.Harvester per process, shared by every camera: a GenTL producer library is
    loaded once per process (a second Harvester over the same .cti sees no devices), and
    Harvester.update() destroys every acquirer, so device lists are only refreshed while no camera
    is open. `lock` serialises creating and destroying acquirers."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._harvester: Any = None
        self._files: tuple[str, ...] = ()
        self._users = 0

    @contextmanager
    def session(self, producers: tuple[Path, ...]) -> Iterator[Any]:
        """`with pool.session(files) as harvester:` — the harvester stays loaded while any user holds it."""
        harvester = self.acquire(producers)
        try:
            yield harvester
        finally:
            self.release()

    def acquire(self, producers: tuple[Path, ...]) -> Any:
        files = tuple(str(p) for p in producers)
        with self.lock:
            loaded = {os.path.realpath(f) for f in self._files}  # one file, however it was named
            missing = [f for f in files if os.path.realpath(f) not in loaded]
            if self._harvester is not None and missing:
                if self._users:
                    raise CameraError(
                        f"GenTL producer(s) {', '.join(missing)} cannot be loaded while cameras using "
                        f"{', '.join(self._files)} are open; list the same producers for every camera of the "
                        f"station (or use {ENV_PRODUCER_PATH})"
                    )
                self._reset()
            if self._harvester is None:
                self._harvester = self._load(files)
                self._files = files
            self._users += 1
            return self._harvester

    def release(self) -> None:
        with self.lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                self._reset()

    def refresh(self) -> bool:
        """Re-enumerate devices (only safe with no open camera; returns whether it ran)."""
        with self.lock:
            if self._harvester is None or self._users > 1 or self._harvester.image_acquirers:
                return False
            self._harvester.update()
            return True

    def _reset(self) -> None:
        if self._harvester is not None:
            self._harvester.reset()
        self._harvester, self._files = None, ()

    @staticmethod
    def _load(files: tuple[str, ...]) -> Any:
        from harvesters.core import Harvester

        for file in files:
            _check_producer_library(file)
        harvester = Harvester(logger=HARVESTERS_LOG)
        for file in files:
            harvester.add_file(file)
        harvester.update()
        loaded = {str(getattr(p, "path_name", "")) for p in getattr(harvester, "_producers", [])}
        failed = [f for f in files if f not in loaded and os.path.realpath(f) not in
                  {os.path.realpath(x) for x in loaded if x}]
        if failed:
            harvester.reset()
            raise CameraError(
                f"GenTL producer {', '.join(failed)} failed to load (not a GenTL producer, or its SDK is not "
                f"installed completely); check the file with the vendor's viewer or reinstall the SDK"
            )
        return harvester


pool = HarvesterPool()

GENTL_ENTRY_POINTS = ("GCInitLib", "GCGetInfo", "TLOpen", "IFOpenDevice", "DSAnnounceBuffer")


def _check_producer_trust(file: str) -> None:
    """A producer is native code that runs inside the station as soon as it is loaded. Like ssh with a key
    file, refuse one that an account other than root or the station's own could have put there: owned by
    someone else, or writable by group or others (the file or its folder). POSIX only."""
    if os.name != "posix":
        return
    real = Path(file).resolve()
    for path in (real, real.parent):
        info = path.stat()
        if info.st_uid not in (0, os.getuid()):
            raise CameraError(f"GenTL producer {file} refused: {path} belongs to user id {info.st_uid}, not to "
                              "root or the station's user; a producer is native code loaded into the station: "
                              "install the vendor SDK as root (or as the station's user)")
        if info.st_mode & 0o022:
            raise CameraError(f"GenTL producer {file} refused: {path} is writable by group or others (mode "
                              f"{stat.filemode(info.st_mode)}), so anyone could replace the code the station "
                              f"loads: chmod go-w {path}")


def _check_producer_library(file: str) -> None:
    """Load the file as a shared library and look for the GenTL entry points first: the genicam
    binding crashes the whole process when asked to open a library that is not a producer."""
    _check_producer_trust(file)
    try:
        library = ctypes.CDLL(file)
    except OSError as exc:
        raise CameraError(
            f"GenTL producer {file} cannot be loaded ({exc}); it must be the 64-bit .cti of the camera "
            f"vendor's SDK for this OS"
        ) from None
    missing = [name for name in GENTL_ENTRY_POINTS if not hasattr(library, name)]
    if missing:
        raise CameraError(
            f"GenTL producer {file} failed to load: it is a shared library but not a GenTL producer (no "
            f"{', '.join(missing)}); point 'producers:' at the vendor's .cti file"
        )


def list_devices(producers: tuple[Path, ...]) -> list[DeviceDescription]:
    """What the producers see: one DeviceDescription per device."""
    with pool.session(producers) as harvester:
        return [_describe(info) for info in harvester.device_info_list]


def select_device(devices: list[DeviceDescription], selector: DeviceSelector, producers: tuple[Path, ...]) -> int:
    seen = "; ".join(f"[{i}] {d.vendor} {d.model} serial={d.serial!r} user_id={d.user_id!r} id={d.device_id!r}"
                     for i, d in enumerate(devices)) or "none"
    where = ", ".join(str(p) for p in producers)
    if selector.index is not None and selector.index >= len(devices):
        raise CameraError(f"device: index {selector.index} but the producers ({where}) see {len(devices)} "
                          f"device(s): {seen}")
    wanted = {"serial": selector.serial, "user_id": selector.user_id, "model": selector.model,
              "vendor": selector.vendor, "device_id": selector.device_id}
    matches = [i for i, d in enumerate(devices)
               if all(v is None or getattr(d, k) == v for k, v in wanted.items())
               and (selector.index is None or i == selector.index)]
    if not matches:
        raise CameraError(f"device: no device matches {selector.describe()}; the producers ({where}) see: {seen}")
    if len(matches) > 1 and any(v is not None for v in wanted.values()):
        raise CameraError(f"device: {len(matches)} devices match {selector.describe()}; add 'serial:' to pick "
                          f"one. Seen: {seen}")
    return matches[0]


_select_index = select_device  # the name inspection.outputs.genicam_line uses


def _destroy(harvester: Any, ia: Any) -> None:
    try:
        ia.destroy()
    except Exception as exc:
        log.debug("destroying an acquirer failed: %s", exc)
    acquirers = getattr(harvester, "image_acquirers", None)
    if acquirers is not None and ia in acquirers:
        acquirers.remove(ia)  # harvesters keeps destroyed acquirers listed forever otherwise


def _sigint_handler() -> Any:
    """harvesters installs a SIGINT handler that destroys the acquirer; the station keeps its own."""
    if threading.current_thread() is threading.main_thread():
        return signal.getsignal(signal.SIGINT)
    return None


def _restore_sigint(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)

