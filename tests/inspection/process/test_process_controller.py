"""The run-to-run controller against the in-process twin: closed loop, bounds, modes, audit, doubt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inspection.domain.types import VerdictStatus
from inspection.errors import ConfigError
from inspection.process import WriteRejected
from inspection.process.config import ControllerConfig, default_controller_config, load_controller_config
from inspection.process.controller import Controller, ControllerError, PartResult, estimate_sensitivity
from inspection.process.store import ProcessLog, parameters_in_force, pending_proposals, recent_proposals
from inspection.records.store import Store
from inspection.simulation.closed_loop import simulate, two_proportion_z
from inspection.simulation.twin import ProcessTwin
from inspection.simulation.twin_process import InProcessTwin


def _config(process: str = "solder", **overrides: object) -> ControllerConfig:
    return default_controller_config(process, **overrides)


def _assert_within_limits(run, config: ControllerConfig) -> None:
    for setpoints in run.setpoints:
        for name, limits in config.parameters.items():
            assert limits.min <= setpoints[name] <= limits.max, (name, setpoints[name])


@pytest.mark.parametrize(("process", "algorithm"), [("solder", "ewma"), ("solder", "pid"), ("paint", "ewma"),
                                                    ("paint", "pid")])
def test_closed_loop_beats_open_loop_significantly_and_stays_within_limits(process: str, algorithm: str) -> None:
    config = _config(process, mode="auto", algorithm=algorithm)
    open_run = simulate(config, 2500, seed=11, closed=False)
    closed_run = simulate(config, 2500, seed=11, closed=True)
    # Compare after the first correction could have happened (the first min_samples parts are identical).
    first_change = min(p.part_index for p in closed_run.proposals if p.status == "applied")
    z, p_value = two_proportion_z(*open_run.count(first_change), *closed_run.count(first_change))
    assert p_value < 1e-6, (z, open_run.defect_rate(first_change), closed_run.defect_rate(first_change))
    assert closed_run.defect_rate(first_change) < 0.5 * open_run.defect_rate(first_change)
    _assert_within_limits(closed_run, config)
    for proposal in closed_run.proposals:
        for change in proposal.changes:
            limits = config.parameters[change.parameter]
            assert abs(change.after - change.before) <= limits.max_step + 1e-9
            assert limits.min <= change.after <= limits.max


def test_without_drift_the_controller_stays_quiet() -> None:
    config = _config("solder", mode="auto")
    run = simulate(config, 1500, seed=4, closed=True, drift={})
    assert sum(p.status == "applied" for p in run.proposals) <= 2


def test_rate_limit_caps_the_total_move_within_100_parts() -> None:
    config = _config("solder", mode="auto", min_samples=20)
    config = config.model_copy(update={"parameters": {
        name: limits.model_copy(update={"rate_limit": 3.0, "max_step": 2.5}) if name == "paste_volume_pct"
        else limits for name, limits in config.parameters.items()}})
    run = simulate(config, 3000, seed=2, closed=True, drift={"paste_volume_pct": -4.0})
    moves = [(p.part_index, c) for p in run.proposals if p.status == "applied" for c in p.changes
             if c.parameter == "paste_volume_pct"]
    assert len(moves) >= 3
    for index, _ in moves:
        window = sum(abs(c.delta) for i, c in moves if index - 100 < i <= index)
        assert window <= 3.0 + 1e-9


def _controller(tmp_path: Path | None = None, **overrides: object) -> tuple[Controller, ProcessTwin]:
    config = _config("solder", **({"min_samples": 30} | overrides))
    twin = ProcessTwin("solder", seed=3, drift={})
    sink = ProcessLog(tmp_path / "station.db") if tmp_path else None
    return Controller(config, InProcessTwin(twin), sink=sink, classes=twin.classes).start(), twin


def _feed(controller: Controller, n: int, defects: tuple[str, ...] = ("insufficient",), every: int = 3,
          status: VerdictStatus | None = None, model_id: str = "model-a", start: int = 0) -> list:
    made = []
    for i in range(start, start + n):
        hit = frozenset(defects) if i % every == 0 else frozenset()
        st = status or (VerdictStatus.FAIL if hit else VerdictStatus.PASS)
        proposal = controller.observe(PartResult(i, hit, st, model_id, {"paste_volume_pct": 100.0}, f"p{i}"))
        if proposal is not None:
            made.append(proposal)
    return made


def test_advise_mode_waits_for_approval_then_applies_and_reverts_with_audit(tmp_path: Path) -> None:
    controller, twin = _controller(tmp_path, mode="advise")
    made = _feed(controller, 40)
    assert made and made[0].status == "pending"
    assert twin.read_setpoints()["paste_volume_pct"] == 100.0  # nothing written without approval
    change = next(c for c in made[0].changes if c.parameter == "paste_volume_pct")
    assert change.after > change.before  # insufficient solder → more paste
    assert made[0].stats["rates"]["insufficient"] == pytest.approx(14 / 40, abs=0.05)

    applied = controller.approve(made[0].id, approver="qe.anna")
    assert applied.status == "applied" and applied.approver == "qe.anna"
    assert twin.read_setpoints()["paste_volume_pct"] == pytest.approx(change.after)

    revert = controller.revert(applied.id, approver="qe.anna")
    assert revert.kind == "revert" and revert.reverts == applied.id and revert.status == "applied"
    assert twin.read_setpoints()["paste_volume_pct"] == pytest.approx(change.before)
    assert controller.get(applied.id).status == "reverted"
    with pytest.raises(ControllerError, match="only applied ones can be reverted"):
        controller.revert(applied.id, approver="qe.anna")

    with ProcessLog(tmp_path / "station.db") as log:
        rows = log.proposals()
        assert [r["status"] for r in rows] == ["reverted", "applied"]
        assert rows[0]["approver"] == "qe.anna"
        assert rows[0]["changes"][0]["before"] == pytest.approx(change.before)
        assert "insufficient" in rows[0]["stats"]["triggered"]
        history = log.history("solder")
        assert len(history) == 40 and history[0][1] == frozenset({"insufficient"})


def test_process_log_shares_the_station_store_and_the_console_reads_through_it(tmp_path: Path) -> None:
    with Store(tmp_path / "station.db") as store:
        assert pending_proposals(store) == 0 and recent_proposals(store) is None and parameters_in_force(store) is None
        with ProcessLog(store) as log:
            assert log.db is store.db  # one connection to the file, owned by the Store
            config = _config("solder", min_samples=30, mode="advise")
            twin = ProcessTwin("solder", seed=3, drift={})
            controller = Controller(config, InProcessTwin(twin), sink=log, classes=twin.classes).start()
            made = _feed(controller, 40)
            assert made and pending_proposals(store) == 1
            rows = recent_proposals(store)
            assert rows is not None and [r["id"] for r in rows] == [made[0].id] and rows[0]["status"] == "pending"
            assert parameters_in_force(store) == {"paste_volume_pct": 100.0}
        assert sum(store.counts().values()) == 0  # the shared store stays open after the log closes
    with ProcessLog(tmp_path / "station.db") as own:  # given a path it opens (and closes) its own Store
        assert len(own.proposals()) == 1


def test_newer_proposal_supersedes_a_pending_one_and_rejection_is_recorded() -> None:
    controller, _ = _controller(mode="advise")
    made = _feed(controller, 70)
    assert len(made) == 2
    assert controller.get(made[0].id).status == "superseded"
    rejected = controller.reject(made[1].id, approver="qe.bob", reason="line changeover")
    assert rejected.status == "rejected" and rejected.reason == "line changeover"
    with pytest.raises(ControllerError, match="only pending ones can be approved"):
        controller.approve(made[1].id, approver="qe.bob")


@pytest.mark.parametrize("doubt", ["alarm", "model", "errors"])
def test_in_doubt_the_auto_controller_falls_back_to_advise_and_writes_nothing(doubt: str) -> None:
    controller, twin = _controller(mode="auto")
    _feed(controller, 5)
    if doubt == "alarm":
        controller.raise_alarm("camera lost")
        made = _feed(controller, 40, start=5)
    elif doubt == "model":
        made = _feed(controller, 40, model_id="model-b", start=5)
    else:
        _feed(controller, 20, status=VerdictStatus.ERROR, start=5)
        made = _feed(controller, 40, start=25)
    assert controller.effective_mode == "advise"
    assert made and all(p.status == "pending" for p in made[-1:])
    assert twin.read_setpoints()["paste_volume_pct"] == 100.0
    expected = {"alarm": "camera lost", "model": "model changed", "errors": "ERROR verdicts"}[doubt]
    assert expected in made[-1].reason


def test_model_acknowledged_and_alarm_cleared_resume_auto() -> None:
    controller, twin = _controller(mode="auto")
    _feed(controller, 5, model_id="model-a")
    _feed(controller, 5, model_id="model-b", start=5)
    assert controller.effective_mode == "advise"
    controller.acknowledge_model("model-b")
    made = _feed(controller, 40, model_id="model-b", start=10)
    assert made[-1].status == "applied" and made[-1].approver == "auto"
    assert twin.read_setpoints()["paste_volume_pct"] > 100.0


def test_limits_wider_than_the_process_range_are_refused_at_start() -> None:
    """The controller's limits must lie inside the range the process publishes: a line that does not
    enforce its own range would otherwise take every step up to the controller's wider limit."""
    config = _config("solder", mode="auto", min_samples=30)
    config = config.model_copy(update={"parameters": {
        "paste_volume_pct": config.parameters["paste_volume_pct"].model_copy(update={"max": 200.0}),
    }, "sensitivity": {"insufficient": {"paste_volume_pct": -0.0005}}})
    twin = ProcessTwin("solder", seed=3, drift={}, setpoints={"paste_volume_pct": 130.0})
    with pytest.raises(ConfigError, match=r"limits 80\.\.200 % reach outside the range the solder process "
                                          r"publishes \(60\.\.140 %\)"):
        Controller(config, InProcessTwin(twin), classes=twin.classes).start()


