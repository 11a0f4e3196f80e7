"""What the routing core sees of a contact and of an agent: the translation from the
database's rows to :mod:`ccari.routing`'s work items and agents (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from ccari.routing import Agent as RouterAgent
from ccari.routing import Medium, Requirement, SlotSpec, WorkItem
from ccari.storage.models import Agent, Contact

_MEDIA = {m.value: m for m in Medium}


class Routable(Protocol):
    """What :func:`routed_item` reads: a ``Contact``, or a row of ``repo.routed_rows``."""

    @property
    def id(self) -> str: ...
    @property
    def tenant_id(self) -> int: ...
    @property
    def medium(self) -> str: ...
    @property
    def queue_id(self) -> int | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def arrived_at(self) -> dt.datetime: ...
    @property
    def queued_at(self) -> dt.datetime | None: ...
    @property
    def not_before(self) -> dt.datetime | None: ...


def requirements_from(attributes: Mapping[str, Any]) -> tuple[Requirement, ...]:
    """IVR/web attributes (``{"skill": "sales"}``) become required routing attributes."""
    return _requirements(tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def requirements_from_json(attributes: str | dict[str, Any] | None) -> tuple[Requirement, ...]:
    """The same from the attributes column as the database returns it (its JSON text, or a
    dict if the driver decodes JSON): contacts asking the same share the parse."""
    if isinstance(attributes, str):
        return _requirements_of_text(attributes)
    return requirements_from(attributes or {})


@functools.lru_cache(maxsize=4096)
def _requirements_of_text(text: str) -> tuple[Requirement, ...]:
    return requirements_from(json.loads(text) or {})


@functools.lru_cache(maxsize=4096)
def _requirements(pairs: tuple[tuple[str, str], ...]) -> tuple[Requirement, ...]:
    # Many contacts ask for the same attributes: they share one (immutable) tuple.
    return tuple(Requirement(name=k, value=v, required=True, min_proficiency=1) for k, v in pairs)


def router_agent(agent: Agent, *, phone: bool = True, page: bool = True,
                 page_media: Collection[Medium] = (),
                 attributes: Mapping[tuple[str, str], int] | None = None) -> RouterAgent:
    """``phone=False``: the agent's phone is unreachable, so no voice slot.  ``page=False``:
    no agent page of hers is open, so no slot for the media presented there (``page_media``:
    chat, e-mail, voicemail).  Her other media and her own presence are untouched.
    ``attributes``: her skills as ``(name, value) -> proficiency``, if read apart from her
    row (else her ``skills``)."""
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
        attributes=(dict(attributes) if attributes is not None
                    else {(s.name, s.value): s.proficiency for s in agent.skills}),
        slots=SlotSpec(
            per_medium=per_medium,
            total=total,
            exclusive=frozenset(Medium(m) for m in slots.get("exclusive", ["voice"])),
        ),
    )


def work_item(contact: Contact) -> WorkItem:
    """The router's view of a waiting contact.  One handed to a colleague by name waits for
    her only, whatever skills its attributes ask for."""
    return routed_item(contact, requirements_from(contact.attributes or {}),
                       contact.meta.get("reserved_agent"))


def routed_item(contact: Routable, requirements: tuple[Requirement, ...],
                reserved_agent: str | None) -> WorkItem:
    """The router's view of a contact's columns (a ``Contact`` or a row)."""
    arrived = contact.queued_at or contact.arrived_at
    return WorkItem(
        id=contact.id,
        tenant=str(contact.tenant_id),
        medium=_MEDIA[contact.medium],
        requirements=() if reserved_agent else requirements,
        priority=contact.priority,
        arrived_at=arrived.timestamp(),
        queue=str(contact.queue_id or "default"),
        not_before=contact.not_before.timestamp() if contact.not_before else None,
        # A chat transferred to one colleague waits for that agent only.
        reserved_agent=reserved_agent,
    )


def row_item(row: Any) -> WorkItem:
    """A row of ``ccari.contacts.repo.routed_rows`` as the router sees it."""
    return routed_item(row, requirements_from_json(row.attributes), row.reserved_agent)
