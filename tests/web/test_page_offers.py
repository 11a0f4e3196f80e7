"""Page commands act on web contacts only: a call is answered on the phone."""

from __future__ import annotations

from sqlalchemy import select

from ccari.app import internal_app, runtime
from ccari.contacts import repo
from ccari.demo.seed import seed
from ccari.storage.models import Agent, utcnow
from tests.web.test_web import _login


async def test_accept_of_a_call_from_the_page_is_refused(cfg, sessions, aiohttp_client):
    async with sessions() as s:
        sec = await seed(s, cfg)
        alice = await s.scalar(select(Agent).where(Agent.username == "alice"))
        call = await repo.create(s, tenant_id=alice.tenant_id, medium="voice", state="offered",
                                 arrived_at=utcnow(), agent_id=alice.id)
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        client = await aiohttp_client(internal_app(rt))
        await _login(client, "acme", "alice", sec["acme.alice.web"])
        ws = await client.ws_connect("/agent/ws")
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await ws.send_json({"type": "accept", "contact_id": call.id})
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error" and reply["error"] == "not-a-web-contact"
        await ws.send_json({"type": "accept", "contact_id": "nope"})
        assert (await ws.receive_json(timeout=5))["error"] == "contact-not-found"
        await ws.close()
    async with sessions() as s:
        assert (await repo.get(s, call.id)).state == "offered"  # untouched