class _RefusingTwin(InProcessTwin):
    """A process that answers reads but refuses every write (interlocked, in manual mode)."""

    def write_setpoints(self, values: dict[str, float]) -> None:
        raise WriteRejected("the process is in manual mode: setpoints are locked")


def test_a_refused_write_is_recorded_and_the_controller_falls_back_to_advise() -> None:
    config = _config("solder", mode="auto", min_samples=30)
    config = config.model_copy(update={"parameters": {
        "paste_volume_pct": config.parameters["paste_volume_pct"].model_copy(update={"max_step": 50.0}),
    }, "sensitivity": {"insufficient": {"paste_volume_pct": -0.0005}}, "gain": 1.0})
    twin = ProcessTwin("solder", seed=3, drift={}, setpoints={"paste_volume_pct": 100.0})
    controller = Controller(config, _RefusingTwin(twin), classes=twin.classes).start()
    made = _feed(controller, 40, every=2)
    assert made[0].status == "failed"
    assert "setpoints are locked" in made[0].error
    assert controller.effective_mode == "advise" and "refused a write" in controller.doubt
    assert twin.read_setpoints()["paste_volume_pct"] == 100.0
    later = _feed(controller, 40, every=2, start=40)
    assert later and later[-1].status == "pending"
    controller.resume_auto()
    assert controller.effective_mode == "auto"


