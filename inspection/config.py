"""Station configuration: one YAML, merged over the defaults, validated by pydantic.

Unknown keys and bad values are errors that name the file, the key and what was expected. Adapter
sections (`cameras`, `detector`, `output`) are validated by the options model of the adapter their
`kind:` selects (see `inspection.adapters.registry`). Relative paths resolve against the file that names them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from inspection.adapters.registry import adapter_module
from inspection.errors import ConfigError, DataError
from inspection.security.inputs import MAX_YAML_BYTES, load_yaml_text, truncate

__all__ = [
    "AdapterOptions",
    "CentralConfig",
    "ConfigPath",
    "HealthSection",
    "ModelHubConfig",
    "ProcessSection",
    "SamplePolicy",
    "SecuritySection",
    "StationConfig",
    "StoreConfig",
    "StrictModel",
    "default_data_dir",
    "format_validation_error",
    "load_station_config",
    "read_yaml",
    "validate_model",
]

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")


def default_data_dir() -> Path:
    """Where the station keeps its database and image archive unless told otherwise."""
    if env := os.environ.get("STATION_DATA_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "inspection-station"


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    try:
        value = Path(os.path.expandvars(str(value))).expanduser()
    except RuntimeError as exc:  # ~someone who has no home directory here
        raise ValueError(f"{value}: {exc}") from None
    base = (info.context or {}).get("base_dir")
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""A path in a config file: `~` and `$VARS` expanded, relative to the file's folder."""


class StrictModel(BaseModel):
    """Closed, immutable configuration: an unknown key is an error, not silently ignored; `.inf` and `.nan`
    are refused in every number (an infinite deadline or a NaN polygon corner would quietly switch a check off)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AdapterOptions(StrictModel):
    """Base of every adapter's options. Subclasses narrow `kind` to a Literal."""

    kind: str


class StoreConfig(StrictModel):
    db: ConfigPath | None = Field(None, description="SQLite file; default <data_dir>/station.db")
    archive_dir: ConfigPath | None = Field(None, description="image archive; default <data_dir>/images")
    keep_images: Literal["all", "failures", "sample", "none"] = Field(
        "failures", description="which part images to archive (a recipe may override)")
    sample_every: int = Field(20, ge=1, description="with keep_images: sample, keep 1 pass in N")
    image_format: Literal["bmp", "png", "jpg"] = Field(
        "bmp", description="archive format. bmp and png are lossless; bmp costs ~0.03 ms of CPU per 320 px image "
                           "instead of ~3 ms for png (the station's largest cost per failed part), png takes "
                           "~0.6x the disk. jpg is lossy: not for retraining")
    min_free_mb: int = Field(200, ge=0, description="stop archiving images below this free space")
    archive_max_gb: float | None = Field(
        None, gt=0, description="keep the image archive under this size: the oldest images are deleted first "
        "(their verdict rows stay); unset = images stop at min_free_mb instead")
    busy_timeout_s: float = Field(5.0, gt=0.0, le=60.0, description="wait this long for a database locked by "
                                  "another writer before a verdict goes to the spool")
    spool_size: int = Field(10000, ge=1, description="verdicts held in memory while the database refuses rows; "
                            "when full the line stops (ready off, fault on)")


class SamplePolicy(StrictModel):
    """Which parts the station keeps for review and retraining (see inspection.records.samples)."""

    enabled: bool = Field(True, description="keep samples at all")
    keep_failures: bool = Field(True, description="keep every failed part")
    uncertain_margin: float = Field(0.15, ge=0.0, le=1.0,
                                    description="keep parts with a detection this far below its class threshold")
    pass_rate: float = Field(0.02, ge=0.0, le=1.0, description="fraction of passes kept at random")
    max_samples: int = Field(5000, ge=1, description="cap on kept samples; least valuable pending ones go first")
    max_mb: float = Field(2000.0, gt=0.0, description="cap on the samples folder in MB")
    seed: int = Field(0, description="seed of the random pass sample")


class ProcessSection(StrictModel):
    """Closed-loop process feedback (see docs/process_control.md): where the process is, which controller."""

    port: AdapterOptions = Field(description="the process port, `kind:` opcua (a PLC/OPC UA server) or twin")
    process: Literal["solder", "paint"] | None = Field(
        None, description="use the bundled controller configuration of this process")
    controller: ConfigPath | None = Field(None, description="controller YAML (instead of the bundled one)")
    mode: Literal["advise", "auto"] | None = Field(None, description="override the controller's mode")


class SecuritySection(StrictModel):
    """Who and what the station trusts (see docs/security.md)."""

    model_trust_store: ConfigPath | None = Field(
        None, description="folder of trusted Ed25519 public keys (*.pub); set = every model must be signed by one "
        "of them (`station models sign`), unsigned or foreign-signed models are refused")
    require_login: bool = Field(True, description="the console asks for a login before anything else; the bundled "
                                "demo (no --config) stays open")


