"""What the routing core sees of a contact and of an agent: the translation from the
database's rows to :mod:`ccari.routing`'s work items and agents (pure, no I/O)."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ccari.agents.devices import BROWSER
from ccari.routing import CALLS, Medium, Requirement, SlotSpec, WorkItem
from ccari.routing import Agent as RouterAgent
from ccari.storage.models import Agent, Contact

_MEDIA = {m.value: m for m in Medium}


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
    """``phone=False``: the agent's phone is unreachable, so no call slot (voice, video).
    Video needs her phone to be the agent page (``device`` browser): a SIP phone agent's
    video slot is closed, and video is handled alone whenever voice is.  ``page=False``:
    no agent page of hers is open, so no slot for the media presented there (``page_media``:
    chat, e-mail, voicemail).  Her other media and her own presence are untouched.
    ``attributes``: her skills as ``(name, value) -> proficiency``, if read apart from her
    row (else her ``skills``)."""
    slots = agent.slots or {}
    per_medium = {Medium(k): int(v) for k, v in (slots.get("per_medium") or {"voice": 1}).items()}
    total = int(slots.get("total", sum(per_medium.values())))
    closed: set[Medium] = set() if phone else set(CALLS)
    if agent.device != BROWSER:
        closed.add(Medium.VIDEO)
    if not page:
        closed.update(page_media)
    for medium in closed & per_medium.keys():
        per_medium[medium] = 0
    exclusive = {Medium(m) for m in slots.get("exclusive", ["voice"])}
    if Medium.VOICE in exclusive and Medium.VIDEO in per_medium:
        exclusive.add(Medium.VIDEO)  # a call is a call: handled alone, as voice is
    return RouterAgent(
        id=str(agent.id),
        tenant=_tenant(agent.tenant_id),
        site=str(agent.site_id or ""),
        attributes=(dict(attributes) if attributes is not None
                    else {(s.name, s.value): s.proficiency for s in agent.skills}),
        slots=SlotSpec(
            per_medium=per_medium,
            total=total,
            exclusive=frozenset(exclusive),
        ),
    )


def work_item(contact: Contact) -> WorkItem:
    """The router's view of a waiting contact.  One handed to a colleague by name waits for
    her only, whatever skills its attributes ask for."""
    waiting_from = contact.queued_at or contact.arrived_at
    return routed_item(
        contact.id, contact.tenant_id, contact.medium, contact.queue_id, contact.priority,
        waiting_from.timestamp(), contact.not_before.timestamp() if contact.not_before else None,
        requirements_from(contact.attributes or {}), contact.meta.get("reserved_agent"))


def routed_item(contact_id: str, tenant_id: int, medium: str, queue_id: int | None,
                priority: int, waiting_from: float, not_before: float | None,
                requirements: tuple[Requirement, ...], reserved_agent: str | None) -> WorkItem:
    """The router's view of a contact's columns (its times in seconds since the epoch)."""
    return WorkItem(
        id=contact_id,
        tenant=_tenant(tenant_id),
        medium=_MEDIA[medium],
        # A chat transferred to one colleague waits for that agent only.
        requirements=() if reserved_agent else requirements,
        priority=priority,
        arrived_at=waiting_from,
        queue=_queue(queue_id),
        reserved_agent=reserved_agent,
        not_before=not_before,
    )


def row_item(row: Sequence[Any]) -> WorkItem:
    """A row of ``ccari.contacts.repo.routed_rows`` as the router sees it (read by position:
    by name, the attributes of 100,000 rows cost as much as all the rest of the restart)."""
    (contact_id, tenant_id, medium, _, _, queue_id, attributes, reserved_agent, priority,
     waiting_from, _, not_before, _) = row
    return routed_item(contact_id, tenant_id, medium, queue_id, priority, waiting_from,
                       not_before, requirements_from_json(attributes), reserved_agent)


def restore_args(rows: Iterable[Sequence[Any]], present: Collection[str], *,
                 offers_kept: bool = False) -> tuple[
        list[tuple[WorkItem, str, float]], list[WorkItem], list[tuple[WorkItem, str]]]:
    """The rows of ``routed_rows`` as :meth:`ccari.routing.Router.restore` takes them, for
    the agents ``present`` (logged in to routing): the contacts being handled, with their
    agent and since when (not a call its agent left to others: she is free of it; nor one
    of an agent not present: routing forgot it at her logout), the others waiting (queued,
    or offered when the previous process ended), and the offered ones with their agent, if
    she is present, that go on: a call's (its node's Asterisk still rings her phone: a new
    leader must not hand it to another agent meanwhile) and, ``offers_kept`` (the router
    that made them is rebuilt in the same process, which still shows and times them),
    every one."""
    in_progress: list[tuple[WorkItem, str, float]] = []
    waiting: list[WorkItem] = []
    offered: list[tuple[WorkItem, str]] = []
    for row in rows:
        state, agent_id, handled_from, agent_left = row[3], row[4], row[10], row[12]
        agent = str(agent_id) if agent_id else None
        if state == "connected":
            if agent in present and not agent_left:
                in_progress.append((row_item(row), str(agent), handled_from))
        elif state == "offered" and agent in present and (
                offers_kept or Medium(row[2]).is_call):
            offered.append((row_item(row), str(agent)))
        elif state in ("queued", "offered"):
            waiting.append(row_item(row))
    return in_progress, waiting, offered


def handled_items(rows: Iterable[Sequence[Any]]) -> list[tuple[WorkItem, float]]:
    """The rows of ``handled_rows`` as :meth:`ccari.routing.Router.agent_login` takes them
    (``holding``): each with since when she handles it, not a call she left to others."""
    return [(row_item(row), row[10]) for row in rows if not row[12]]


def hold_offs(declines: Iterable[tuple[str, int, float, bool]], *, reoffer_delay: float,
              missed_offer_delay: float, now: float) -> dict[str, dict[str, float]]:
    """From ``(contact_id, agent_id, at, missed)`` of recent declines: contact id -> agent
    id -> until when that agent is not offered it again (as the router that saw the decline
    kept them apart: ``missed_offer_delay`` after a missed offer, ``reoffer_delay`` after a
    refusal); only what still holds at ``now``."""
    out: dict[str, dict[str, float]] = {}
    for contact_id, agent_id, at, missed in declines:
        until = at + (missed_offer_delay if missed else reoffer_delay)
        if until > now:
            apart = out.setdefault(contact_id, {})
            apart[str(agent_id)] = max(until, apart.get(str(agent_id), until))
    return out


# A restart makes 100,000 items of a few hundred tenants and queues: they share one string
# each (as they share their requirements) instead of one per item.
@functools.lru_cache(maxsize=4096)
def _tenant(tenant_id: int) -> str:
    return str(tenant_id)


@functools.lru_cache(maxsize=4096)
def _queue(queue_id: int | None) -> str:
    return str(queue_id or "default")
