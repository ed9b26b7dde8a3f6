"""`station twin` (serve the process twin over OPC UA) and `station controller …` (simulate, check)."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import click

from inspection.errors import ConfigError
from inspection.process.config import ControllerConfig, default_controller_config, load_controller_config
from inspection.simulation.twin import MODELS, PROCESSES, ProcessTwin

__all__ = ["controller", "twin"]


def _quiet_asyncua() -> None:
    """asyncua warns about running without security on every start; on loopback that is the design."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("asyncua").setLevel(logging.ERROR)


def _parse_drift(values: tuple[str, ...], process: str) -> dict[str, float] | None:
    """`--drift paste_volume_pct=-1.5` (units per 100 parts), repeatable; none given: the twin's default."""
    if not values:
        return None
    known = MODELS[process].info()
    drift = {}
    for item in values:
        name, sep, number = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected PARAMETER=UNITS_PER_100_PARTS", param_hint="--drift")
        if name not in known:
            raise click.BadParameter(f"{name!r} is not a {process} parameter; expected one of {', '.join(known)}",
                                     param_hint="--drift")
        try:
            drift[name] = float(number)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {number!r} is not a number", param_hint="--drift") from None
    return drift


_process_option = click.option("--process", type=click.Choice(PROCESSES), default="solder", show_default=True)
_drift_option = click.option("--drift", multiple=True, metavar="PARAM=UNITS_PER_100_PARTS",
                             help="Drift of one parameter (repeatable). Default: the twin's typical drift.")


@click.command()
@_process_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=4850, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@_drift_option
@click.option("--part-period-s", type=click.FloatRange(min=0.001), default=0.5, show_default=True,
              help="The twin makes one part every this many seconds (drift advances with parts).")
@click.option("--duration-s", type=click.FloatRange(min=0), help="Stop after this long (default: Ctrl-C).")
def twin(process: str, host: str, port: int, seed: int, drift: tuple[str, ...], part_period_s: float,
         duration_s: float | None) -> None:
    """Serve the process twin over OPC UA: parameters read/write, actuals and measured defect rates."""
    _quiet_asyncua()
    from inspection.simulation.twin_server import NAMESPACE, TwinServer

    model = ProcessTwin(process, seed=seed, drift=_parse_drift(drift, process))
    with TwinServer(model, host=host, port=port, part_period_s=part_period_s) as server:
        click.echo(f"process twin ({process}) at {server.endpoint}  namespace {NAMESPACE}")
        for name, info in model.parameters().items():
            click.echo(f"  Process.Parameters.{name}.Setpoint  {info.nominal:g} {info.unit}  "
                       f"(range {info.low:g}..{info.high:g}, drift {model.drift.get(name, 0.0):+g}/100 parts)")
        click.echo("Ctrl-C to stop.")
        stop = threading.Event()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how an operator stops it
            stop.wait(duration_s) if duration_s is not None else _wait_forever(stop)
        click.echo(f"stopped after {model.index} parts")


def _wait_forever(stop: threading.Event) -> None:
    while not stop.wait(1.0):
        pass


@click.group()
def controller() -> None:
    """Closed-loop process control: simulate against the twin, check a configuration."""


def _config(path: Path | None, process: str) -> ControllerConfig:
    cfg = load_controller_config(path) if path else default_controller_config(process)
    if path and cfg.process != process:
        raise ConfigError(f"{path}: process is {cfg.process!r} but --process is {process!r}")
    return cfg


@controller.command()
@_process_option
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Controller YAML (default: the bundled one for the process).")
@click.option("--parts", type=click.IntRange(min=100), default=3000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--mode", type=click.Choice(["auto", "advise"]), default="auto", show_default=True,
              help="advise: proposals are only recorded (nobody approves in a simulation).")
@click.option("--algorithm", type=click.Choice(["ewma", "pid"]), help="Override the configured algorithm.")
@_drift_option
@click.option("--render", "render_size", type=click.IntRange(32, 1024), metavar="PX",
              help="Render every part (PX x PX) and judge the drawn defects (slower).")
