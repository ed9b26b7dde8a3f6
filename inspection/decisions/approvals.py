"""People's decisions on models and process changes, made as a logged-in user: role checked, audited.

The model registry and the process controller record *who* did something as a name. These functions
take the logged-in `User` instead: they check the role in the core (`inspection.domain.permissions` actions
`promote_model`, `rollback_model` and `controller`: engineers and admins), write the attempt to the
audit log (refused attempts too), then call the registry or the controller. When the core itself
refuses (the promotion gate blocks, a model file was changed, nothing to roll back, a proposal is no
longer pending, the process refused the write) a second audit row records the refusal with its
message, and the error is raised unchanged for the caller to show.

The console and the CLI (`station models promote|rollback`, `station controller approve|reject|revert`,
which log in through `inspection.people.session.cli_user`) both decide through these functions: there is
no second route that takes a typed name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from inspection.domain.permissions import User
from inspection.errors import ModelError, StationError, StoreError
from inspection.models.registry import GateReport, ModelRecord, ModelRegistry, PromotionGate
from inspection.people.audit import Operations

if TYPE_CHECKING:
    from inspection.process.controller import Controller, Proposal

__all__ = ["PROPOSAL_DECISIONS", "ProposalDecision", "decide_proposal", "gate_decision", "promote_model",
           "rollback_model"]

ProposalDecision = Literal["approve", "reject", "revert"]
PROPOSAL_DECISIONS: tuple[str, ...] = ("approve", "reject", "revert")
T = TypeVar("T")


def _audited(ops: Operations, user: User | None, action: str, detail: dict[str, Any],
             do: Callable[[User], T]) -> T:
    """Permission check + audit of the attempt, then the core's action; a refusal by the core is audited too."""
    ops.authorize(user, action, detail)  # AccessDenied is logged (allowed = 0) and raised
    assert user is not None
    try:
        return do(user)
    except StationError as exc:
        with contextlib.suppress(StoreError):  # nothing was done; the core's refusal is what to show
            ops.audit.record(user, action, {**detail, "refused": str(exc)}, allowed=False)
        raise


def gate_decision(registry: ModelRegistry, model_id: str, gate: PromotionGate | None = None,
                  shadow: tuple[int, int] | None = None) -> GateReport:
    """What the promotion gate says about promoting `model_id` now (read-only: no permission needed).

    A model that already is production, or whose file no longer matches its registration, is reported as
    not promotable with the reason."""
    record = registry.get(model_id)
    if record.status == "production":
        return GateReport(False, (f"{record.id} is the production model of {record.product}: nothing to promote",))
    try:
        registry.verified_path(record)
    except ModelError as exc:
        return GateReport(False, (str(exc),))
    return registry.check_gate(record, gate or PromotionGate(), shadow)


def promote_model(ops: Operations, user: User | None, registry: ModelRegistry, model_id: str,
                  gate: PromotionGate | None = None, shadow: tuple[int, int] | None = None,
                  force: bool = False) -> GateReport:
    """Make a registered model production as `user`, if the gate lets it.

    `force` promotes past a blocking gate: an admin-only action (`force_promote_model`), audited as such."""
    record = registry.get(model_id)
    used = gate or PromotionGate()
    detail = {"model_id": model_id, "product": record.product, "force": force, "gate": used.model_dump()}
    default = PromotionGate()
    loosened = (used.max_escape_increase > default.max_escape_increase
                or used.max_false_reject_increase > default.max_false_reject_increase)
    if force or loosened:  # a gate widened by the caller is a forced promotion in all but name
        ops.authorize(user, "force_promote_model", detail)  # refused (and audited) for anyone but an admin

    def promote(who: User) -> GateReport:
        if record.status == "production":
            raise ModelError(f"{record.id} already is the production model of {record.product}")
        return registry.promote(model_id, who.username, gate, shadow, force=force)

    return _audited(ops, user, "promote_model", detail, promote)


def rollback_model(ops: Operations, user: User | None, registry: ModelRegistry, product: str) -> ModelRecord:
    """Put back the previous production model of `product` as `user`; returns the model now in production."""
    current = registry.production(product)
    detail = {"product": product, "from": current.id if current else None}
    return _audited(ops, user, "rollback_model", detail, lambda who: registry.rollback(product, who.username))


def decide_proposal(ops: Operations, user: User | None, controller: Controller, proposal_id: int,
                    decision: ProposalDecision, reason: str = "") -> Proposal:
    """Approve (apply), reject or revert a process-controller proposal as `user` (role `controller`)."""
    if decision not in PROPOSAL_DECISIONS:
        raise ValueError(f"proposal decision {decision!r}: expected one of {', '.join(PROPOSAL_DECISIONS)}")
    detail = {"proposal_id": proposal_id, "decision": decision, "reason": reason}

    def decide(who: User) -> Proposal:
        if decision == "approve":
            return controller.approve(proposal_id, who.username)
        if decision == "reject":
            return controller.reject(proposal_id, who.username, reason)
        return controller.revert(proposal_id, who.username)

    return _audited(ops, user, "controller", detail, decide)