def test_controller_never_writes_outside_its_limits_even_when_asked() -> None:
    controller, twin = _controller(mode="auto")
    with pytest.raises(ControllerError, match="outside the limits 80..130"):
        controller._write({"paste_volume_pct": 131.0})
    with pytest.raises(ControllerError, match="not a parameter this controller may move"):
        controller._write({"squeegee_pressure_kg": 6.5})
    assert twin.read_setpoints()["paste_volume_pct"] == 100.0


def test_sensitivity_estimated_from_history_recovers_the_twin_signs() -> None:
    config = _config("solder", mode="auto")
    run = simulate(config, 4000, seed=8, closed=False, drift={"paste_volume_pct": -0.8, "reflow_peak_c": 0.4})
    history = list(zip(run.actuals, run.classes, strict=True))
    est = estimate_sensitivity(history, ("insufficient", "bridge", "missing"), ["paste_volume_pct", "reflow_peak_c"])
    assert est.n == 4000
    assert est.table["insufficient"]["paste_volume_pct"] < 0 and est.t_value("insufficient", "paste_volume_pct") < -5
    assert est.table["insufficient"]["reflow_peak_c"] < 0
    assert abs(est.t_value("missing", "paste_volume_pct")) < 4  # no real effect

    controller = Controller(config, InProcessTwin(ProcessTwin("solder")), classes=ProcessTwin("solder").classes).start()
    controller.history.extend((a, frozenset(c)) for a, c in history)
    before = controller.sensitivity["insufficient"]["paste_volume_pct"]
    controller.refine_sensitivity(min_t=3.0, weight=1.0)
    assert controller.sensitivity["insufficient"]["paste_volume_pct"] == pytest.approx(
        est.table["insufficient"]["paste_volume_pct"], rel=0.2)
    assert controller.sensitivity["insufficient"]["paste_volume_pct"] != before


