"""Fair blending through the real service: a blended agent handling an e-mail while a call
for her skill has waited the tenant's hold (set with the provisioning API) gets no new e-mail;
the supervisor sees her held back for the call, and the call rings her phone once her e-mail
is done. With the hold off, the new e-mail goes to her and the caller keeps waiting."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import internal_app
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Contact, utcnow
from ccari.tenants import repo as tenants_repo
from tests.email.conftest import Env, mail, smtp_send
from tests.email.test_agent_email import page, receive
from tests.email.test_missed_offer import Phones
from tests.support.waits import eventually


async def waiting_call(env: Env, skill: str, waited_s: float) -> Contact:
    async with env.rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        assert acme is not None
        since = utcnow() - dt.timedelta(seconds=waited_s)
        call = await contacts_repo.create(s, tenant_id=acme.id, medium="voice", state="queued",
                                          caller_number="15550199", attributes={"skill": skill},
                                          arrived_at=since, queued_at=since)
        await s.commit()
    await env.rt.queue.enqueue(call)
    return call


async def queued_email(env: Env, subject: str) -> str:
    async def find() -> str | None:
        async with env.rt.sessions() as s:
            ids = list(await s.scalars(select(Contact.id).where(
                Contact.medium == "email", Contact.state == "queued")))
        return next((i for i in ids if env.rt.queue.view(i) is not None), None)
    return str(await eventually(find, what=f"e-mail {subject!r} waiting"))


@pytest.mark.parametrize("hold", [0, 5])
async def test_a_waiting_call_holds_a_blended_agent_back_from_new_emails(
        env: Env, aiohttp_client: Any, hold: int) -> None:
    phones = Phones()
    env.rt.queue.register("voice", phones)
    api = await aiohttp_client(internal_app(env.rt))
    token = {"Authorization": f"Bearer {env.secrets['acme.token']}"}
    resp = await api.put("/api/tenants/acme/routing", json={"blend_hold_s": hold}, headers=token)
    assert resp.status == 200
    assert (await resp.json())["routing"] == {"blend_hold_s": hold, "effective_blend_hold_s": hold}
    bob = await page(env, aiohttp_client, "acme", "bob")
    sam = await page(env, aiohttp_client, "acme", "sam")  # the supervisor
    try:
        async with env.rt.sessions() as s:
            row = await agents_repo.by_login(s, "acme", "bob")
            assert row is not None
        await bob.ws.send_json({"type": "presence", "presence": "ready"})
        await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "First"))
        first = (await receive(bob.ws, "offer"))["contact"]["id"]
        await bob.ws.send_json({"type": "accept", "contact_id": first})
        # A caller for bob's skill has waited 10 s: bob's voice slot is exclusive, he has
        # an e-mail open, so the call cannot ring him yet.
        call = await waiting_call(env, "support", waited_s=10)
        await smtp_send(env.port, mail("grace@example.com", "support@acme.example", "Second"))
        if not hold:  # the second e-mail goes to bob beside the first; the caller waits
            second = (await receive(bob.ws, "offer"))["contact"]["id"]
            assert second != first and phones.rung.empty()
            assert env.rt.queue.view(call.id) is not None
            return
        second = await queued_email(env, "Second")  # waiting: bob is held back for the call
        agents = (await (await sam.http.get("/supervisor/api/pending")).json())["agents"]
        assert {a["name"]: a["held_back_for"] for a in agents}["Bob Support"] == [call.id]
        await bob.ws.send_json({"type": "complete", "contact_id": first})
        assert await asyncio.wait_for(phones.rung.get(), 10) == (call.id, row.id)
        assert env.rt.queue.view(second) is not None  # next, after the call
    finally:
        await bob.close()
        await sam.close()
