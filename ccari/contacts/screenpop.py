"""What an agent sees when a contact of any medium is offered: the screen pop."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.crm import repo as crm_repo
from ccari.storage.models import Contact, Customer
from ccari.voice.ivr import spoken

PREVIOUS = 5


def public_attributes(contact: Contact) -> dict[str, Any]:
    """Routing attributes as shown to people (ccari's own data is in ``Contact.meta``)."""
    return dict(contact.attributes or {})


async def screen_pop(session: AsyncSession, contact: Contact, now: dt.datetime) -> dict[str, Any]:
    meta = contact.meta
    customer = None
    if contact.customer_id is not None:
        customer = await session.scalar(
            select(Customer).where(Customer.id == contact.customer_id,
                                   Customer.tenant_id == contact.tenant_id))
    previous: list[dict[str, Any]] = []
    if customer is not None:
        rows = await session.scalars(
            select(Contact)
            .where(Contact.tenant_id == contact.tenant_id, Contact.customer_id == customer.id,
                   Contact.id != contact.id)
            .order_by(Contact.arrived_at.desc()).limit(PREVIOUS))
        previous = [{"id": c.id, "medium": c.medium, "state": c.state,
                     "at": c.arrived_at.isoformat(), "disposition": c.disposition} for c in rows]
    said, keys = spoken(list(meta.get("ivr", [])))
    queued = contact.queued_at or contact.arrived_at
    return {
        "id": contact.id,
        "medium": contact.medium,
        "caller_number": contact.caller_number,
        "caller_name": contact.caller_name,
        "ivr": public_attributes(contact),
        "ivr_digits": keys,
        "ivr_said": said,  # what the caller said to the IVR, with the recogniser's confidence
        "page_url": meta.get("page_url"),
        "origin": meta.get("origin"),  # "web": a call from the customer's page (talk now)
        "chat": meta.get("chat"),  # a web call's chat contact on that page
        "subject": meta.get("subject"),
        "fax": meta.get("fax"),  # a fax: found by its tones on a voice number, over T.38
        "wait_s": round((now - queued).total_seconds(), 1),
        "customer": crm_repo.card(customer),
        "previous": previous,
    }
