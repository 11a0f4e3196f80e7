"""Customer lookups for the screen pop, scoped to one tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ccari.crm.schemas import normalise
from ccari.storage.batch import connection
from ccari.storage.fast import Query
from ccari.storage.models import Customer, CustomerPhone

__all__ = ["by_phone", "card", "customer_id_by_phone_sync", "normalise"]


def _by_phone(tenant_id: int, e164: str) -> Select[tuple[Customer]]:
    return (select(Customer)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(CustomerPhone.tenant_id == tenant_id, CustomerPhone.number == e164))


async def by_phone(session: AsyncSession, tenant_id: int, number: str | None) -> Customer | None:
    e164 = normalise(number)
    return None if e164 is None else await session.scalar(_by_phone(tenant_id, e164))


_CUSTOMER_ID_BY_PHONE = Query(select(CustomerPhone.customer_id)
                              .where(CustomerPhone.tenant_id == bindparam("_tenant"),
                                     CustomerPhone.number == bindparam("_number"))
                              .limit(1))


def customer_id_by_phone_sync(session: Session, tenant_id: int, number: str | None) -> int | None:
    """The tenant's customer with this phone number (the hot path's shared commits)."""
    e164 = normalise(number)
    if e164 is None:
        return None
    return _CUSTOMER_ID_BY_PHONE.scalar(connection(session),
                                        {"_tenant": tenant_id, "_number": e164})


def card(customer: Customer | None) -> dict[str, Any] | None:
    """What the screen pop shows of a customer."""
    if customer is None:
        return None
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "entitlements": list(customer.entitlements or []),
        "tickets": [
            {"id": t.id, "subject": t.subject, "status": t.status}
            for t in customer.tickets
            if t.status != "closed"
        ],
    }
