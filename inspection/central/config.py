"""The `central:` section of the station YAML (see docs/fleet.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CentralConfig", "ModelHubConfig"]


class CentralConfig(BaseModel):
    """Ship this station's verdicts, events and audit rows to a central PostgreSQL (the station `name` is its id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # as inspection.config.StrictModel (no import cycle)

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


class ModelHubConfig(BaseModel):
    """`model_hub:` in the station YAML: the central MLflow model registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str = Field(description="MLflow tracking server, e.g. http://mlflow.plant:5000")
    timeout_s: float = Field(10.0, gt=0, le=600, description="per HTTP request to MLflow")
    retries: int = Field(0, ge=0, le=10, description="HTTP retries per request (0: fail fast, use the cache)")
