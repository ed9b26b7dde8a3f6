"""Open- vs closed-loop runs of the twin: the controller's proof and the source of docs/closed_loop.png.

By default the "station" is the twin's own defect decision per part (what a perfect inspection would
report), so thousands of parts take a second; `render_size` renders every part and judges the drawn
defects instead, `through="opcua"` puts the OPC UA process port and the twin server in the loop.
The same seed gives both runs the same random numbers, so the difference between them is the
controller's doing.
"""

from __future__ import annotations

import contextlib
import math
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

from inspection.domain.judge import Judge
from inspection.domain.recipe import Recipe
from inspection.domain.types import VerdictStatus
from inspection.process import ProcessPort
from inspection.process.config import ControllerConfig
from inspection.process.controller import Controller, PartResult, Proposal
from inspection.simulation.twin import ProcessTwin
from inspection.simulation.twin_line import TwinLine
from inspection.simulation.twin_process import InProcessTwin

__all__ = ["LoopRun", "plot_closed_loop", "rolling", "simulate", "two_proportion_z"]


@dataclass
class LoopRun:
    """One run: per-part defect flags, setpoints and actuals, and the controller's proposals."""

    closed: bool
    defective: list[bool] = field(default_factory=list)
    classes: list[tuple[str, ...]] = field(default_factory=list)
    setpoints: list[dict[str, float]] = field(default_factory=list)
    actuals: list[dict[str, float]] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)

    def defect_rate(self, start: int = 0, stop: int | None = None) -> float:
        part = self.defective[start:stop]
        return sum(part) / len(part) if part else 0.0

    def count(self, start: int = 0, stop: int | None = None) -> tuple[int, int]:
        part = self.defective[start:stop]
        return sum(part), len(part)

    def summary(self) -> dict[str, Any]:
        return {"parts": len(self.defective), "defect_rate": round(self.defect_rate(), 4),
                "changes": sum(p.status == "applied" for p in self.proposals),
                "proposals": len(self.proposals)}


def simulate(config: ControllerConfig, parts: int, seed: int, closed: bool,
             drift: dict[str, float] | None = None, mode: str | None = None,
             render_size: int | None = None, through: Literal["twin", "opcua"] = "twin") -> LoopRun:
    """Run `parts` parts of the twin with (closed) or without (open) the controller.

    `render_size`: render each part (size x size px) and take the verdict from the recipe judge on the
    drawn defects instead of the twin's decision. `through="opcua"`: serve the twin on a free port of
    127.0.0.1 and let the controller talk to it through the OPC UA process port.
    """
    twin = ProcessTwin(config.process, seed=seed, drift=drift if drift is not None else config.twin.drift,
                       noise=config.twin.noise, setpoints=config.twin.setpoints or None)
    if mode is not None:
        config = config.model_copy(update={"mode": mode})
    run = LoopRun(closed)
    line = TwinLine(twin, (render_size, render_size)) if render_size else None
    judge = Judge(Recipe(name=f"{config.process}-twin"))
    with contextlib.ExitStack() as stack:
        controller = _controller(stack, config, twin, through) if closed else None
        for _ in range(parts):
            if line is not None:
                made = line.next()
                outcome = made.outcome
                judgement = judge.judge(made.labels)
                defects = tuple(sorted({d.class_name for d in judgement.defects}))
            else:
                outcome = twin.next_part()
                defects = outcome.defects
            run.defective.append(bool(defects))
            run.classes.append(defects)
            run.setpoints.append(dict(outcome.setpoints))
            run.actuals.append(dict(outcome.actuals))
            if controller is not None:
                status = VerdictStatus.FAIL if defects else VerdictStatus.PASS
                controller.observe(PartResult(outcome.index, frozenset(defects), status, "twin", outcome.actuals))
        if controller is not None:
            run.proposals = list(controller.proposals)
    return run


def _controller(stack: contextlib.ExitStack, config: ControllerConfig, twin: ProcessTwin, through: str) -> Controller:
    if through == "opcua":
        from inspection.people.opcua_access import ClientSecurity
        from inspection.process.opcua_client import OpcUaProcess, Options
        from inspection.simulation.twin_server import TwinServer

        server = stack.enter_context(TwinServer(twin, port=_free_port()))  # loopback, SecurityPolicy None
        port: ProcessPort = stack.enter_context(OpcUaProcess(Options(url=server.endpoint,
                                                                     security=ClientSecurity.insecure())))
    else:
        port = InProcessTwin(twin)
    return Controller(config, port, classes=twin.classes).start()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of p1 > p2: (z, one-sided p-value)."""
    if n1 == 0 or n2 == 0:
        raise ValueError("two_proportion_z: both samples need at least one part")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (p1 - p2) / se
    return z, 0.5 * math.erfc(z / math.sqrt(2))


def rolling(values: list[bool], window: int) -> list[float]:
    """Trailing mean over `window` parts (shorter at the start)."""
    out, total = [], 0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_closed_loop(open_run: LoopRun, closed_run: LoopRun, config: ControllerConfig, path: Any,
                     window: int = 100) -> None:
    """Defect rate open vs closed loop (top) and the controlled setpoints and actuals (below)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(config.parameters)
    fig, axes = plt.subplots(1 + len(names), 1, figsize=(9, 2.6 + 1.9 * len(names)), sharex=True,
                             gridspec_kw={"height_ratios": [2] + [1] * len(names)})
    ax = axes[0]
    ax.plot(rolling(open_run.defective, window), color="tab:red", label=f"open loop ({open_run.defect_rate():.1%})")
    ax.plot(rolling(closed_run.defective, window), color="tab:green",
            label=f"closed loop, {config.algorithm} ({closed_run.defect_rate():.1%})")
    ax.set_ylabel(f"defective parts\n(last {window})")
    ax.set_title(f"{config.process}: defect rate with drift, open vs closed loop")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    for ax, name in zip(axes[1:], names, strict=True):
        limits = config.parameters[name]
        ax.plot([s[name] for s in open_run.actuals], color="tab:red", alpha=0.35, lw=0.6, label="actual (open)")
        ax.plot([s[name] for s in closed_run.actuals], color="tab:green", alpha=0.35, lw=0.6,
                label="actual (closed)")
        ax.plot([s[name] for s in closed_run.setpoints], color="black", lw=1.4, label="setpoint (closed)")
        ax.axhline(limits.min, color="grey", ls="--", lw=0.8)
        ax.axhline(limits.max, color="grey", ls="--", lw=0.8, label="limits")
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[1].legend(loc="upper left", fontsize=7, ncol=4)
    axes[-1].set_xlabel("part")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
