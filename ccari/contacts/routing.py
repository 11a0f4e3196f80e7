"""What the routing core sees of a contact and of an agent: the translation from the
database's rows to :mod:`ccari.routing`'s work items and agents (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ccari.routing import Agent as RouterAgent
from ccari.routing import Medium, Requirement, SlotSpec, WorkItem
from ccari.storage.models import Agent, Contact


def requirements_from(attributes: dict[str, Any]) -> tuple[Requirement, ...]:
    """IVR/web attributes (``{"skill": "sales"}``) become required routing attributes."""
    return tuple(
        Requirement(name=str(k), value=str(v), required=True, min_proficiency=1)
        for k, v in sorted(attributes.items())
    )


def router_agent(agent: Agent, *, phone: bool = True, page: bool = True,
                 page_media: Collection[Medium] = ()) -> RouterAgent:
    """``phone=False``: the agent's phone is unreachable, so no voice slot.  ``page=False``:
    no agent page of hers is open, so no slot for the media presented there (``page_media``:
    chat, e-mail, voicemail).  Her other media and her own presence are untouched."""
    slots = agent.slots or {}
    per_medium = {Medium(k): int(v) for k, v in (slots.get("per_medium") or {"voice": 1}).items()}
    total = int(slots.get("total", sum(per_medium.values())))
    closed: set[Medium] = set() if phone else {Medium.VOICE}
    if not page:
        closed.update(page_media)
    for medium in closed & per_medium.keys():
        per_medium[medium] = 0
    return RouterAgent(
        id=str(agent.id),
        tenant=str(agent.tenant_id),
        site=str(agent.site_id or ""),
        attributes={(s.name, s.value): s.proficiency for s in agent.skills},
        slots=SlotSpec(
            per_medium=per_medium,
            total=total,
            exclusive=frozenset(Medium(m) for m in slots.get("exclusive", ["voice"])),
        ),
    )


def work_item(contact: Contact) -> WorkItem:
    """The router's view of a waiting contact.  One handed to a colleague by name waits for
    her only, whatever skills its attributes ask for."""
    arrived = contact.queued_at or contact.arrived_at
    reserved = contact.meta.get("reserved_agent")
    return WorkItem(
        id=contact.id,
        tenant=str(contact.tenant_id),
        medium=Medium(contact.medium),
        requirements=requirements_from({} if reserved else contact.attributes or {}),
        priority=contact.priority,
        arrived_at=arrived.timestamp(),
        queue=str(contact.queue_id or "default"),
        not_before=contact.not_before.timestamp() if contact.not_before else None,
        # A chat transferred to one colleague waits for that agent only.
        reserved_agent=reserved,
    )
