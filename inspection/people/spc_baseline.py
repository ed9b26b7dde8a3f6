"""Freezing SPC limits is a decision: it changes how every later part is judged, so engineers only, audited."""

from __future__ import annotations

from inspection.domain.permissions import User
from inspection.people.audit import Operations
from inspection.records.spc_rules import ChartKind, FrozenLimits, store_frozen_limits
from inspection.records.store import Store

__all__ = ["freeze_limits"]


def freeze_limits(store: Store, kind: ChartKind, from_s: float, to_s: float, subgroup_size: int = 25,
                  user: User | None = None, now_s: float | None = None) -> FrozenLimits:
    """Role-checked ("configure") and audited Phase I limits; see `store_frozen_limits`."""
    Operations(store).authorize(user, "configure", {"spc_limits": kind, "from_s": from_s, "to_s": to_s,
                                                    "subgroup_size": subgroup_size})
    return store_frozen_limits(store, kind, from_s, to_s, subgroup_size,
                               by=user.username if user else "", now_s=now_s)