# The fleet sections (docs/fleet.md); inspection.central uses them only when they are set.
class CentralConfig(StrictModel):
    """Ship this station's verdicts, events and audit rows to a central PostgreSQL (the station `name` is its id)."""

    url: str = Field(description="PostgreSQL URL, e.g. postgresql://station@db.plant:5432/quality "
                     "(a password is better given with password_env)")
    password_env: str | None = Field(None, description="environment variable holding the database password")
    interval_s: float = Field(1.0, gt=0, le=3600, description="how often the replicator looks for new rows")
    batch_rows: int = Field(500, ge=1, le=100_000, description="rows per table per transaction")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="TCP connect and login, each attempt")
    statement_timeout_s: float = Field(30.0, gt=0, le=3600, description="longest a statement may run")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, description="longest wait between reconnect attempts")

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"{value!r}: expected a postgresql:// URL")
        return value


class ModelHubConfig(StrictModel):
    """`model_hub:` in the station YAML: the central MLflow model registry."""

    tracking_uri: str = Field(description="MLflow tracking server, e.g. http://mlflow.plant:5000")
    timeout_s: float = Field(10.0, gt=0, le=600, description="per HTTP request to MLflow")
    retries: int = Field(0, ge=0, le=10, description="HTTP retries per request (0: fail fast, use the cache)")


class HealthSection(StrictModel):
    """`health:` in the station YAML: how the station watches its own inspection (docs/health.md). The signal
    names under `limits` are checked against the health catalogue when the station opens (and by `station
    doctor`): inspection.health sits above this module and owns the catalogue."""

    enabled: bool = Field(True, description="compute the health signals of the inspected parts and warn on drift")
    sample_every: int = Field(10, ge=1, le=100_000, description="log one health sample every N parts")
    station_every: int = Field(100, ge=1, le=100_000, description="poll CPU, disk, PLC, telemetry, queues and "
                               "camera temperature every N parts")
    publish_every: int = Field(25, ge=1, le=100_000, description="publish the health snapshot to telemetry every "
                               "N parts")
    learn_parts: int = Field(400, ge=30, le=100_000, description="parts learned as the baseline when none is set")
    lam: float | None = Field(None, gt=0.0, le=1.0, description="EWMA weight of one part; empty = the monitor's "
                              "0.03 (smaller: slower, smaller drifts seen)")
    width: float | None = Field(None, gt=0.0, le=20.0, description="EWMA control band in sigma; empty = 5")
    limits: dict[str, float] = Field(
        default_factory=dict, description="signal name → limit instead of the catalogue's (docs/health.md; same "
        "unit and mode as the catalogue, e.g. output_p99_ms: 1.0 = 2x the baseline, camera_temp_c: 60)")


class StationConfig(StrictModel):
    name: str = Field("station", min_length=1, max_length=64, pattern=r"^[^+#\x00-\x1f\x7f]+$",
                      description="station name in logs, telemetry topics and the central store (no MQTT "
                                  "wildcards + or #, no control characters)")
    data_dir: ConfigPath = Field(default_factory=default_data_dir,
                                 description="database, images, samples; default $STATION_DATA_DIR or "
                                 "~/.local/share/inspection-station")
    recipe: ConfigPath = Field(description="the product recipe YAML")
    cameras: list[AdapterOptions] = Field(min_length=1, description="one section per camera, `kind:` picks the adapter")
    detector: AdapterOptions = Field(description="the model stage, `kind:` picks the backend")
    output: AdapterOptions = Field(description="reject output to the line, `kind:` picks the protocol")
    store: StoreConfig = StoreConfig()
    samples: SamplePolicy = SamplePolicy()
    process: ProcessSection | None = Field(None, description="closed-loop process feedback; empty = off")
    telemetry: list[AdapterOptions] = Field(
        default_factory=list, description="telemetry for MES/SCADA/dashboards, one section per sink, `kind:` mqtt "
        "or opcua (see docs/process_control.md); empty = off")
    jobs: dict[int, ConfigPath] = Field(
        default_factory=dict, description="PLC job number → recipe file, for job changes asked by the PLC")
    language: Literal["en", "de"] | None = Field(
        None, description="console language (en, de); empty = the console's own setting (its Language menu)")
    security: SecuritySection = SecuritySection()
    central: CentralConfig | None = Field(None, description="central verdict store on PostgreSQL; empty = off "
                                          "(the embedded default: SQLite only)")
    model_hub: ModelHubConfig | None = Field(None, description="central MLflow model registry: a recipe with "
                                             "`registry_product:` takes the product's production model from it at "
                                             "start (verified; the cached one when MLflow is away); empty = off")
    model_registry: ConfigPath | None = Field(
        None, description="model registry folder; a recipe with `registry_product:` loads its production model "
        "from here (hash verified); default <data_dir>/registry")
    health: HealthSection = Field(HealthSection(), description="how the station watches its own inspection: "
                                  "signals, baseline, drift warnings (docs/health.md)")
    calibration_dir: ConfigPath | None = Field(
        None, description="camera calibrations (`station calibrate`), one versioned file per calibration in "
        "<calibration_dir>/<camera id>/; default <data_dir>/calibration")
    source_file: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.store.db or self.data_dir / "station.db"

    @property
    def archive_dir(self) -> Path:
        return self.store.archive_dir or self.data_dir / "images"

    @property
    def samples_dir(self) -> Path:
        return self.data_dir / "samples"

    @property
    def registry_dir(self) -> Path:
        return self.model_registry or self.data_dir / "registry"

    @property
    def calibrations_dir(self) -> Path:
        return self.calibration_dir or self.data_dir / "calibration"