# --- bad configuration --------------------------------------------------------------------------------


def _write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "controller.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
process: solder
sensitivity:
  insufficient: {paste_volume_pct: -0.004}
parameters:
  paste_volume_pct: {min: 80, max: 130, max_step: 5, rate_limit: 12}
"""


def test_sensitivity_naming_a_parameter_the_process_lacks_is_a_clear_error(tmp_path: Path) -> None:
    text = GOOD.replace("insufficient: {paste_volume_pct: -0.004}",
                        "insufficient: {paste_volume_pct: -0.004, flux_density: 0.1}")
    text = text.replace("parameters:\n", "parameters:\n  flux_density: {min: 0, max: 1, max_step: 0.1, "
                                         "rate_limit: 0.2}\n")
    config = load_controller_config(_write_config(tmp_path, text))
    with pytest.raises(ConfigError, match=r"sensitivity\.insufficient\.flux_density: the solder process has no "
                                          r"parameter 'flux_density'; expected one of paste_volume_pct"):
        Controller(config, InProcessTwin(ProcessTwin("solder")), classes=ProcessTwin("solder").classes).start()


def test_sensitivity_naming_a_parameter_without_limits_fails_at_load(tmp_path: Path) -> None:
    text = GOOD.replace("{paste_volume_pct: -0.004}", "{paste_volume_pct: -0.004, reflow_peak_c: -0.001}")
    with pytest.raises(ConfigError, match=r"controller.yaml: .*sensitivity.insufficient names \['reflow_peak_c'\]"):
        load_controller_config(_write_config(tmp_path, text))


def test_limits_excluding_the_value_in_force_are_a_clear_error(tmp_path: Path) -> None:
    config = load_controller_config(_write_config(tmp_path, GOOD))
    twin = ProcessTwin("solder", setpoints={"paste_volume_pct": 75.0})
    with pytest.raises(ConfigError, match=r"parameters\.paste_volume_pct: limits 80\.\.130 % exclude the value in "
                                          r"force \(75 %\)"):
        Controller(config, InProcessTwin(twin), classes=twin.classes).start()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("min: 80, max: 130", "min: 130, max: 80", "min (130) must be below max (80)"),
    ("max_step: 5", "max_step: 0", "max_step: Input should be greater than 0"),
    ("process: solder", "process: glue", "process: Input should be 'solder' or 'paint'"),
    ("rate_limit: 12}", "rate_limit: 12, speed: 3}", "speed: unknown key"),
    ("insufficient:", "voids:", "unknown defect class 'voids'"),
])
def test_bad_controller_yaml_names_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _write_config(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError, match=re.escape(message)):
        config = load_controller_config(path)
        Controller(config, InProcessTwin(ProcessTwin("solder")), classes=ProcessTwin("solder").classes).start()


def test_approve_unknown_proposal_is_a_clear_error() -> None:
    controller, _ = _controller()
    with pytest.raises(ControllerError, match="no proposal #7"):
        controller.approve(7, approver="x")


def test_twin_write_rejection_reaches_the_caller_of_approve() -> None:
    controller, twin = _controller(mode="advise")
    made = _feed(controller, 40)
    twin.write_setpoints({"paste_volume_pct": 100.0})
    twin._info["paste_volume_pct"] = twin._info["paste_volume_pct"].__class__(
        "paste_volume_pct", "%", 100.0, 60.0, 100.0, 8.0)  # the line narrowed its range meanwhile
    with pytest.raises(WriteRejected, match="outside the process range 60..100"):
        controller.approve(made[0].id, approver="qe.anna")
    assert controller.get(made[0].id).status == "failed"


def test_moves_start_from_the_setpoints_in_force_and_skip_parameters_moved_outside_the_limits() -> None:
    controller, twin = _controller(mode="auto")
    twin.write_setpoints({"paste_volume_pct": 104.0})  # an operator changed it at the printer
    made = _feed(controller, 40)
    change = next(c for c in made[-1].changes if c.parameter == "paste_volume_pct")
    assert change.before == 104.0 and change.after > 104.0

    controller, twin = _controller(mode="auto")
    twin.write_setpoints({"paste_volume_pct": 135.0})  # valid for the printer, outside the controller's limits
    made = _feed(controller, 40)
    assert made and all(c.parameter != "paste_volume_pct" for p in made for c in p.changes)
    assert made[-1].stats["outside_limits"] == {"paste_volume_pct": 135.0}
    assert twin.read_setpoints()["paste_volume_pct"] == 135.0


def test_a_proposal_planned_on_other_setpoints_is_not_applied(tmp_path: Path) -> None:
    """Someone changed the process at the line after the proposal was made: approving it would jump from
    today's value to the proposal's target, beyond max_step, perhaps the other way."""
    controller, twin = _controller(tmp_path, mode="advise")
    (proposal, *_) = _feed(controller, 40)
    twin.write_setpoints({"paste_volume_pct": 125.0})
    with pytest.raises(ControllerError, match=r"planned on other setpoints .*paste_volume_pct 125"):
        controller.approve(proposal.id, approver="qe.anna")
    assert twin.read_setpoints()["paste_volume_pct"] == 125.0
    assert controller.get(proposal.id).status == "superseded"


def test_a_proposal_decided_elsewhere_is_not_applied_again(tmp_path: Path) -> None:
    """The station and the CLI (two processes, one log) each hold the proposal as pending: the second
    approval must not write again, nor overwrite the first one's record."""
    station, twin = _controller(tmp_path, mode="advise")
    (proposal, *_) = _feed(station, 40)
    cli = Controller(station.config, InProcessTwin(twin), sink=ProcessLog(tmp_path / "station.db"),
                     classes=twin.classes).start()
    cli.proposals = list(station.proposals)  # as loaded from the log
    cli.approve(proposal.id, approver="qe.bob")
    written = twin.read_setpoints()["paste_volume_pct"]
    with pytest.raises(ControllerError, match="was applying meanwhile|was applied meanwhile"):
        station.approve(proposal.id, approver="qe.anna")
    assert twin.read_setpoints()["paste_volume_pct"] == written
    with ProcessLog(tmp_path / "station.db") as log:
        (row,) = [r for r in log.proposals() if r["id"] == proposal.id]
    assert (row["status"], row["approver"]) == ("applied", "qe.bob")


