"""Model registry: every model the station may run, with its provenance, metrics and status.

A registry is a folder: `registry.db` (SQLite) and `models/<product>-<sha12>.<ext>` (immutable copies).
Status per model: candidate → production → retired. Exactly one production model per product; the
promotion gate compares a candidate with production on the golden set (no worse escape rate, bounded
false-reject change) and optionally on shadow-mode evidence. Rollback restores the previous production
model in one action. A file whose hash no longer matches its registration is refused at load.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from pydantic import Field

from inspection.config import StrictModel
from inspection.errors import ModelError, StoreError
from inspection.inference import file_sha256
from inspection.inference.model_files import check_model_file
from inspection.security.inputs import check_name
from inspection.security.signing import sign_model, signature_path

log = logging.getLogger(__name__)

__all__ = ["GateReport", "ModelRecord", "ModelRegistry", "PromotionGate", "mcnemar_exact_p"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class ModelRecord:
    id: str
    product: str
    path: Path
    sha256: str
    status: str
    task: str = "detect"
    classes: tuple[str, ...] = ()
    dataset_version: str = ""
    command: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    created: str = ""


class PromotionGate(StrictModel):
    """What a candidate must show against production before it may replace it."""

    max_escape_increase: float = Field(0.0, ge=0.0, description="escape rate may not rise more than this")
    max_false_reject_increase: float = Field(0.02, ge=0.0, description="false-reject rate may rise at most this")
    shadow_alpha: float | None = Field(None, gt=0.0, lt=1.0,
                                       description="if set, shadow evidence must not favour production at this level")


@dataclass(frozen=True, slots=True)
class GateReport:
    passed: bool
    lines: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _check_metrics(metrics: dict[str, float]) -> None:
    """Numbers the promotion gate will compare: finite, and rates between 0 and 1 (a negative escape rate
    would pass any gate)."""
    if not isinstance(metrics, dict):
        raise ModelError(f"metrics: expected a mapping of name → number, got {type(metrics).__name__}")
    for name, value in metrics.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ModelError(f"metric {name!r}: expected a finite number, got {value!r}")
        if name.endswith("_rate") and not 0.0 <= value <= 1.0:
            raise ModelError(f"metric {name!r} = {value}: a rate lies between 0 and 1")


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar test on paired disagreements: b = only production right, c = only candidate right."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


class ModelRegistry:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.models_dir = self.root / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(self.root / "registry.db"), timeout=5.0)
            self.db = sqlite_utils.Database(conn)
            self.db.enable_wal()
            self.db["models"].create(
                {"id": str, "product": str, "path": str, "sha256": str, "status": str, "task": str, "classes": str,
                 "dataset_version": str, "command": str, "metrics": str, "created": str},
                pk="id", if_not_exists=True)
            self.db["history"].create(
                {"id": int, "time": str, "product": str, "action": str, "model_id": str, "previous_id": str,
                 "by": str, "report": str}, pk="id", if_not_exists=True)
        except sqlite3.Error as exc:  # locked or not a database: the caller shows it
            raise StoreError(f"cannot open the model registry {self.root / 'registry.db'}: {exc}") from None
        try:  # exactly one production model per product, whatever two processes do at once
            self.db.execute("create unique index if not exists one_production_model on models(product) "
                            "where status = 'production'")
        except sqlite3.IntegrityError:
            log.error("model registry %s holds two production models of one product (written before this "
                      "check existed): `station models list`, then roll one back", self.root)

    def close(self) -> None:
        self.db.conn.close()

    # --- registration and lookup --------------------------------------------------------------

    def register(self, path: Path, product: str, *, dataset_version: str = "", command: str = "",
                 metrics: dict[str, float] | None = None, task: str = "detect",
                 classes: tuple[str, ...] = (), signing_key: Path | None = None) -> ModelRecord:
        """Copy the model file into the registry as a candidate. Registering the same file twice is a no-op.

        With `signing_key` (kept outside the registry) the registered copy is signed; a signature already
        beside the file (`<model>.sig`) is copied with it."""
        product = check_name(product, "product")
        _check_metrics(metrics or {})
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"cannot register {path}: file does not exist")
        check_model_file(path)  # a file that could run code when loaded never enters the registry
        sha = file_sha256(path)
        model_id = f"{product}-{sha[:12]}"
        if existing := self._row(model_id):
            if signing_key is not None:
                sign_model(Path(existing["path"]), signing_key, forbidden_dir=self.root)
            return self._record(existing)
        target = self.models_dir / f"{model_id}{path.suffix}"
        if not target.resolve().is_relative_to(self.models_dir.resolve()):
            raise ModelError(f"cannot register {path}: its target {target} is outside {self.models_dir}")
        if signing_key is not None:  # before the copy: a key inside the registry is refused first
            sign_model(path, signing_key, forbidden_dir=self.root)
        shutil.copy2(path, target)
        if signature_path(path).is_file():
            shutil.copy2(signature_path(path), signature_path(target))
        row = {"id": model_id, "product": product, "path": str(target), "sha256": sha, "status": "candidate",
               "task": task, "classes": json.dumps(list(classes)), "dataset_version": dataset_version,
               "command": command, "metrics": json.dumps(metrics or {}), "created": _now()}
        with self.db.conn:
            self.db["models"].insert(row)
            self._log(product, "register", model_id, None, "", {})
        return self._record(row)

    def get(self, model_id: str) -> ModelRecord:
        row = self._row(model_id)
        if row is None:
            raise ModelError(f"model {model_id!r} is not in the registry at {self.root}; see `station models list`")
        return self._record(row)

    def list(self, product: str | None = None) -> list[ModelRecord]:
        rows = self.db["models"].rows_where("product = ?" if product else None, [product] if product else [],
                                            order_by="created")
        return [self._record(r) for r in rows]

    def production(self, product: str) -> ModelRecord | None:
        rows = list(self.db["models"].rows_where("product = ? and status = 'production'", [product]))
        return self._record(rows[0]) if rows else None

    def verified_path(self, record: ModelRecord) -> Path:
        """The model file, after checking it is the registry's own copy (`models/<id>.<ext>`, the id naming its
        hash) and byte-for-byte what was registered."""
        expected = self.models_dir / f"{record.id}{record.path.suffix}"
        if record.path != expected or not record.id.endswith(f"-{record.sha256[:12]}"):
            raise ModelError(f"registered model {record.id} points at {record.path}, not the registry's own copy "
                             f"{expected}: the registry database was edited; refusing to load it")
        if not record.path.is_file():
            raise ModelError(f"registered model {record.id} is missing its file {record.path}")
        actual = file_sha256(record.path)
        if actual != record.sha256:
            raise ModelError(
                f"model file {record.path} was changed after registration (sha256 {actual[:12]} ≠ "
                f"{record.sha256[:12]}); refusing to load it. Restore the file or register the new one."
            )
        return record.path

    def production_path(self, product: str) -> Path:
        record = self.production(product)
        if record is None:
            raise ModelError(f"no production model for product {product!r} in {self.root}; promote one first")
        return self.verified_path(record)

    # --- status changes -----------------------------------------------------------------------

    def check_gate(self, candidate: ModelRecord, gate: PromotionGate,
                   shadow: tuple[int, int] | None = None) -> GateReport:
        """Compare candidate with production. `shadow` = (only production right, only candidate right)."""
        current = self.production(candidate.product)
        if current is None:
            return GateReport(True, (f"no production model for {candidate.product}: {candidate.id} may be promoted",))
        lines, ok = [f"candidate {candidate.id} vs production {current.id}"], True
        if candidate.classes and current.classes and (candidate.classes, candidate.task) != (current.classes,
                                                                                               current.task):
            lines.append(f"  model: {current.task} {list(current.classes)} → {candidate.task} "
                         f"{list(candidate.classes)}: the product's recipes are written for production's → BLOCKED")
            ok = False
        for key, limit in (("escape_rate", gate.max_escape_increase),
                           ("false_reject_rate", gate.max_false_reject_increase)):
            new, old = candidate.metrics.get(key), current.metrics.get(key)
            if new is None or old is None:
                lines.append(f"  {key}: missing on {'candidate' if new is None else 'production'} → blocked")
                ok = False
                continue
            passed = new <= old + limit + 1e-12
            ok &= passed
            lines.append(f"  {key}: {old:.4f} → {new:.4f} (allowed +{limit:.4f}) {'ok' if passed else 'BLOCKED'}")
        if gate.shadow_alpha is not None and shadow is not None:
            b, c = shadow
            p = mcnemar_exact_p(b, c)
            worse = b > c and p < gate.shadow_alpha
            ok &= not worse
            lines.append(f"  shadow: production-only right {b}, candidate-only right {c}, McNemar p = {p:.4f} "
                         f"{'BLOCKED' if worse else 'ok'}")
        return GateReport(ok, tuple(lines))

    def promote(self, model_id: str, by: str, gate: PromotionGate | None = None,
                shadow: tuple[int, int] | None = None, force: bool = False) -> GateReport:
        self.verified_path(self.get(model_id))  # hashing takes a while: before the write lock
        gate = gate or PromotionGate()
        with self._status_change():  # production is read, gated and replaced under one write lock
            candidate = self.get(model_id)
            report = self.check_gate(candidate, gate, shadow)
            if not report.passed and not force:
                raise ModelError(f"promotion of {model_id} blocked by the gate:\n{report}")
            current = self.production(candidate.product)
            if current is not None:
                self.db["models"].update(current.id, {"status": "retired"})
            self.db["models"].update(model_id, {"status": "production"})
            self._log(candidate.product, "promote" if report.passed else "force-promote", model_id,
                      current.id if current else None, by, {"report": list(report.lines), "gate": gate.model_dump()})
        return report

    def rollback(self, product: str, by: str) -> ModelRecord:
        """Put back the model that was production before the current one."""
        with self._status_change():
            current = self.production(product)
            if current is None:
                raise ModelError(f"no production model for {product!r}: nothing to roll back")
            promotions = list(self.db["history"].rows_where(
                "product = ? and action in ('promote', 'force-promote', 'rollback') and model_id = ?",
                [product, current.id], order_by="id desc", limit=1))
            previous_id = promotions[0]["previous_id"] if promotions else None
            if not previous_id:
                raise ModelError(f"{current.id} has no previous production model to roll back to")
            previous = self.get(previous_id)
            self.verified_path(previous)
            self.db["models"].update(current.id, {"status": "retired"})
            self.db["models"].update(previous.id, {"status": "production"})
            self._log(product, "rollback", previous.id, current.id, by, {})
        return self.get(previous.id)

    @contextlib.contextmanager
    def _status_change(self) -> Iterator[None]:
        """One transaction holding SQLite's write lock from the first read: two engineers promoting at once
        (two processes) get one after the other, never two production models."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"model registry {self.root} is busy ({exc}); try again") from None
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        try:
            conn.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"model registry {self.root}: the change was not saved ({exc})") from None

    def history(self, product: str | None = None) -> list[dict[str, Any]]:
        return list(self.db["history"].rows_where("product = ?" if product else None,
                                                  [product] if product else [], order_by="id"))

    # --- internals ----------------------------------------------------------------------------

    def _row(self, model_id: str) -> dict[str, Any] | None:
        rows = list(self.db["models"].rows_where("id = ?", [model_id]))
        return rows[0] if rows else None

    def _log(self, product: str, action: str, model_id: str, previous_id: str | None, by: str,
             report: dict[str, Any]) -> None:
        self.db["history"].insert({"time": _now(), "product": product, "action": action, "model_id": model_id,
                                   "previous_id": previous_id, "by": by, "report": json.dumps(report)})

    @staticmethod
    def _record(row: dict[str, Any]) -> ModelRecord:
        return ModelRecord(
            id=row["id"], product=row["product"], path=Path(row["path"]), sha256=row["sha256"],
            status=row["status"], task=row["task"], classes=tuple(json.loads(row["classes"] or "[]")),
            dataset_version=row["dataset_version"], command=row["command"],
            metrics=json.loads(row["metrics"] or "{}"), created=row["created"])
