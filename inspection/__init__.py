"""Core of the inspection station, in capability packages (domain, inference, runtime, records, people,
models, line I/O, simulation) plus the CLI, configuration, adapter registry and errors.

The layers, the path of one part and how to add an adapter: docs/architecture.md (the import rules are
import-linter contracts in pyproject.toml). Never imports Qt (`station_ui`) or the training stack
(`training`).
"""

__version__ = "0.1.0"
