"""A caller waiting for an agent when the Asterisk carrying the call was lost is called back,
in their place, when the tenant's ``after_lost_call`` allows it and its allow-list lets the
number be dialled; the voice contact's log says which callback, or why none."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from ccari.callbacks.http import SERVICE
from ccari.callbacks.models import Callback
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import ContactEvent

ARRIVED = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)


async def lost_caller(rt: Any, number: str, tenant: str = "acme") -> str:
    async with rt.sessions() as s:
        contact = await contacts_repo.create(
            s, tenant_id=rt.tenant_ids[tenant], medium="voice", state="failed",
            caller_number=number, attributes={"skill": "sales"}, arrived_at=ARRIVED,
            queued_at=ARRIVED + dt.timedelta(seconds=20), disposition="media-node-lost")
        await s.commit()
        return contact.id


async def logged(rt: Any, contact_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with rt.sessions() as s:
        rows = await s.execute(select(ContactEvent.kind, ContactEvent.data).where(
            ContactEvent.contact_id == contact_id,
            ContactEvent.kind.in_(("callback-planned", "callback-refused"))))
        return [(kind, data) for kind, data in rows]


async def test_a_lost_caller_is_called_back_in_their_place(rt, internal) -> None:
    service = internal.app[SERVICE]
    contact_id = await lost_caller(rt, "12025550147")
    before = dt.datetime.now(dt.UTC)
    callback = await service.after_lost_call(contact_id)
    assert callback is not None
    assert (callback.phone, callback.source, callback.status) == ("+12025550147", "lost", "pending")
    assert callback.place_at == ARRIVED + dt.timedelta(seconds=20)  # their time in the queue
    delay = (callback.next_attempt_at - before).total_seconds()
    assert rt.config.callbacks.lost_call_delay_s - 1 <= delay <= rt.config.callbacks.lost_call_delay_s + 1
    async with rt.sessions() as s:
        contact = await contacts_repo.get(s, callback.contact_id)
    assert contact is not None and contact.attributes == {"skill": "sales"}
    assert await logged(rt, contact_id) == [("callback-planned", {"callback": callback.id})]


async def test_no_callback_unless_the_tenant_allows_it_and_may_dial_the_number(
        rt, internal) -> None:
    service = internal.app[SERVICE]
    acme = {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}
    resp = await internal.put("/api/callbacks/settings", headers=acme,
                              json={"after_lost_call": "yes"})
    assert (resp.status, (await resp.json())["error"]) == (400, "bad-after-lost-call")
    resp = await internal.put("/api/callbacks/settings", headers=acme,
                              json={"after_lost_call": False})
    assert (await resp.json())["after_lost_call"] is False
    off = await lost_caller(rt, "12025550147")
    assert await service.after_lost_call(off) is None
    assert await logged(rt, off) == []

    resp = await internal.put("/api/callbacks/settings", headers=acme,
                              json={"after_lost_call": True})
    assert (await resp.json())["after_lost_call"] is True
    premium = await lost_caller(rt, "19005550100")  # outside what the tenant may dial
    assert await service.after_lost_call(premium) is None
    assert await logged(rt, premium) == [("callback-refused", {"error": "number-not-allowed"})]
    # globex has no callback settings of its own: the defaults call nobody back.
    globex = await lost_caller(rt, "12025550147", tenant="globex")
    assert await service.after_lost_call(globex) is None
    async with rt.sessions() as s:
        assert list(await s.scalars(select(Callback))) == []