@click.option("--through", type=click.Choice(["twin", "opcua"]), default="twin", show_default=True,
              help="opcua: serve the twin on 127.0.0.1 and control it through the OPC UA process port.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write the open/closed plot (PNG).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def simulate(process: str, config_path: Path | None, parts: int, seed: int, mode: str, algorithm: str | None,
             drift: tuple[str, ...], render_size: int | None, through: str, plot: Path | None,
             as_json: bool) -> None:
    """Run the twin with drift open loop and closed loop (same seed) and compare defect rates."""
    _quiet_asyncua()
    from inspection.simulation.closed_loop import plot_closed_loop, two_proportion_z
    from inspection.simulation.closed_loop import simulate as run

    cfg = _config(config_path, process)
    if algorithm:
        cfg = cfg.model_copy(update={"algorithm": algorithm})
    drift_values = _parse_drift(drift, process)
    started = time.perf_counter()
    open_run = run(cfg, parts, seed, closed=False, drift=drift_values, render_size=render_size)
    closed_run = run(cfg, parts, seed, closed=True, drift=drift_values, mode=mode, render_size=render_size,
                     through=through)  # type: ignore[arg-type]
    z, p = two_proportion_z(*open_run.count(), *closed_run.count())
    result = {"process": process, "seed": seed, "parts": parts, "mode": mode, "algorithm": cfg.algorithm,
              "through": through, "render": render_size,
              "open_loop": open_run.summary(), "closed_loop": closed_run.summary(),
              "z": round(z, 2), "p_value": p, "elapsed_s": round(time.perf_counter() - started, 2),
              "final_setpoints": {k: round(v, 3) for k, v in closed_run.setpoints[-1].items()
                                  if k in cfg.parameters}}
    if plot:
        plot_closed_loop(open_run, closed_run, cfg, plot)
        result["plot"] = str(plot)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{process}: {parts} parts, seed {seed}, drift "
               f"{drift_values if drift_values is not None else cfg.twin.drift}, through {through}"
               + (f", rendered {render_size} px" if render_size else ""))
    click.echo(f"  open loop    defect rate {open_run.defect_rate():6.1%}")
    click.echo(f"  closed loop  defect rate {closed_run.defect_rate():6.1%}  ({mode}, {cfg.algorithm}; "
               f"{result['closed_loop']['changes']} changes, {result['closed_loop']['proposals']} proposals)")
    click.echo(f"  two-proportion z = {z:.2f}, one-sided p = {p:.2g}")
    click.echo("  final setpoints  " + ", ".join(f"{k} {v:g}" for k, v in result["final_setpoints"].items()))
    if plot:
        click.echo(f"  plot  {plot}")


def _security_options(function: Any) -> Any:
    """--insecure / --opcua-user for the commands that connect to a process over OPC UA."""
    function = click.option("--opcua-user", metavar="NAME",
                            help="User name on the process's OPC UA server (password from STATION_OPCUA_PASSWORD).")(
        function)
    return click.option("--insecure", is_flag=True,
                        help="Connect with SecurityPolicy None (the twin server, a closed test cell). Default: "
                             "Basic256Sha256 + SignAndEncrypt with the station's client certificate.")(function)


def _client_security(insecure: bool, opcua_user: str | None) -> Any:
    from inspection.people.opcua_access import ClientSecurity

    return ClientSecurity(allow_insecure=insecure, username=opcua_user)


@controller.command()
@_process_option
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", help="OPC UA endpoint of the process (default: an in-process twin).")
@click.option("--timeout-s", type=click.FloatRange(min=0.1), default=5.0, show_default=True)
@_security_options
def check(process: str, config_path: Path | None, url: str | None, timeout_s: float, insecure: bool,
          opcua_user: str | None) -> None:
    """Check a controller configuration against the process (names, limits vs the values in force)."""
    _quiet_asyncua()
    from inspection.process.controller import Controller
    from inspection.process.opcua_client import OpcUaProcess, Options
    from inspection.simulation.twin_process import InProcessTwin

    cfg = _config(config_path, process)
    port = (OpcUaProcess(Options(url=url, timeout_s=timeout_s, security=_client_security(insecure, opcua_user)))
            if url else InProcessTwin(ProcessTwin(process)))
    with port:
        Controller(cfg, port, classes=MODELS[cfg.process].classes).start()
        current = port.read_setpoints()
    click.echo(f"ok: {len(cfg.parameters)} parameters within limits "
               + ", ".join(f"{n} {current[n]:g}" for n in cfg.parameters))


# --- engineers' commands on the recorded proposals and history ------------------------------------

_db_option = click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
                          help="The station's SQLite file (process tables beside the verdicts).")
_config_option = click.option("-c", "--config", "config_path",
                              type=click.Path(exists=True, dir_okay=False, path_type=Path),
                              help="Controller YAML (default: the bundled one for the process).")
_url_option = click.option("--url", required=True, help="OPC UA endpoint of the process, e.g. opc.tcp://host:4850/twin/")
_LOGIN_HELP = ("Log in as a station account (engineer or admin) of --db: STATION_TOKEN, or STATION_USER + "
               "STATION_PASSWORD, or the prompt. The decision is role-checked and audited.")


def _decide(db: Path, ctl: Any, proposal_id: int, decision: str, reason: str = "") -> Any:
    """The console's route (inspection.decisions.approvals.decide_proposal) as the logged-in user."""
    from inspection.decisions.approvals import decide_proposal
    from inspection.people.audit import Operations
    from inspection.people.session import cli_user
    from inspection.records.store import Store

    with Store(db) as store:
        return decide_proposal(Operations(store), cli_user(store), ctl, proposal_id, decision,  # type: ignore[arg-type]
                               reason)


def _format_changes(changes: list[dict]) -> str:
    return ", ".join(f"{c['parameter']} {c['before']:g} → {c['after']:g}" for c in changes)