def test_fail_safe_verdicts_say_nothing_about_the_process() -> None:
    """A camera fault reported as FAIL to the PLC (failsafe_verdict: FAIL) is not a process defect."""
    import numpy as np

    from inspection.domain.types import Frame, Inspection, Reason, Verdict

    verdict = Verdict(VerdictStatus.FAIL, (Reason("camera_lost", "camera lost"),), failsafe=True)
    inspection = Inspection(Frame(np.zeros((4, 4), np.uint8), "cam0", 1, 0.0), (), verdict, (), recipe="r")
    assert PartResult.from_inspection(inspection, 1).status is VerdictStatus.ERROR


def test_a_negative_gain_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"pid.kp: Input should be greater than or equal to 0"):
        _config("solder", algorithm="pid", pid={"kp": -5.0, "ki": -5.0})


def test_a_process_port_that_answers_again_does_not_clear_a_camera_alarm() -> None:
    """One alarm slot: the process port answering again cleared it, while the camera was still lost, and
    auto mode steered on doubtful verdicts. Each alarm is cleared by its own cause."""
    controller, _ = _controller(mode="auto")
    controller.raise_alarm("camera cam0")
    controller.raise_alarm("process port")
    controller.clear_alarm("process port")
    assert controller.doubt == "alarm: camera cam0" and controller.effective_mode == "advise"
    controller.clear_alarm("camera cam0")
    assert controller.doubt is None
