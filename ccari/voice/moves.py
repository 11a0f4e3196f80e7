"""What each step of a call writes: plain functions on a synchronous Session, run in the hot
path's shared commits (:mod:`ccari.storage.batch`) before Asterisk is told anything.

Each one reads the contact, moves it by a lifecycle fact with the times and figures of that
step, and returns it (None when the contact is gone or already past that step: a replayed
event, or the reconcile got there first).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from ccari.contacts import lifecycle, repo
from ccari.contacts.lifecycle import Fact, State
from ccari.crm import repo as crm_repo
from ccari.crm.entitlements import local_routing_attributes
from ccari.routing import Medium
from ccari.storage.models import Contact
from ccari.voice import wrapup


def arrived(s: Session, *, tenant_id: int, caller: str | None, medium: Medium = Medium.VOICE,
            **fields: Any) -> Contact:
    """A new call's contact, in the IVR, with the customer its caller ID names; ``medium``:
    voice, or video (a video call from the customer's page)."""
    return repo.create_sync(s, tenant_id=tenant_id, medium=medium.value, state=State.IVR.value,
                            caller_number=caller,
                            customer_id=crm_repo.customer_id_by_phone_sync(s, tenant_id, caller),
                            **fields)


def routed(s: Session, contact_id: str, attributes: dict[str, object],
           at: dt.datetime, ivr: list[str] | None = None) -> Contact | None:
    """Out of the IVR into the queue; entitlements can add required routing attributes
    (e.g. gold customers -> the gold pool), decided from the local record.  ``ivr``: the
    digits the caller pressed, kept with ccari's own data (the screen pop shows them)."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or contact.state != State.IVR:
        return None
    attrs = {**attributes, **local_routing_attributes(s, contact.tenant_id, contact.customer_id)}
    if ivr is None:
        return repo.apply_sync(s, contact, Fact.ROUTED, at=at, queued_at=at, attributes=attrs)
    return repo.apply_sync(s, contact, Fact.ROUTED, at=at, queued_at=at, attributes=attrs,
                           meta={**contact.meta, "ivr": ivr})


def requeued(s: Session, contact_id: str, at: dt.datetime) -> Contact | None:
    """An offer a previous process started goes back to the queue."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or contact.state != State.OFFERED:
        return None
    return repo.apply_sync(s, contact, Fact.DECLINED, at=at, agent_id=None, agent_channel_id=None)


def answered(s: Session, contact_id: str, at: dt.datetime, *, bridge_id: str,
             agent_channel_id: str | None) -> Contact | None:
    """The agent answered: connected, with the time the caller waited.  None when the contact
    cannot be connected any more (the caller hung up while the agent's phone answered)."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or not lifecycle.allows(contact.state, Fact.ANSWERED):
        return None
    wait = (at - (contact.queued_at or contact.arrived_at)).total_seconds()
    return repo.apply_sync(s, contact, Fact.ANSWERED, at=at, connected_at=at, bridge_id=bridge_id,
                           agent_channel_id=agent_channel_id, wait_s=round(wait, 3))


def abandoned(s: Session, contact_id: str, at: dt.datetime) -> Contact | None:
    """The caller hung up before an agent took the call."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or not lifecycle.allows(contact.state, Fact.CUSTOMER_LEFT):
        return None
    start = contact.queued_at or contact.arrived_at
    return repo.apply_sync(s, contact, Fact.CUSTOMER_LEFT, at=at, ended_at=at, agent_id=None,
                           wait_s=round((at - start).total_seconds(), 3),
                           disposition=f"abandoned-in-{contact.state}")


def diverted(s: Session, contact_id: str, at: dt.datetime, fact: Fact,
             disposition: str) -> Contact | None:
    """The call ended for another reason than a hang-up before an agent took it: the
    caller left for another path (a fax machine found by its tones: self-served from the
    IVR, else it left the queue), or its Asterisk was lost (``fact`` gave up)."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or not lifecycle.allows(contact.state, fact):
        return None
    start = contact.queued_at or contact.arrived_at
    return repo.apply_sync(s, contact, fact, at=at, ended_at=at, agent_id=None,
                           wait_s=round((at - start).total_seconds(), 3),
                           disposition=disposition)


def ended(s: Session, contact_id: str, at: dt.datetime, disposition: str,
          hold_s: float = 0.0) -> Contact | None:
    """A connected call ended, with its talk time (and its time on hold, if it was held)."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or contact.state != State.CONNECTED:
        return None
    talk = (at - (contact.connected_at or at)).total_seconds()
    meta: dict[str, Any] = {**contact.meta}
    if hold_s:
        meta["hold_s"] = round(hold_s, 3)
    wrapped = wrapup.at_end(disposition, meta)  # its agent left and wrapped up before
    if wrapped is not None:
        disposition, meta = wrapped
    if meta != contact.meta:
        return repo.apply_sync(s, contact, Fact.ENDED, at=at, ended_at=at,
                               talk_s=round(talk, 3), disposition=disposition, meta=meta)
    return repo.apply_sync(s, contact, Fact.ENDED, at=at, ended_at=at, talk_s=round(talk, 3),
                           disposition=disposition)


def transferred(s: Session, contact_id: str, at: dt.datetime, attributes: dict[str, object],
                hold_s: float = 0.0, reserved_agent: int | None = None,
                to: dict[str, object] | None = None) -> Contact | None:
    """The agent handed a connected call back to the queue with new routing attributes; it
    keeps its place rules (its original queue time) and its history.  ``reserved_agent``:
    it waits for that colleague only (``to`` names her in the contact's transfers)."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or contact.state != State.CONNECTED:
        return None
    meta = {**contact.meta, "transfers": [*contact.meta.get("transfers", []),
                                          {"agent_id": contact.agent_id,
                                           "to": attributes if to is None else to}]}
    meta.pop("reserved_agent", None)
    if reserved_agent is not None:
        meta["reserved_agent"] = str(reserved_agent)
    if hold_s:
        meta["hold_s"] = round(hold_s, 3)
    return repo.apply_sync(s, contact, Fact.TRANSFERRED, at=at, attributes=attributes,
                           agent_id=None, agent_channel_id=None, bridge_id=None, meta=meta)
