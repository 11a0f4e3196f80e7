"""Fair blending on the real PBX: alice (voice alone, chats together) is chatting when a
caller for her skill queues; once the call has waited acme's hold, a new chat is not offered
to her (the supervisor API shows her held back for the call), and when her chat ends her
phone rings for the caller."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app, public_app
from ccari.storage.models import Contact
from tests.chat.test_chat import open_chat
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_callbacks_pbx import rows, watch
from tests.voice.test_voice_pbx import caller, phone

pytestmark = pytest.mark.pbx

CALLER = "15551230001"


async def call_in(rt: Runtime, state: str) -> Contact | None:
    found = await rows(rt, Contact, Contact.caller_number == CALLER, Contact.state == state)
    return found[0] if found else None


async def test_a_waiting_call_gets_the_blended_agent_once_her_chat_ends(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client: Any) -> None:
    async with ccari.sessions() as s:
        agent = await agents_repo.by_login(s, "acme", "alice")
        assert agent is not None
        alice_id = agent.id
    api = await aiohttp_client(internal_app(ccari))
    admin = {"Authorization": f"Bearer {ccari.config.admin_token}"}
    resp = await api.put("/api/tenants/acme/routing", json={"blend_hold_s": 1}, headers=admin)
    assert resp.status == 200, await resp.text()
    public = await aiohttp_client(public_app(ccari))
    alice = await watch(ccari, aiohttp_client, "alice")  # her page, ready
    try:
        async with phone(voice_env, "alice", hangup_after_ms=1000) as alice_phone:
            _, first_ws, first = await open_chat(public, "sales")
            offer = await eventually(alice.offer, what="the first chat offered to alice")
            assert offer["id"] == first["contact_id"]
            await alice.page.ws.send_json({"type": "accept", "contact_id": offer["id"]})
            call = caller(voice_env, digits="1", hangup_after_ms=0, caller=CALLER)
            await call.start()
            queued = await eventually(lambda: call_in(ccari, "queued"), what="the call queued")

            async def held_back() -> bool:  # after acme's hold, as the supervisor sees it
                return ccari.queue.held_back_for(alice_id) == [queued.id]

            await eventually(held_back, what="alice held back for the call")
            _, second_ws, second = await open_chat(public, "sales")

            async def second_waits() -> bool:  # routed, and left waiting
                return ccari.queue.view(second["contact_id"]) is not None

            await eventually(second_waits, what="the second chat waiting")
            chats = await rows(ccari, Contact, Contact.medium == "chat",
                               Contact.agent_id == alice_id)
            assert [c.id for c in chats] == [first["contact_id"]]

            await alice.page.ws.send_json({"type": "complete", "contact_id": offer["id"]})
            done = await eventually(lambda: call_in(ccari, "completed"), 30, "the call answered")
            assert done.agent_id == alice_id and done.disposition == "agent-hangup"
            result = await call.wait()
            assert result.ok, result.describe()
        assert (await alice_phone.result()).requests.get("INVITE") == 1
        async with ccari.sessions() as s:
            row = await s.scalar(select(Contact).where(Contact.id == second["contact_id"]))
            assert row is not None and row.state in ("queued", "offered")
        await first_ws.close()
        await second_ws.close()
    finally:
        await alice.close()
