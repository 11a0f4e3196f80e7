"""Customer lookups for the screen pop, scoped to one tenant."""

from __future__ import annotations

from typing import Any

import phonenumbers
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ccari.storage.models import Customer, CustomerPhone


def normalise(number: str | None, region: str = "US") -> str | None:
    """E.164 digits without '+', or None when the caller ID is no phone number."""
    if not number:
        return None
    raw = number.strip()
    try:
        parsed = phonenumbers.parse(raw if raw.startswith("+") else "+" + raw, None)
    except phonenumbers.NumberParseException:
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


def _by_phone(tenant_id: int, e164: str) -> Select[tuple[Customer]]:
    return (select(Customer)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(CustomerPhone.tenant_id == tenant_id, CustomerPhone.number == e164))


async def by_phone(session: AsyncSession, tenant_id: int, number: str | None) -> Customer | None:
    e164 = normalise(number)
    return None if e164 is None else await session.scalar(_by_phone(tenant_id, e164))


def by_phone_sync(session: Session, tenant_id: int, number: str | None) -> Customer | None:
    e164 = normalise(number)
    return None if e164 is None else session.scalar(_by_phone(tenant_id, e164))


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
