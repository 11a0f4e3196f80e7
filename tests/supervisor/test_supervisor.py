"""The supervisor's pending list and its reprioritise / reschedule actions."""

from __future__ import annotations

import datetime as dt
import functools
import re

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.app import internal_app, public_app
from ccari.contacts import repo
from ccari.contacts.screenpop import screen_pop
from ccari.recording.models import Recording
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Agent, Contact, utcnow
from ccari.tenants import repo as tenants_repo
from ccari.voice import moves


async def login(client: TestClient, user: str, password: str) -> str:
    form = await (await client.get("/agent/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    resp = await client.post("/agent/login", allow_redirects=False, data={
        "csrf": csrf, "tenant": "acme", "username": user, "password": password})
    assert resp.status == 303
    page = await (await client.get("/supervisor")).text()
    m = re.search(r'data-csrf="([^"]+)"', page)
    return m.group(1) if m else ""


async def waiting(rt, tenant: str, medium: str, caller: str, minutes_ago: float) -> str:
    async with rt.sessions() as s:
        t = await tenants_repo.by_slug(s, tenant)
        at = utcnow() - dt.timedelta(minutes=minutes_ago)
        c = await repo.create(s, tenant_id=t.id, medium=medium, state="queued", arrived_at=at,
                              queued_at=at, caller_number=caller, attributes={"skill": "sales"})
        await s.commit()
    await rt.queue.enqueue(c)
    return c.id


async def test_agents_who_are_not_supervisors_are_refused(rt, aiohttp_client):
    client = await aiohttp_client(internal_app(rt))
    assert (await client.get("/supervisor/api/pending")).status == 401
    await login(client, "alice", rt.demo_secrets["acme.alice.web"])
    resp = await client.get("/supervisor/api/pending")
    assert resp.status == 403 and (await resp.json())["error"] == "supervisors-only"


async def test_pending_list_spans_media_and_only_this_tenant(rt, aiohttp_client):
    first = await waiting(rt, "acme", "chat", "chat-visitor", 5)
    second = await waiting(rt, "acme", "email", "ada@example.com", 3)
    await waiting(rt, "globex", "chat", "someone-else", 4)
    client = await aiohttp_client(internal_app(rt))
    await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    data = await (await client.get("/supervisor/api/pending")).json()
    assert [c["id"] for c in data["contacts"]] == [first, second]
    assert [c["medium"] for c in data["contacts"]] == ["chat", "email"]
    assert {a["name"] for a in data["agents"]} == {
        "Alice Sales", "Bob Support", "Sam Supervisor", "Vera Video"}


async def test_reprioritise_moves_a_contact_to_the_front(rt, aiohttp_client):
    older = await waiting(rt, "acme", "chat", "a", 5)
    newer = await waiting(rt, "acme", "chat", "b", 1)

    def order() -> list[str]:
        tenant = next(iter({i.tenant for i in rt.queue.router.waiting(acme_id)}))
        return [i.id for i in rt.queue.router.waiting(tenant)]

    async with rt.sessions() as s:
        acme_id = str((await tenants_repo.by_slug(s, "acme")).id)
    assert order() == [older, newer]
    client = await aiohttp_client(internal_app(rt))
    csrf = await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    no_csrf = await client.post(f"/supervisor/api/contacts/{newer}/priority", json={"priority": 5})
    assert no_csrf.status == 403 and (await no_csrf.json())["error"] == "csrf-failed"
    bad = await client.post(f"/supervisor/api/contacts/{newer}/priority", json={"priority": "high"},
                            headers={"X-CSRF-Token": csrf})
    assert bad.status == 400 and (await bad.json())["error"] == "bad-priority"
    ok = await client.post(f"/supervisor/api/contacts/{newer}/priority", json={"priority": 5},
                           headers={"X-CSRF-Token": csrf})
    assert ok.status == 200
    assert order() == [newer, older]
    data = await (await client.get("/supervisor/api/pending")).json()
    assert [c["id"] for c in data["contacts"]] == [newer, older]