def format_validation_error(error: ValidationError, source: str, prefix: str = "") -> str:
    """One line per problem: `file: key.path: what was expected (got value)`."""
    lines = []
    for item in error.errors():
        parts = [*(prefix.split(".") if prefix else []), *item["loc"]]
        loc = ".".join(str(p) for p in parts if p != "")
        got = item.get("input")
        shown = "" if item["type"] in ("missing",) or isinstance(got, dict) else f" (got {truncate(repr(got), 200)})"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key; check the spelling against the configuration reference"
        lines.append(f"{source}: {loc or '(top level)'}: {truncate(message, 300)}{shown}")
        if len(lines) >= 20 and len(error.errors()) > 20:
            lines.append(f"{source}: … and {len(error.errors()) - 20} more problems")
            break
    return "\n".join(lines)


M = TypeVar("M", bound=BaseModel)


def validate_model(model: type[M], data: Any, source: str, prefix: str = "", **context: Any) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, prefix)) from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file (and the line, for syntax errors)."""
    try:
        if not Path(path).is_file():  # a FIFO would hang the read, /dev/zero fill the memory
            raise ConfigError(f"{path}: file not found" if not Path(path).exists()
                              else f"{path}: not a regular file")
        with open(path, "rb") as handle:  # at most one byte over the limit: never the whole of a huge file
            raw = handle.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: larger than the {MAX_YAML_BYTES} bytes allowed for a station file")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc})") from None
    try:
        data = load_yaml_text(text)  # no aliases (alias bombs), bounded size
    except DataError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Override wins; nested mappings merge, except adapter sections whose `kind` changed."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        same_kind = not (isinstance(old, dict) and isinstance(value, dict) and "kind" in value
                         and old.get("kind") != value["kind"])
        if isinstance(old, dict) and isinstance(value, dict) and same_kind:
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def _validate_adapter(port: str, raw: Any, source: str, key: str, base_dir: Path) -> AdapterOptions:
    if not isinstance(raw, dict) or "kind" not in raw:
        raise ConfigError(f"{source}: {key}: expected a mapping with a 'kind:' key, got {truncate(repr(raw), 200)}")
    if not isinstance(raw["kind"], str):
        raise ConfigError(f"{source}: {key}.kind: expected a name such as onnx or replay, got "
                          f"{truncate(repr(raw['kind']), 100)}")
    try:
        module = adapter_module(port, raw["kind"])
    except ConfigError as exc:
        raise ConfigError(f"{source}: {key}.kind: {exc}") from None
    return validate_model(module.Options, raw, source, key, base_dir=base_dir)


def load_station_config(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> StationConfig:
    """Load a station YAML (or only the defaults) and validate everything, adapters included."""
    raw = read_yaml(DEFAULTS_FILE)
    source, base_dir = str(DEFAULTS_FILE), DEFAULTS_FILE.parent
    if path is not None:
        path = Path(path)
        raw = deep_merge(raw, read_yaml(path))
        source, base_dir = str(path), path.resolve().parent
    raw = deep_merge(raw, overrides or {})
    data = dict(raw)
    cameras = raw.get("cameras")
    if not isinstance(cameras, list):
        raise ConfigError(f"{source}: cameras: expected a list of camera sections, got {truncate(repr(cameras), 200)}")
    data["cameras"] = [
        _validate_adapter("camera", cam, source, f"cameras.{i}", base_dir) for i, cam in enumerate(cameras)
    ]
    for port, key in (("detector", "detector"), ("output", "output")):
        data[key] = _validate_adapter(port, raw.get(key), source, key, base_dir)
    if isinstance(raw.get("process"), dict) and "port" in raw["process"]:
        data["process"] = {**raw["process"],
                           "port": _validate_adapter("process", raw["process"]["port"], source, "process.port",
                                                     base_dir)}
    telemetry = raw.get("telemetry")
    if isinstance(telemetry, dict):  # one sink may be given without the list
        telemetry = [telemetry]
    if telemetry is None:
        data["telemetry"] = []  # `telemetry:` left empty = off
    else:
        if not isinstance(telemetry, list):
            raise ConfigError(f"{source}: telemetry: expected a list of telemetry sections (kind: mqtt|opcua), "
                              f"got {truncate(repr(telemetry), 200)}")
        data["telemetry"] = [_validate_adapter("telemetry", sink, source, f"telemetry.{i}", base_dir)
                             for i, sink in enumerate(telemetry)]
    data["source_file"] = path
    config = validate_model(StationConfig, data, source, base_dir=base_dir)
    ids = [c.id for c in config.cameras]  # type: ignore[attr-defined]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: cameras: camera ids must be unique, got {ids}")
    return config
