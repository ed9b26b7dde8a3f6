"""Writing GenICam feature values (nodes) in a defined order, with errors that name the node.

Order (docs/cameras.md explains why): AcquisitionStop → `setup:` pairs → PixelFormat → ROI (offsets
to 0, Width, Height, OffsetX, OffsetY) → AcquisitionFrameRate → ExposureTime → Gain → trigger nodes →
`features:` pairs. A node the camera does not have, a value outside the node's range or not among its
entries, or a node that is read-only now: each is a ConfigError naming the camera, the node, the value
and what the camera accepts.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from inspection.camera.genicam_options import FeatureValue
from inspection.errors import ConfigError

if TYPE_CHECKING:
    from inspection.camera.genicam_options import Options
    from inspection.camera.gentl import DeviceDescription

__all__ = ["FeatureValue", "apply_settings", "describe_device", "device_temperature", "set_node", "settings_plan"]

log = logging.getLogger(__name__)


# GenApi EAccessMode values.
_ACCESS = {0: "not implemented", 1: "not available", 2: "write-only", 3: "read-only", 4: "read-write"}


def describe_device(camera_id: str, device: DeviceDescription | None) -> str:
    if device is None:
        return f"camera {camera_id!r}"
    return f"camera {camera_id!r} ({device.vendor} {device.model}, serial {device.serial!r})"


def settings_plan(options: Options) -> list[tuple[str, str, FeatureValue, bool]]:
    """(step, node, value, optional) in the order they are written. `optional` nodes are skipped when
    the camera lacks them (ExposureAuto on a camera without auto exposure); others must exist."""
    plan: list[tuple[str, str, FeatureValue, bool]] = [("setup", n, v, False) for n, v in options.setup]
    if options.pixel_format is not None:
        plan.append(("format", "PixelFormat", options.pixel_format, False))
    # Offsets first to 0 so a larger Width fits, then the size, then the wanted offsets.
    if options.offset_x is not None:
        plan.append(("roi", "OffsetX", 0, False))
    if options.offset_y is not None:
        plan.append(("roi", "OffsetY", 0, False))
    if options.width is not None:
        plan.append(("roi", "Width", options.width, False))
    if options.height is not None:
        plan.append(("roi", "Height", options.height, False))
    if options.offset_x is not None:
        plan.append(("roi", "OffsetX", options.offset_x, False))
    if options.offset_y is not None:
        plan.append(("roi", "OffsetY", options.offset_y, False))
    if options.frame_rate_hz is not None:
        plan += [("rate", "AcquisitionFrameRateEnable", True, True),
                 ("rate", "AcquisitionFrameRate", options.frame_rate_hz, False)]
    if options.exposure_us is not None:
        plan += [("exposure", "ExposureAuto", "Off", True), ("exposure", "ExposureTime", options.exposure_us, False)]
    if options.gain_db is not None:
        plan += [("gain", "GainAuto", "Off", True), ("gain", "Gain", options.gain_db, False)]
    plan += _trigger_plan(options)
    plan += [("features", n, v, False) for n, v in options.features]
    return plan


def _trigger_plan(options: Options) -> list[tuple[str, str, FeatureValue, bool]]:
    trigger = options.trigger
    if trigger.mode == "free_run":
        # Cameras without trigger nodes (viky) stream freely anyway; others must be told.
        return [("trigger", "TriggerSelector", trigger.selector, True), ("trigger", "TriggerMode", "Off", True)]
    source = trigger.source or ("Software" if trigger.mode == "software" else "Line0")
    plan: list[tuple[str, str, FeatureValue, bool]] = [
        ("trigger", "TriggerSelector", trigger.selector, True),
        ("trigger", "TriggerMode", "On", False),
        ("trigger", "TriggerSource", source, False),
    ]
    if trigger.activation is not None:
        plan.append(("trigger", "TriggerActivation", trigger.activation, False))
    if trigger.delay_us is not None:
        plan.append(("trigger", "TriggerDelay", trigger.delay_us, False))
    if trigger.mode == "software":
        plan.append(("trigger", "TriggerSoftware", "__exists__", False))
    return plan


def apply_settings(node_map: Any, options: Options, where: str) -> None:
    """Stop any acquisition the camera was left in, then write every planned value in order."""
    try:
        node_map.AcquisitionStop.execute()
    except Exception as exc:  # not streaming, or no such command: nothing to stop
        log.debug("%s: AcquisitionStop: %s", where, exc)
    for step, name, value, optional in settings_plan(options):
        if optional and not has_node(node_map, name):
            continue
        if value == "__exists__":
            _node(node_map, name, where, step)
            continue
        set_node(node_map, name, value, where, step)


def has_node(node_map: Any, name: str) -> bool:
    try:
        node_map.get_node(name)
    except Exception:
        return False
    return True


def device_temperature(node_map: Any) -> float | None:
    """`DeviceTemperature` (°C, SFNC) where the device exposes it; None otherwise (no node, not readable now,
    not a number): a camera without a sensor is not an error."""
    try:
        value = float(node_map.DeviceTemperature.value)
    except Exception:
        return None
    return value if math.isfinite(value) else None


def _node(node_map: Any, name: str, where: str, step: str) -> Any:
    try:
        return node_map.get_node(name)
    except Exception:
        hint = " (viky and many simple cameras have no trigger; use trigger: {mode: free_run})" \
            if step == "trigger" else ""
        raise ConfigError(f"{where}: node {name!r} does not exist on this camera (step {step!r}){hint}; "
                          f"remove it from the camera YAML or use the camera's own name for the feature") from None


def set_node(node_map: Any, name: str, value: FeatureValue, where: str, step: str = "features") -> None:
    """Write one node, checking the value against what the camera accepts first."""
    node = _node(node_map, name, where, step)
    kind = type(node).__name__
    _check_writable(node, name, where)
    try:
        if kind == "ICommand":
            if value not in (True, "execute", "Execute"):
                raise ConfigError(f"{where}: node {name!r} is a command; write 'execute' to run it, got {value!r}")
            node.execute()
        elif kind == "IEnumeration":
            entries = tuple(node.symbolics)
            if isinstance(value, bool):  # YAML 1.1 reads an unquoted Off/On as a boolean
                value = "On" if value else "Off"
            if str(value) not in entries:
                raise ConfigError(f"{where}: node {name!r} = {value!r} is not accepted; this camera offers: "
                                  f"{', '.join(entries)}")
            node.value = str(value)
        elif kind == "IInteger":
            node.value = _checked_number(node, name, value, where, int)
        elif kind == "IFloat":
            node.value = _checked_number(node, name, value, where, float)
        elif kind == "IBoolean":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: node {name!r} is a boolean; write true or false, got {value!r}")
            node.value = value
        else:
            node.value = value if kind != "IString" else str(value)
    except ConfigError:
        raise
    except Exception as exc:  # genapi's own refusal: keep its reason, name our node and value
        raise ConfigError(f"{where}: node {name!r} refused value {value!r}: {_reason(exc)}") from None


def _check_writable(node: Any, name: str, where: str) -> None:
    try:
        mode = int(node.get_access_mode())
    except Exception:
        return
    if mode not in (2, 4):
        raise ConfigError(f"{where}: node {name!r} is {_ACCESS.get(mode, mode)} now, so it cannot be written; "
                          f"it may be locked by another feature (an Auto mode, acquisition running) or need "
                          f"a selector set first")


def _checked_number(node: Any, name: str, value: FeatureValue, where: str, cast: type) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (cast is int and isinstance(value, float)
                                                                          and not value.is_integer()):
        raise ConfigError(f"{where}: node {name!r} expects {'an integer' if cast is int else 'a number'}, "
                          f"got {value!r}")
    number = cast(value)
    low, high = node.min, node.max
    if not (low <= number <= high):
        raise ConfigError(f"{where}: node {name!r} = {value!r} is out of range; this camera accepts "
                          f"{low:g} to {high:g}")
    if cast is int:
        try:
            step = int(node.inc)
        except Exception:
            step = 1
        if step > 1 and (number - int(low)) % step:
            raise ConfigError(f"{where}: node {name!r} = {value!r} must be {low:g} plus a multiple of {step}")
    return number


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.split(" : ")[0] if " : " in text else text or type(exc).__name__