async def test_reschedule_later_then_now(rt, aiohttp_client):
    # (callbacks are rescheduled through their own context: tests/callbacks)
    cid = await waiting(rt, "acme", "email", "ada@example.com", 2)
    client = await aiohttp_client(internal_app(rt))
    csrf = await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    resp = await client.post(f"/supervisor/api/contacts/{cid}/schedule", json={"not_before": later},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert rt.queue.view(cid) is None  # scheduled: not waiting for an agent now
    async with rt.sessions() as s:
        assert (await repo.get(s, cid)).not_before is not None
    resp = await client.post(f"/supervisor/api/contacts/{cid}/schedule", json={"not_before": None},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and rt.queue.view(cid) is not None
    bad = await client.post(f"/supervisor/api/contacts/{cid}/schedule", json={"not_before": "soon"},
                            headers={"X-CSRF-Token": csrf})
    assert bad.status == 400 and (await bad.json())["error"] == "bad-time"
    other = await client.post("/supervisor/api/contacts/nope/schedule", json={"not_before": None},
                              headers={"X-CSRF-Token": csrf})
    assert other.status == 404 and (await other.json())["error"] == "contact-not-waiting"


async def test_a_supervisor_moves_a_web_callback_earlier(rt, aiohttp_client):
    from sqlalchemy import select

    from ccari.app import public_app
    from ccari.callbacks.models import Callback

    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
    token, _ = rt.tokens.issue(acme.id)
    public = await aiohttp_client(public_app(rt))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    resp = await public.post("/v1/callbacks", headers={"Authorization": f"Bearer {token}"},
                             json={"phone": "+12015550199", "when": later.isoformat(),
                                   "page_url": "https://www.acme.example/pricing"})
    assert resp.status == 201, await resp.text()
    cb_id = (await resp.json())["id"]
    async with rt.sessions() as s:
        cb = await s.scalar(select(Callback).where(Callback.id == cb_id))
    client = await aiohttp_client(internal_app(rt))
    csrf = await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    pending = await (await client.get("/supervisor/api/pending")).json()
    assert [c["medium"] for c in pending["contacts"]] == ["callback"]
    sooner = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    resp = await client.post(f"/supervisor/api/contacts/{cb.contact_id}/schedule",
                             json={"not_before": sooner.isoformat()}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    async with rt.sessions() as s:
        moved = await s.scalar(select(Callback).where(Callback.id == cb_id))
    assert abs((moved.not_before - sooner).total_seconds()) < 1


async def test_people_see_routing_attributes_never_ccaris_own_data(rt, aiohttp_client):
    """Whatever wrote a contact (a call out of the IVR, a chat, a callback or an email from
    the widget), the supervisor's list, the contacts API and the screen pop show its routing
    attributes only; ccari's own data (IVR digits, the page) is shown only where it belongs."""
    site = "http://127.0.0.1:8081"  # the demo tenants' allowed origin
    page = "https://acme.example/plans"
    public = await aiohttp_client(public_app(rt))
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")

    async def token() -> dict[str, str]:
        resp = await public.post("/v1/sessions", json={"tenant": "acme", "page_url": page})
        return {"Authorization": f"Bearer {(await resp.json())['token']}", "Origin": site}

    writes = GroupCommit(rt.sessions, name="test")  # the voice hot path's writes
    now = utcnow()
    call = await writes.run(functools.partial(
        moves.arrived, tenant_id=acme.id, caller="15551230001", node=rt.config.node,
        channel_id="ch-1", number_id=None, queue_id=None, caller_name=None, arrived_at=now))
    await writes.run(functools.partial(moves.routed, contact_id=call.id,
                                       attributes={"skill": "sales"}, at=now, ivr=["9", "1"]))
    await writes.close()
    ws = await public.ws_connect(f"/v1/chat/ws?token={(await token())['Authorization'][7:]}")
    await ws.send_json({"type": "open", "topic": "sales", "page_url": page})
    while (await ws.receive_json(timeout=10)).get("state") != "queued":
        pass
    callback = await public.post("/v1/callbacks", headers=await token(), json={
        "phone": "+12015550142", "when": "now", "page_url": page, "skill": "sales"})
    mail = await public.post("/v1/email", headers=await token(), json={
        "from_address": "someone@example.com", "subject": "Router", "body": "It blinks",
        "page_url": page})
    assert (callback.status, mail.status) == (201, 201), (await callback.text(), await mail.text())
    expected = {"voice": {"skill": "sales"}, "chat": {"skill": "sales"},
                "callback": {"skill": "sales"}, "email": {"skill": "support"}}

    internal = await aiohttp_client(internal_app(rt))
    await login(internal, "sam", rt.demo_secrets["acme.sam.web"])
    pending = (await (await internal.get("/supervisor/api/pending")).json())["contacts"]
    assert {c["medium"]: c["attributes"] for c in pending} == expected
    listed = await internal.get("/api/contacts?tenant=acme",
                                headers={"Authorization": f"Bearer {rt.config.admin_token}"})
    assert {c["medium"]: c["attributes"] for c in (await listed.json())["contacts"]} == expected
    async with rt.sessions() as s:
        pops = {c.medium: await screen_pop(s, c, utcnow())
                for c in await s.scalars(select(Contact).where(Contact.tenant_id == acme.id))}
    assert {m: p["ivr"] for m, p in pops.items()} == expected
    assert pops["voice"]["ivr_digits"] == ["9", "1"] and pops["voice"]["page_url"] is None
    assert {m: p["page_url"] for m, p in pops.items() if m != "voice"} == {
        "chat": page, "callback": page, "email": page}
    assert pops["email"]["subject"] == "Router"


async def test_live_calls_are_this_tenants_and_monitoring_needs_a_pbx(rt, aiohttp_client):
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        globex = await tenants_repo.by_slug(s, "globex")
        alice = await s.scalar(select(Agent).where(Agent.username == "alice"))
        at = utcnow() - dt.timedelta(seconds=90)
        talking = await repo.create(s, tenant_id=acme.id, medium="voice", state="connected",
                                    arrived_at=at, queued_at=at, connected_at=at,
                                    caller_number="<b>15550199</b>", agent_id=alice.id,
                                    attributes={"skill": "sales"})
        await repo.create(s, tenant_id=globex.id, medium="voice", state="connected",
                          arrived_at=at, caller_number="15550999")
        await repo.create(s, tenant_id=acme.id, medium="voice", state="completed",
                          arrived_at=at, caller_number="15550998")
        await repo.create(s, tenant_id=acme.id, medium="chat", state="connected", arrived_at=at)
        await s.commit()
    client = await aiohttp_client(internal_app(rt))
    assert (await client.get("/supervisor/api/calls")).status == 401
    await login(client, "alice", rt.demo_secrets["acme.alice.web"])
    resp = await client.get("/supervisor/api/calls")
    assert (resp.status, (await resp.json())["error"]) == (403, "supervisors-only")
    client = await aiohttp_client(internal_app(rt))  # a new browser: sam
    csrf = await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    [call] = (await (await client.get("/supervisor/api/calls")).json())["calls"]
    assert call["id"] == talking.id and call["from"] == "<b>15550199</b>"
    assert call["agent"] == {"id": alice.id, "name": "Alice Sales"}
    assert call["state"] == "connected" and 85 <= call["in_state_s"] <= 120
    monitor = f"/supervisor/api/calls/{talking.id}/monitor"
    resp = await client.post(monitor, json={"mode": "listen"})
    assert (resp.status, (await resp.json())["error"]) == (403, "csrf-failed")
    resp = await client.post(monitor, json={"mode": "spy"}, headers={"X-CSRF-Token": csrf})
    assert (resp.status, (await resp.json())["error"]) == (400, "bad-mode")
    resp = await client.post(monitor, json={"mode": "listen"}, headers={"X-CSRF-Token": csrf})
    assert (resp.status, (await resp.json())["error"]) == (409, "no-pbx")


async def ended(rt, tenant: str, state: str, caller: str, minutes_ago: float) -> str:
    async with rt.sessions() as s:
        t = await tenants_repo.by_slug(s, tenant)
        at = utcnow() - dt.timedelta(minutes=minutes_ago)
        c = await repo.create(s, tenant_id=t.id, medium="voice", state=state, arrived_at=at,
                              ended_at=at, caller_number=caller)
        await s.commit()
    return c.id


async def test_finished_contacts_newest_first_with_their_pages(rt, aiohttp_client):
    older = await ended(rt, "acme", "completed", "15550101", 9)
    newer = await ended(rt, "acme", "abandoned", "15550102", 2)
    await ended(rt, "globex", "completed", "15550103", 1)
    await waiting(rt, "acme", "chat", "still-waiting", 1)
    async with rt.sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        s.add_all([Recording(id=f"rec-{older}-{n}", tenant_id=acme.id, contact_id=older,
                             node="node1", state=state)
                   for n, state in enumerate(("stored", "stored", "lost"))])
        await s.commit()
    client = await aiohttp_client(internal_app(rt))
    assert (await client.get("/supervisor/api/finished")).status == 401
    await login(client, "sam", rt.demo_secrets["acme.sam.web"])
    rows = (await (await client.get("/supervisor/api/finished")).json())["contacts"]
    assert [(r["id"], r["from"], r["state"], r["recordings"]) for r in rows] == [
        (newer, "15550102", "abandoned", 0), (older, "15550101", "completed", 2)]
    assert rows[1]["page"] == f"/agent/contacts/{older}"
    assert (await client.get(rows[1]["page"])).status == 200
    one = (await (await client.get("/supervisor/api/finished?limit=1")).json())["contacts"]
    assert [r["id"] for r in one] == [newer]
    for bad in ("0", "201", "many"):
        resp = await client.get(f"/supervisor/api/finished?limit={bad}")
        assert (resp.status, (await resp.json())["error"]) == (400, "bad-limit")
