"""Keeping a caller's message (one transaction, once) and the tenant's voicemail API."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.app import internal_app
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import Contact
from ccari.tenants import repo as tenants_repo
from ccari.voicemail.models import Voicemail
from ccari.voicemail.services import VoicemailService
from tests.voicemail.conftest import wav


async def calling(rt, slug: str, caller: str = "15551230001") -> Contact:
    """A call over its tenant's limit, in the voicemail treatment."""
    async with rt.sessions() as s:
        tenant = await tenants_repo.by_slug(s, slug)
        contact = await contacts_repo.create(
            s, tenant_id=tenant.id, medium="voice", state="ivr", node=rt.config.node,
            channel_id=f"ch-{caller}", caller_number=caller, arrived_at=dt.datetime.now(dt.UTC),
            meta={"overflow": "voicemail", "refused": "tenant-limit-reached"})
        await s.commit()
    return contact


async def contact(rt, contact_id: str) -> Contact:
    async with rt.sessions() as s:
        found = await s.get(Contact, contact_id)
    assert found is not None
    return found


async def test_a_message_becomes_a_queued_contact_once_and_ends_the_call(rt) -> None:
    service = VoicemailService(rt.sessions, rt.queue, node=rt.config.node)
    call = await calling(rt, "acme")
    audio = wav(2.5)
    vm_id = await service.keep(call.id, audio, 2.5)
    assert vm_id is not None
    vm, ended = await contact(rt, vm_id), await contact(rt, call.id)
    assert (vm.medium, vm.state, vm.caller_number, vm.tenant_id) == (
        "voicemail", "queued", "15551230001", call.tenant_id)
    assert (ended.state, ended.disposition) == ("completed", "voicemail-left")
    row = await service.audio(call.tenant_id, vm_id)
    assert row is not None and row.audio == audio and row.call_contact_id == call.id
    assert row.reason == "tenant-limit-reached"
    # The same end reported twice (a replayed event, the reconcile): kept once.
    assert await service.keep(call.id, audio, 2.5) is None
    async with rt.sessions() as s:
        assert len(list(await s.scalars(select(Voicemail)))) == 1


async def test_a_hang_up_at_the_beep_keeps_nothing(rt) -> None:
    service = VoicemailService(rt.sessions, rt.queue, node=rt.config.node)
    call = await calling(rt, "acme")
    assert await service.keep(call.id, wav(0.4), 0.4) is None
    assert (await contact(rt, call.id)).disposition == "voicemail-empty"
    other = await calling(rt, "acme", "15551230009")
    assert await service.keep(other.id, None, 0.0) is None  # nothing was recorded at all
    async with rt.sessions() as s:
        assert list(await s.scalars(select(Voicemail))) == []


@pytest.fixture
async def client(rt, aiohttp_client) -> TestClient:
    return await aiohttp_client(internal_app(rt))


async def test_the_api_shows_a_tenant_only_its_own_messages(rt, client, demo) -> None:
    service = VoicemailService(rt.sessions, rt.queue, node=rt.config.node)
    acme_vm = await service.keep((await calling(rt, "acme")).id, wav(2.0), 2.0)
    globex_vm = await service.keep((await calling(rt, "globex", "15551230005")).id, wav(3.0), 3.0)
    acme = {"Authorization": f"Bearer {demo['acme.token']}"}
    globex = {"Authorization": f"Bearer {demo['globex.token']}"}
    listed = (await (await client.get("/api/voicemails", headers=acme)).json())["voicemails"]
    assert [(v["id"], v["duration_s"], v["state"]) for v in listed] == [(acme_vm, 2.0, "queued")]
    resp = await client.get(listed[0]["audio"], headers=acme)
    assert resp.status == 200 and resp.content_type == "audio/wav"
    assert await resp.read() == wav(2.0)
    for path in (f"/api/voicemails/{acme_vm}/audio",):
        resp = await client.get(path, headers=globex)
        assert resp.status == 404 and (await resp.json())["error"] == "voicemail-not-found"
        resp = await client.get(path)
        assert resp.status == 401
    resp = await client.get(f"/api/voicemails/{globex_vm}/audio", headers=globex)
    assert resp.status == 200
    # The agent route needs an agent's session and the message offered to that agent.
    resp = await client.get(f"/agent/voicemails/{acme_vm}")
    assert resp.status == 401 and (await resp.json())["error"] == "login-required"
