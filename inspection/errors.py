"""One error hierarchy for the station. Messages say what went wrong and what to do about it.

The CLI maps each class to an exit code, so scripts can tell a bad config from a missing camera.
"""

from __future__ import annotations

__all__ = [
    "CameraError",
    "ConfigError",
    "DataError",
    "ModelError",
    "OutputError",
    "StageFailure",
    "StationError",
    "StoreError",
]


class StationError(Exception):
    """Base of every error the station raises on purpose. `exit_code` is what the CLI returns."""

    exit_code = 1


class ConfigError(StationError):
    """A configuration, recipe or camera YAML is unreadable or invalid."""

    exit_code = 2


class ModelError(StationError):
    """A model file is missing, is not a model, or does not match the recipe."""

    exit_code = 3


class CameraError(StationError):
    """A camera (or replay source) cannot be opened or stopped delivering frames."""

    exit_code = 4


class OutputError(StationError):
    """A reject output / PLC / process connection failed."""

    exit_code = 5


class StoreError(StationError):
    """The verdict database or image archive cannot be written."""

    exit_code = 6


class DataError(StationError):
    """A dataset, label file or image set is malformed."""

    exit_code = 7


class StageFailure(StationError):
    """A station stage kept failing; the station stopped safely (PLC outputs fail-safe, fault set)."""

    exit_code = 8
