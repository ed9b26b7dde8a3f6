"""Findings per reference designator, as rework stations and operators read them: "R12 pin 2: short"."""

from __future__ import annotations

from inspection.domain.types import Detection

__all__ = ["refdes_label", "refdes_lines"]


def refdes_label(detection: Detection) -> str | None:
    """`R12 pin 2: insufficient_solder` for a detection tied to a component window, else None."""
    refdes = detection.attributes.get("refdes")
    if not refdes:
        return None
    pin = detection.attributes.get("pin")
    where = f"{refdes} pin {pin}" if pin else refdes
    detail = detection.attributes.get("detail")
    return f"{where}: {detection.class_name}" + (f" ({detail})" if detail else "")


def refdes_lines(detections: tuple[Detection, ...]) -> list[str]:
    """One line per finding, sorted by RefDes then pin; findings outside every window last."""
    tied = sorted((d for d in detections if d.attributes.get("refdes")),
                  key=lambda d: (d.attributes["refdes"], d.attributes.get("pin", "")))
    lines = [refdes_label(d) or "" for d in tied]
    loose = [f"(no component): {d.class_name} at {d.box.center[0]:.0f}, {d.box.center[1]:.0f}"
             for d in detections if not d.attributes.get("refdes")]
    return lines + loose
