"""The trunk policies as the database keeps them, turned into the pure core's values, and
what the API shows of a tenant's entitlement."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from ccari.admission import repo
from ccari.admission.models import TrunkPool
from ccari.admission.policy import Overflow, PoolPolicy, TenantPolicy

log = logging.getLogger(__name__)

# What a refused caller gets (carried out by ccari.voice.overflow).
OVERFLOWS: tuple[Overflow, ...] = ("busy", "announcement", "voicemail", "callback")
# The pool settings kept in the trunk_pool row (the others keep PoolPolicy's defaults).
POOL_FIELDS = tuple(
    f.name for f in dataclasses.fields(PoolPolicy) if f.name in TrunkPool.__table__.columns
)



@dataclass(frozen=True, slots=True)
class PolicyView:
    """A tenant's entitlement, and what it gives now."""

    tenant_id: int
    tenant: str
    ratio: float
    after_hours_trunks: int
    overflow: str
    available_agents: int
    permitted: int
    outstanding: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def pool_policy(row: TrunkPool) -> PoolPolicy:
    return PoolPolicy(**{name: getattr(row, name) for name in POOL_FIELDS})


def tenant_policy(row: repo.PolicyRow) -> TenantPolicy | None:
    overflow = row.overflow if row.overflow in OVERFLOWS else "busy"
    try:
        return TenantPolicy(str(row.tenant_id), float(row.ratio), int(row.after_hours_trunks),
                            overflow)
    except ValueError as exc:
        log.warning("tenant %s has an invalid trunk policy (%s): it gets no calls", row.tenant_id, exc)
        return None
