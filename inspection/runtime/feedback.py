"""Glue between the station and the process: a pipeline listener that feeds the controller.
(The simulated line that renders twin parts as frames is `inspection.simulation.twin_line`.)

`ProcessFeedback` is appended to `Station.listeners`: per inspected part it reads the actual process
values (the parameters in force for that part), hands verdict + values to the controller, and updates
telemetry. A process port that stops answering raises the controller's alarm: it freezes, it never
guesses.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from inspection.adapters.registry import create_adapter
from inspection.config import ProcessSection
from inspection.domain.types import Inspection
from inspection.errors import ConfigError
from inspection.inference import Detector
from inspection.process import ProcessError, ProcessPort
from inspection.process.config import default_controller_config, load_controller_config
from inspection.process.controller import Controller, PartResult, Proposal
from inspection.process.store import ProcessLog
from inspection.records.store import Store
from inspection.telemetry import TelemetryState, units_inspected

__all__ = ["ProcessFeedback", "StationFeedback", "open_station_feedback"]

log = logging.getLogger(__name__)


class ProcessFeedback:
    """Station listener: Inspection → controller (with the values in force) → telemetry."""

    def __init__(self, controller: Controller, port: ProcessPort, telemetry: TelemetryState | None = None) -> None:
        self.controller = controller
        self.port = port
        self.telemetry = telemetry
        self.index = 0
        self.proposals: list[Proposal] = []

    def __call__(self, inspection: Inspection) -> None:
        try:
            parameters = self.port.read_actuals()
            self.controller.clear_alarm("process port")  # only its own: a camera alarm stays
        except ProcessError as exc:
            log.warning("process port: %s", exc)
            self.controller.raise_alarm("process port")
            parameters = None
        proposal = self.controller.observe(PartResult.from_inspection(inspection, self.index, parameters))
        self.index += 1
        if self.telemetry is not None:
            self.telemetry.update(inspection, units_inspected(inspection, source=self.telemetry.source,
                                                              process_parameters=parameters))
            if proposal is not None:
                self.telemetry.change(proposal)
        if proposal is not None:
            self.proposals.append(proposal)


class StationFeedback(ProcessFeedback):
    """ProcessFeedback that owns what the station config made for it: the port and the process log."""

    def __init__(self, controller: Controller, port: ProcessPort, log_store: ProcessLog,
                 telemetry: TelemetryState | None = None) -> None:
        super().__init__(controller, port, telemetry)
        self._log_store = log_store

    def close(self) -> None:
        try:
            self.port.close()
        finally:
            self._log_store.close()


def open_station_feedback(section: ProcessSection, detector: Detector, db: Store | Path,
                          twin: Any = None,  # the ProcessTwin a `kind: twin` port steers (simulation)
                          telemetry: TelemetryState | None = None) -> StationFeedback:
    """Build the controller a station YAML's `process:` section asks for, against the live process port.

    The controller checks its configuration against the process at start (ConfigError naming the key).
    `twin` lets a `kind: twin` port steer the very twin a `kind: twin` camera renders from; `telemetry`
    (the station's, when it has `telemetry:` sinks) gets each part with the parameters in force."""
    if section.controller is not None:
        config = load_controller_config(section.controller)
    elif section.process is not None:
        config = default_controller_config(section.process)
    else:
        raise ConfigError("process: give `process: solder|paint` (bundled controller) or `controller: FILE`")
    if section.mode is not None:
        config = config.model_copy(update={"mode": section.mode})
    port = create_adapter("process", section.port, twin=twin)
    port.open()
    log_store = ProcessLog(db)  # the station's Store when given: one connection to the file
    try:
        controller = Controller(config, port, sink=log_store, classes=detector.class_names).start()
    except BaseException:
        port.close()
        log_store.close()
        raise
    return StationFeedback(controller, port, log_store, telemetry)
