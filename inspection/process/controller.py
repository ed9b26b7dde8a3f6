"""Run-to-run controller: defect-class rates → bounded process parameter moves, with an audit trail.

Per part it updates, for every class, an upper Bernoulli CUSUM and an EWMA chart against the class's
target rate. Once `min_samples` parts have been made with the setpoints in force and a chart has
signalled a shift, it turns the excess rates of that run into a move through the sensitivity table
(ridge least squares in normalised units), scaled by `gain` (EWMA/integral form) or fed to one
`simple_pid.PID` per parameter. The move is then cut by deadband, maximum step, rate limit and
limits, in that order, so nothing outside the limits is ever written.

Modes: `advise` records proposals that wait for an engineer (`approve`/`reject`); `auto` applies them.
When the camera or model is in doubt (alarm raised, model changed, too many ERROR verdicts) or the
process refused a write, the controller falls back to advise: it still proposes, it never applies.
Every proposal and change is a `Proposal` with before/after values, the statistics that triggered it
and who approved it; applied ones can be reverted.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np
from simple_pid import PID

from inspection.domain.types import Inspection, VerdictStatus
from inspection.errors import OutputError
from inspection.process import ParameterInfo, ProcessError, ProcessPort
from inspection.process.config import ControllerConfig, check_against_process

log = logging.getLogger(__name__)

__all__ = [
    "Change",
    "Controller",
    "ControllerError",
    "PartResult",
    "Proposal",
    "SensitivityEstimate",
    "estimate_sensitivity",
]

Status = Literal["pending", "applying", "applied", "rejected", "failed", "reverted", "superseded"]


class ControllerError(OutputError):
    """A controller action was refused (unknown proposal, not revertible, value outside the limits)."""


@dataclass(frozen=True, slots=True)
class PartResult:
    """What the controller needs of one inspected part. ERROR parts carry no defect statistics."""

    index: int
    defects: frozenset[str]
    status: VerdictStatus = VerdictStatus.PASS
    model_id: str = ""
    parameters: Mapping[str, float] | None = None
    part_key: str = ""

    @classmethod
    def from_inspection(cls, inspection: Inspection, index: int,
                        parameters: Mapping[str, float] | None = None) -> PartResult:
        # A fail-safe verdict (camera lost, deadline, model error) says nothing about the process, whatever
        # the recipe reports to the PLC (failsafe_verdict: FAIL): it counts as ERROR, which freezes control.
        status = VerdictStatus.ERROR if inspection.verdict.failsafe else inspection.verdict.status
        return cls(index, frozenset(d.class_name for d in inspection.defects), status,
                   inspection.model_id, parameters, inspection.frame.key)


@dataclass(frozen=True, slots=True)
class Change:
    parameter: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposed or applied set of parameter changes and why. Immutable: status changes make a copy."""

    id: int
    part_index: int
    created_s: float
    kind: Literal["move", "revert"]
    mode: str
    algorithm: str
    changes: tuple[Change, ...]
    stats: Mapping[str, Any]
    status: Status = "pending"
    reason: str = ""
    approver: str | None = None
    decided_s: float | None = None
    reverts: int | None = None
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.id, "part_index": self.part_index, "created_s": self.created_s, "kind": self.kind,
            "mode": self.mode, "algorithm": self.algorithm, "status": self.status, "reason": self.reason,
            "approver": self.approver, "decided_s": self.decided_s, "reverts": self.reverts, "error": self.error,
            "changes": [{"parameter": c.parameter, "before": c.before, "after": c.after} for c in self.changes],
            "stats": dict(self.stats),
        }


class ProposalSink(Protocol):
    """Where proposals and per-part parameters are kept (the station SQLite: `ProcessLog`)."""

    def save_proposal(self, proposal: Proposal) -> None: ...

    def record_part(self, result: PartResult, process: str) -> None: ...