@controller.command("proposals")
@_db_option
@click.option("--status", type=click.Choice(["pending", "applied", "rejected", "failed", "reverted", "superseded"]))
def list_proposals(db: Path, status: str | None) -> None:
    """List recorded proposals and changes (newest last)."""
    from inspection.process.store import ProcessLog

    with ProcessLog(db) as log:
        rows = [r for r in log.proposals() if status is None or r["status"] == status]
    for r in rows:
        who = f" by {r['approver']}" if r["approver"] else ""
        click.echo(f"#{r['id']:<4} {r['status']:<10} {r['kind']:<6} part {r['part_index']:<6} "
                   f"{_format_changes(r['changes'])}{who}  ({r['reason']})")
    if not rows:
        click.echo("no proposals")


def _restored(db: Path, config_path: Path | None, process: str, url: str | None, timeout_s: float,
              security: Any = None) -> Any:
    """A controller holding the recorded proposals, connected to the process when `url` is given."""
    from inspection.process.controller import Controller
    from inspection.process.opcua_client import OpcUaProcess, Options
    from inspection.process.store import ProcessLog

    cfg = _config(config_path, process)
    stack = contextlib.ExitStack()
    try:
        log = stack.enter_context(ProcessLog(db))
        port = (stack.enter_context(OpcUaProcess(Options(url=url, timeout_s=timeout_s, security=security)))
                if url else None)
        ctl = Controller(cfg, port, sink=log, classes=MODELS[cfg.process].classes)  # type: ignore[arg-type]
        if port is not None:
            ctl.start()  # checks the configuration against the process before anything is written
        ctl.restore(log.proposals())
    except BaseException:
        stack.close()
        raise
    return stack, ctl


def _written_proposal_command(function: Any) -> Any:
    """The options of the commands that write a recorded proposal to the process (approve, revert)."""
    for option in reversed((controller.command(epilog=_LOGIN_HELP), click.argument("proposal_id", type=int),
                            _db_option, _process_option, _config_option, _url_option,
                            click.option("--timeout-s", type=click.FloatRange(min=0.1), default=5.0,
                                         show_default=True), _security_options)):
        function = option(function)
    return function


def _write_decision(db: Path, config_path: Path | None, process: str, url: str, timeout_s: float,
                    proposal_id: int, decision: str, security: Any) -> Any:
    """Log in, decide through the core (role-checked, audited) and write to the process at `url`."""
    _quiet_asyncua()
    stack, ctl = _restored(db, config_path, process, url, timeout_s, security)
    with stack:
        return _decide(db, ctl, proposal_id, decision)


@_written_proposal_command
def approve(proposal_id: int, db: Path, process: str, config_path: Path | None, url: str, timeout_s: float,
            insecure: bool, opcua_user: str | None) -> None:
    """Apply a pending proposal to the process (inside the configured limits) and record who approved it."""
    done = _write_decision(db, config_path, process, url, timeout_s, proposal_id, "approve",
                           _client_security(insecure, opcua_user))
    click.echo(f"#{done.id} applied by {done.approver}: " + _format_changes(done.as_record()["changes"]))


@controller.command(epilog=_LOGIN_HELP)
@click.argument("proposal_id", type=int)
@_db_option
@click.option("--reason", default="", help="Why (recorded).")
@_process_option
@_config_option
def reject(proposal_id: int, db: Path, reason: str, process: str, config_path: Path | None) -> None:
    """Reject a pending proposal (nothing is written to the process)."""
    stack, ctl = _restored(db, config_path, process, None, 5.0)
    with stack:
        done = _decide(db, ctl, proposal_id, "reject", reason)
    click.echo(f"#{done.id} rejected by {done.approver}")


@_written_proposal_command
def revert(proposal_id: int, db: Path, process: str, config_path: Path | None, url: str, timeout_s: float,
           insecure: bool, opcua_user: str | None) -> None:
    """Write back the values an applied proposal replaced (recorded as a revert)."""
    done = _write_decision(db, config_path, process, url, timeout_s, proposal_id, "revert",
                           _client_security(insecure, opcua_user))
    click.echo(f"#{done.id} reverts #{proposal_id}: " + _format_changes(done.as_record()["changes"]))


@controller.command()
@_db_option
@_process_option
@_config_option
@click.option("--min-t", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="Entries with |t| below this are shown but marked as not significant.")
def sensitivity(db: Path, process: str, config_path: Path | None, min_t: float) -> None:
    """Estimate each class's sensitivity to each controlled parameter from the stored history."""
    from inspection.process.controller import estimate_sensitivity
    from inspection.process.store import ProcessLog

    cfg = _config(config_path, process)
    with ProcessLog(db) as log:
        history = log.history(cfg.process)
    classes = MODELS[cfg.process].classes
    estimate = estimate_sensitivity(history, classes, list(cfg.parameters))
    click.echo(f"{estimate.n} parts of {cfg.process} history; rate change per unit (configured → estimated, t)")
    for cls in classes:
        cells = []
        for name in cfg.parameters:
            t = estimate.t_value(cls, name)
            configured = cfg.sensitivity.get(cls, {}).get(name)
            shown = f"{configured:+.4g}" if configured is not None else "—"
            mark = "" if abs(t) >= min_t else " (n.s.)"
            cells.append(f"{name} {shown} → {estimate.table[cls][name]:+.4g} (t {t:+.1f}){mark}")
        click.echo(f"  {cls:<14} " + "; ".join(cells))