@dataclass
class _ClassChart:
    """Upper Bernoulli CUSUM + EWMA chart of one class's defect indicator."""

    target: float
    shift_ratio: float
    h: float
    lam: float
    limit_sigmas: float
    cusum: float = 0.0
    ewma: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.ewma = self.target
        p0, p1 = self.target, min(self.target * self.shift_ratio, 0.99)
        self._up = math.log(p1 / p0)
        self._down = math.log((1 - p1) / (1 - p0))
        sigma = math.sqrt(p0 * (1 - p0))
        self.ucl = p0 + self.limit_sigmas * sigma * math.sqrt(self.lam / (2 - self.lam))

    def update(self, x: bool) -> None:
        self.cusum = max(0.0, self.cusum + (self._up if x else self._down))
        self.ewma = self.lam * float(x) + (1 - self.lam) * self.ewma

    @property
    def signals(self) -> list[str]:
        return (["cusum"] if self.cusum > self.h else []) + (["ewma"] if self.ewma > self.ucl else [])

    def reset(self) -> None:
        self.cusum, self.ewma = 0.0, self.target


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Controller, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Controller:
    """Watches per-class defect rates and moves process parameters within configured bounds. Thread-safe."""

    def __init__(self, config: ControllerConfig, port: ProcessPort, sink: ProposalSink | None = None,
                 classes: Sequence[str] = (), clock: Callable[[], float] = time.time,
                 history_size: int = 20000) -> None:
        self.config = config
        self.port = port
        self.sink = sink
        self.clock = clock
        self.classes = tuple(classes) or tuple(config.sensitivity)
        self.sensitivity = {c: dict(row) for c, row in config.sensitivity.items()}
        self.proposals: list[Proposal] = []
        self.history: deque[tuple[Mapping[str, float], frozenset[str]]] = deque(maxlen=history_size)
        self.alarms: set[str] = set()  # what is in alarm now (camera, PLC, process port…): each cleared by its own
        self.fallback: str | None = None  # set when the process refused a write: advise until reset
        self._charts = {c: self._new_chart(c) for c in self.classes}
        self._window_counts = dict.fromkeys(self.classes, 0)
        self._window_n = 0
        self._since_proposal = 0
        self._recent_status: deque[bool] = deque(maxlen=config.freeze.error_window)
        self._model_id: str | None = None
        self._model_changed: str | None = None
        self._moves: list[tuple[int, str, float]] = []  # (part index, parameter, |delta|) of applied moves
        self._last_index = -1
        self._pids: dict[str, PID] = {}
        self._reference: dict[str, float] = {}
        self.parameters_info: dict[str, ParameterInfo] = {}
        self.setpoints: dict[str, float] = {}
        # observe() runs on the station's listener thread, approve()/revert() on the console's.
        self._lock = threading.RLock()

    # --- lifecycle ------------------------------------------------------------------------------

    @_locked
    def start(self) -> Controller:
        """Read the process, check the configuration against it (ConfigError naming the key to fix)."""
        self.parameters_info = self.port.parameters()
        self.setpoints = self.port.read_setpoints()
        check_against_process(self.config, self.parameters_info, self.classes, self.setpoints)
        self._reference = {p: self.setpoints[p] for p in self.config.parameters}
        gains = self.config.pid
        for name, limits in self.config.parameters.items():
            scale = self.parameters_info[name].scale
            ref = self._reference[name]
            self._pids[name] = PID(gains.kp, gains.ki, gains.kd, setpoint=0.0, sample_time=None,
                                   output_limits=((limits.min - ref) / scale, (limits.max - ref) / scale))
        return self

    # --- doubt ----------------------------------------------------------------------------------

    @property
    def alarm(self) -> str | None:
        """The alarms in force, as one text (None when there is none)."""
        return ", ".join(sorted(self.alarms)) or None

    @_locked
    def raise_alarm(self, reason: str) -> None:
        self.alarms.add(str(reason))

    @_locked
    def clear_alarm(self, reason: str | None = None) -> None:
        """Clear one alarm (a process-port answer must not clear a camera alarm); all of them without `reason`."""
        if reason is None:
            self.alarms.clear()
        else:
            self.alarms.discard(str(reason))

    @_locked
    def acknowledge_model(self, model_id: str) -> None:
        """An engineer confirms the new model is the one to trust: statistics restart from here."""
        self._model_id, self._model_changed = model_id, None
        self._restart_window()

    @_locked
    def resume_auto(self) -> None:
        """Leave the fallback to advise after the cause of a refused write was fixed."""
        self.fallback = None

    @property
    def doubt(self) -> str | None:
        """Why the camera/model/process is in doubt now, or None."""
        freeze = self.config.freeze
        if self.alarm and freeze.on_alarm:
            return f"alarm: {self.alarm}"
        if self._model_changed and freeze.on_model_change:
            return self._model_changed
        if self._recent_status:
            errors = sum(self._recent_status) / len(self._recent_status)
            if len(self._recent_status) >= min(10, freeze.error_window) and errors > freeze.max_error_rate:
                return f"{errors:.0%} ERROR verdicts among the last {len(self._recent_status)} parts"
        if self.fallback:
            return self.fallback
        return None

    @property
    def effective_mode(self) -> str:
        return "advise" if self.doubt else self.config.mode

    # --- per part -------------------------------------------------------------------------------

    @_locked
    def observe(self, result: PartResult) -> Proposal | None:
        """Account one inspected part; returns a proposal when this part triggered one."""
        if not self._pids:
            raise ControllerError("controller not started: call start() first")
        self._last_index = result.index
        self._recent_status.append(result.status is VerdictStatus.ERROR)
        self._check_model(result.model_id)
        if self.sink is not None:
            self.sink.record_part(result, self.config.process)
        if result.status is VerdictStatus.ERROR:
            return None  # nothing is known about its defects
        if result.parameters is not None:
            self.history.append((dict(result.parameters), result.defects))
        for cls, chart in self._charts.items():
            hit = cls in result.defects
            chart.update(hit)
            self._window_counts[cls] += hit
        self._window_n += 1
        self._since_proposal += 1
        if self._window_n < self.config.min_samples or self._since_proposal < self.config.min_samples:
            return None
        triggered = {c: ch.signals for c, ch in self._charts.items() if ch.signals}
        if not triggered:
            return None
        return self._propose(triggered)

    def _check_model(self, model_id: str) -> None:
        if not model_id:
            return
        if self._model_id is None:
            self._model_id = model_id
        elif model_id != self._model_id and self._model_changed is None:
            self._model_changed = (f"model changed from {self._model_id} to {model_id}: statistics of the old "
                                   "model no longer apply; acknowledge the new model to resume")

    # --- deciding a move ------------------------------------------------------------------------

    def _propose(self, triggered: Mapping[str, list[str]]) -> Proposal | None:
        n = self._window_n
        rates = {c: self._window_counts[c] / n for c in self.classes}
        excess = {c: max(0.0, rates[c] - self.config.target(c)) for c in self.classes}
        excess = {c: (e if e > self.config.rate_deadband else 0.0) for c, e in excess.items()}
        stats = {
            "n": n, "rates": rates, "targets": {c: self.config.target(c) for c in self.classes},
            "excess": excess, "triggered": dict(triggered),
            "cusum": {c: round(ch.cusum, 3) for c, ch in self._charts.items()},
            "ewma": {c: round(ch.ewma, 4) for c, ch in self._charts.items()},
        }
        if not any(excess.values()):
            return None
        self._since_proposal = 0
        try:  # someone at the line may have changed a setpoint since: move from what is in force
            self.setpoints = self.port.read_setpoints()
        except ProcessError as exc:
            self.fallback = f"cannot read the setpoints in force ({exc}); falling back to advise"
            return None
        outside = [p for p, lim in self.config.parameters.items() if not lim.min <= self.setpoints[p] <= lim.max]
        if outside:
            stats["outside_limits"] = {p: self.setpoints[p] for p in outside}
        targets = {p: v for p, v in self._targets(excess).items() if p not in outside}
        changes = self._bounded_changes(targets)
        if not changes:
            return None
        doubt = self.doubt
        mode = "advise" if doubt else self.config.mode
        proposal = Proposal(self._next_id(), self._last_index, self.clock(), "move", mode,
                            self.config.algorithm, tuple(changes), stats,
                            reason=doubt or ("advise mode: waiting for approval" if mode == "advise" else "auto"))
        self._supersede_pending()
        self._add(proposal)
        if mode == "auto":
            return self._apply(proposal, approver="auto", raise_errors=False)
        return proposal

    def _targets(self, excess: Mapping[str, float]) -> dict[str, float]:
        """Target setpoint per controlled parameter (before bounds)."""
        names = list(self.config.parameters)
        scales = np.array([self.parameters_info[p].scale for p in names])
        rows = [c for c in self.classes if c in self.sensitivity]
        if not rows:
            return {}
        s = np.array([[self.sensitivity[c].get(p, 0.0) for p in names] for c in rows]) * scales
        e = np.array([excess.get(c, 0.0) for c in rows])
        # Ridge least squares in normalised units: the move u that best cancels the excess rates.
        lhs = s.T @ s + self.config.ridge * np.eye(len(names)) * max(float(np.trace(s.T @ s)) / len(names), 1e-12)
        u = np.linalg.solve(lhs, -s.T @ e)
        if self.config.algorithm == "pid":
            out = {}
            for p, ui, scale in zip(names, u, scales, strict=True):
                # Position form: PID output is the offset from the reference setpoint, in normalised units.
                offset = self._pids[p](-float(ui), dt=1.0)
                out[p] = self._reference[p] + float(offset) * float(scale)
            return out
        return {p: self.setpoints[p] + self.config.gain * float(ui) * float(scale)
                for p, ui, scale in zip(names, u, scales, strict=True)}

    def _bounded_changes(self, targets: Mapping[str, float]) -> list[Change]:
        changes = []
        for name, target in targets.items():
            if not math.isfinite(target):  # an overflowing solve: no direction can be trusted
                log.warning("controller: target for %s is %s; no change proposed", name, target)
                return []
            limits = self.config.parameters[name]
            before = self.setpoints[name]
            delta = target - before
            if abs(delta) < max(limits.deadband, 1e-12):
                continue
            delta = max(-limits.max_step, min(limits.max_step, delta))
            used = sum(d for i, p, d in self._moves if p == name and i > self._last_index - 100)
            room = max(0.0, limits.rate_limit - used)
            delta = max(-room, min(room, delta))
            after = max(limits.min, min(limits.max, before + delta))
            if abs(after - before) < max(limits.deadband, 1e-12):
                continue
            changes.append(Change(name, before, after))
        return changes

    # --- applying, approving, reverting ---------------------------------------------------------

    @_locked
    def restore(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Take over proposals recorded earlier (`ProcessLog.proposals()`), e.g. to approve one later."""
        self.proposals = [Proposal(
            int(r["id"]), int(r["part_index"]), float(r["created_s"]), r["kind"], r["mode"], r["algorithm"],
            tuple(Change(c["parameter"], float(c["before"]), float(c["after"])) for c in r["changes"]),
            dict(r["stats"]), r["status"], r["reason"] or "", r["approver"], r["decided_s"], r["reverts"],
            r["error"]) for r in records]

    def pending(self) -> list[Proposal]:
        return [p for p in self.proposals if p.status == "pending"]

    def get(self, proposal_id: int) -> Proposal:
        for p in self.proposals:
            if p.id == proposal_id:
                return p
        raise ControllerError(f"no proposal #{proposal_id}; known: {[p.id for p in self.proposals]}")

    @_locked
    def approve(self, proposal_id: int, approver: str) -> Proposal:
        """An engineer applies a pending proposal (also while in doubt: the person is the check)."""
        proposal = self.get(proposal_id)
        if proposal.status != "pending":
            raise ControllerError(f"proposal #{proposal_id} is {proposal.status}, only pending ones can be approved")
        if not approver:
            raise ControllerError("approve: name the approver")
        self._claim(proposal, "applying")
        current = self.port.read_setpoints()
        moved = {c.parameter: current.get(c.parameter) for c in proposal.changes
                 if not math.isclose(current.get(c.parameter, math.nan), c.before, rel_tol=1e-6, abs_tol=1e-6)}
        if moved:  # applying it now would jump from today's value, not step from the one it was planned on
            self._update(replace(proposal, status="superseded", decided_s=self.clock(),
                                 error=f"the process changed before approval: now {moved}"))
            raise ControllerError(f"proposal #{proposal_id} was planned on other setpoints than the process has now "
                                  f"({', '.join(f'{n} {v:g}' for n, v in moved.items())}): not applied; the "
                                  "controller proposes again from today's values")
        return self._apply(proposal, approver=approver, raise_errors=True)

    def _claim(self, proposal: Proposal, status: str) -> None:
        """Decide `proposal` here and nowhere else: another console or the CLI may have decided it already."""
        claim = getattr(self.sink, "claim", None)
        stored = claim(proposal.id, status) if claim is not None else None
        if stored is not None:
            self.proposals = [replace(p, status=stored) if p.id == proposal.id else p for p in self.proposals]
            raise ControllerError(f"proposal #{proposal.id} was {stored} meanwhile (another console or the CLI); "
                                  "nothing written")

    @_locked
    def reject(self, proposal_id: int, approver: str, reason: str = "") -> Proposal:
        proposal = self.get(proposal_id)
        if proposal.status != "pending":
            raise ControllerError(f"proposal #{proposal_id} is {proposal.status}, only pending ones can be rejected")
        self._claim(proposal, "rejected")
        return self._update(replace(proposal, status="rejected", approver=approver, decided_s=self.clock(),
                                    reason=reason or proposal.reason))

    @_locked
    def revert(self, proposal_id: int, approver: str) -> Proposal:
        """Write back the before values of an applied proposal; recorded as a proposal of kind revert."""
        original = self.get(proposal_id)
        if original.status != "applied":
            raise ControllerError(f"proposal #{proposal_id} is {original.status}; only applied ones can be reverted")
        current = self.port.read_setpoints()
        changes = tuple(Change(c.parameter, current[c.parameter], c.before) for c in original.changes)
        revert = Proposal(self._next_id(), self._last_index, self.clock(), "revert", self.effective_mode,
                          self.config.algorithm, changes, {"reverts": original.id}, reason=f"revert #{original.id}",
                          reverts=original.id)
        self._add(revert)
        applied = self._apply(revert, approver=approver, raise_errors=True)
        self._update(replace(original, status="reverted"))
        return applied

    def _apply(self, proposal: Proposal, approver: str, raise_errors: bool) -> Proposal:
        values = {c.parameter: c.after for c in proposal.changes}
        try:
            self._write(values)
        except (ProcessError, ControllerError) as exc:
            self.fallback = f"process refused a write ({exc}); falling back to advise"
            failed = self._update(replace(proposal, status="failed", error=str(exc), approver=approver,
                                          decided_s=self.clock()))
            if raise_errors:
                raise
            return failed
        for c in proposal.changes:
            self._moves.append((self._last_index, c.parameter, abs(c.delta)))
        self.setpoints.update(values)
        self._restart_window()
        return self._update(replace(proposal, status="applied", approver=approver, decided_s=self.clock()))

    def _write(self, values: Mapping[str, float]) -> None:
        """The only path to the process: refuses anything outside the configured limits."""
        for name, value in values.items():
            limits = self.config.parameters.get(name)
            if limits is None:
                raise ControllerError(f"{name}: not a parameter this controller may move")
            if not (math.isfinite(value) and limits.min <= value <= limits.max):
                raise ControllerError(f"{name} = {value:g} is outside the limits {limits.min:g}..{limits.max:g}")
        self.port.write_setpoints(values)
        readback = self.port.read_setpoints()
        wrong = {n: readback.get(n) for n, v in values.items() if not math.isclose(readback.get(n, math.nan), v,
                                                                                    rel_tol=1e-6, abs_tol=1e-6)}
        if wrong:
            raise ProcessError(f"setpoints read back differ from those written: wrote "
                               f"{ {n: values[n] for n in wrong} }, read {wrong}")

    def _restart_window(self) -> None:
        self._window_counts = dict.fromkeys(self.classes, 0)
        self._window_n = 0
        for chart in self._charts.values():
            chart.reset()

    def _supersede_pending(self) -> None:
        for p in self.pending():
            try:
                self._claim(p, "superseded")
            except ControllerError as exc:  # decided elsewhere meanwhile: keep that decision, not ours
                log.info("%s", exc)
                continue
            self._update(replace(p, status="superseded", decided_s=self.clock()))

    def _next_id(self) -> int:
        return max((p.id for p in self.proposals), default=0) + 1

    def _add(self, proposal: Proposal) -> None:
        self.proposals.append(proposal)
        if self.sink is not None:
            self.sink.save_proposal(proposal)

    def _update(self, proposal: Proposal) -> Proposal:
        self.proposals = [proposal if p.id == proposal.id else p for p in self.proposals]
        if self.sink is not None:
            self.sink.save_proposal(proposal)
        return proposal

    def _new_chart(self, cls: str) -> _ClassChart:
        c = self.config
        return _ClassChart(c.target(cls), c.cusum.shift_ratio, c.cusum.h, c.ewma_lambda, c.ewma_l)

    # --- learning the table ---------------------------------------------------------------------

    @_locked
    def refine_sensitivity(self, min_t: float = 3.0, weight: float = 0.5, min_parts: int = 200) -> SensitivityEstimate:
        """Blend the table with least-squares estimates from the history (entries with |t| >= min_t only)."""
        estimate = estimate_sensitivity(list(self.history), self.classes, list(self.config.parameters))
        if estimate.n < min_parts:
            return estimate
        for cls, row in self.sensitivity.items():
            for p in row:
                t = estimate.t_value(cls, p)
                if abs(t) >= min_t:
                    row[p] = (1 - weight) * row[p] + weight * estimate.table[cls][p]
        return estimate


@dataclass(frozen=True)
class SensitivityEstimate:
    """Least-squares slope of each class's defect indicator on each parameter (rate per unit)."""

    table: Mapping[str, Mapping[str, float]]
    stderr: Mapping[str, Mapping[str, float]]
    n: int

    def t_value(self, cls: str, parameter: str) -> float:
        se = self.stderr[cls][parameter]
        return self.table[cls][parameter] / se if se > 0 else 0.0


def estimate_sensitivity(history: Sequence[tuple[Mapping[str, float], Collection[str]]],
                         classes: Sequence[str], parameters: Sequence[str]) -> SensitivityEstimate:
    """Regress each class's 0/1 defect indicator on the parameters in force for each part.

    Works when the parameters actually varied in the history (drift, noise, earlier moves); parameters
    that never moved get a zero slope with an infinite standard error.
    """
    n = len(history)
    zero = {c: dict.fromkeys(parameters, 0.0) for c in classes}
    if n <= len(parameters) + 2:
        return SensitivityEstimate(zero, {c: dict.fromkeys(parameters, math.inf) for c in classes}, n)
    x = np.array([[float(h[0][p]) for p in parameters] for h in history])
    x = x - x.mean(axis=0)
    y = np.array([[float(c in h[1]) for c in classes] for h in history])
    y = y - y.mean(axis=0)
    xtx = x.T @ x
    spread = np.diag(xtx) > 1e-12 * n
    table = {c: dict.fromkeys(parameters, 0.0) for c in classes}
    stderr = {c: dict.fromkeys(parameters, math.inf) for c in classes}
    if spread.any():
        xs = x[:, spread]
        inv = np.linalg.pinv(xs.T @ xs)
        beta = inv @ xs.T @ y
        resid = y - xs @ beta
        dof = max(n - xs.shape[1] - 1, 1)
        sigma2 = (resid ** 2).sum(axis=0) / dof
        kept = [p for p, keep in zip(parameters, spread, strict=True) if keep]
        for j, cls in enumerate(classes):
            for i, p in enumerate(kept):
                table[cls][p] = float(beta[i, j])
                stderr[cls][p] = float(math.sqrt(max(sigma2[j] * inv[i, i], 0.0)))
    return SensitivityEstimate(table, stderr, n)
