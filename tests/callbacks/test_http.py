"""Callback endpoints without a PBX: validation, the guard's refusals, rate limits, isolation
between customer sessions and tenants, the internal API (both database backends)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from ccari.callbacks import repo
from ccari.callbacks.http import SERVICE
from ccari.callbacks.models import Callback
from ccari.errors import NotFound
from ccari.storage.models import Contact
from tests.voice.conftest import eventually

ADA = "+12015550199"
ORIGIN = "http://127.0.0.1:8081"  # the demo tenants' allowed site


def customer(rt, tenant: str = "acme") -> dict[str, str]:
    token, _ = rt.tokens.issue(rt.tenant_ids[tenant])
    return {"Authorization": f"Bearer {token}", "Origin": ORIGIN}


async def counts(rt) -> tuple[int, int]:
    async with rt.sessions() as s:
        return (await s.scalar(select(func.count()).select_from(Callback)),
                await s.scalar(select(func.count()).select_from(Contact)))


async def test_click_to_call_is_saved_before_the_201_and_visible_to_its_session_only(rt, public) -> None:
    me, other = customer(rt), customer(rt)
    resp = await public.post("/v1/callbacks", headers=me, json={
        "phone": "+1 (201) 555-0199", "when": "now", "page_url": "https://acme.example/plans?x=1",
        "skill": "sales"})
    assert resp.status == 201, await resp.text()
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    body = await resp.json()
    assert body["status"] == "pending" and body["anticipated_wait_s"] == 0
    async with rt.sessions() as s:
        cb = await s.get(Callback, body["id"])
        contact = await s.get(Contact, cb.contact_id)
    assert (cb.phone, cb.mode, cb.source, cb.tries) == (ADA, "customer_first", "web", 0)
    assert contact.medium == "callback" and contact.state == "scheduled"
    assert contact.attributes["skill"] == "sales"
    assert contact.meta == {"page_url": "https://acme.example/plans?x=1", "callback": cb.id}
    assert contact.customer_id is not None  # Ada Lovelace's record, for the screen pop

    assert (await public.get(f"/v1/callbacks/{cb.id}", headers=me)).status == 200
    # Another browser session of the same tenant can neither see nor cancel it.
    for method in ("GET", "DELETE"):
        resp = await public.request(method, f"/v1/callbacks/{cb.id}", headers=other)
        assert resp.status == 404 and (await resp.json())["error"] == "callback-not-found"
    assert (await public.delete(f"/v1/callbacks/{cb.id}", headers=me)).status == 204
    status = await (await public.get(f"/v1/callbacks/{cb.id}", headers=me)).json()
    assert status["status"] == "cancelled" and status["next_attempt_at"] is None
    async with rt.sessions() as s:
        contact = await s.get(Contact, cb.contact_id)
    assert contact.state == "abandoned" and contact.disposition == "cancelled-by-customer"


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"phone": "2015550199"}, 422, "invalid-number"),
    ({"phone": "+1 800 FLOWERS"}, 422, "invalid-number"),
    ({}, 422, "invalid-number"),
    ({"phone": "+19005550100"}, 403, "number-not-allowed"),  # premium rate
    ({"phone": "+18765550100"}, 403, "number-not-allowed"),  # Jamaica, inside +1
    ({"phone": "+33142685300"}, 403, "number-not-allowed"),  # outside the allow-list
    ({"phone": ADA, "when": "tomorrow"}, 400, "bad-time"),
    ({"phone": ADA, "when": "2026-01-01T09:00:00"}, 400, "bad-time"),  # no zone
    ({"phone": ADA, "when": "2001-01-01T09:00:00Z"}, 400, "bad-time"),  # the past
    ({"phone": ADA, "when": "2999-01-01T09:00:00Z"}, 400, "bad-time"),  # too far ahead
    ({"phone": ADA, "page_url": "javascript:alert(1)"}, 400, "bad-page-url"),
    ({"phone": ADA, "skill": "<b>"}, 400, "bad-skill"),
    ({"phone": ADA, "skill": "astrology"}, 400, "unknown-skill"),
])
async def test_refused_requests_have_a_stable_error_and_save_nothing(rt, public, body, status, error) -> None:
    resp = await public.post("/v1/callbacks", headers=customer(rt), json=body)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"] == error
    assert await counts(rt) == (0, 0)


async def test_customer_credentials_and_origin_are_required(rt, public) -> None:
    resp = await public.post("/v1/callbacks", json={"phone": ADA})
    assert resp.status == 401 and (await resp.json())["error"] == "token-required"
    resp = await public.post("/v1/callbacks", json={"phone": ADA},
                             headers={"Authorization": "Bearer forged"})
    assert resp.status == 401 and (await resp.json())["error"] == "bad-token"
    evil = {**customer(rt), "Origin": "https://evil.example"}
    resp = await public.post("/v1/callbacks", json={"phone": ADA}, headers=evil)
    assert resp.status == 403 and (await resp.json())["error"] == "bad-origin"
    resp = await public.post("/v1/callbacks", data="not json", headers=customer(rt))
    assert resp.status == 400 and (await resp.json())["error"] == "bad-json"
    pre = await public.options("/v1/callbacks", headers={"Origin": ORIGIN})
    assert pre.status == 204 and "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert await counts(rt) == (0, 0)


async def test_one_open_callback_per_number_and_idempotent_retries(rt, public) -> None:
    me = {**customer(rt), "Idempotency-Key": "req-1"}
    first = await public.post("/v1/callbacks", headers=me, json={"phone": ADA})
    again = await public.post("/v1/callbacks", headers=me, json={"phone": ADA})
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["id"] == (await again.json())["id"]
    other = await public.post("/v1/callbacks", headers=customer(rt), json={"phone": ADA})
    assert other.status == 409 and (await other.json())["error"] == "callback-exists"
    assert await counts(rt) == (1, 1)


async def test_two_requests_for_one_number_at_once_make_one_callback(rt, public) -> None:
    first, second = await asyncio.gather(*(
        public.post("/v1/callbacks", headers=customer(rt), json={"phone": ADA}) for _ in range(2)))
    assert sorted([first.status, second.status]) == [201, 409]
    assert await counts(rt) == (1, 1)


async def test_rate_limits_per_number_and_per_ip(rt, public) -> None:
    me = customer(rt)
    for _ in range(3):  # a number may be asked for 3 times (per 10 min), cancelled in between
        resp = await public.post("/v1/callbacks", headers=me, json={"phone": ADA})
        assert resp.status == 201
        assert (await public.delete(f"/v1/callbacks/{(await resp.json())['id']}", headers=me)).status == 204
    resp = await public.post("/v1/callbacks", headers=me, json={"phone": ADA})
    assert resp.status == 429 and (await resp.json())["error"] == "rate-limited"
    # The IP's bucket (8 here) counts every request that would dial, refused ones too.
    statuses = [(await public.post("/v1/callbacks", headers=me, json={"phone": "+19005550100"})).status
                for _ in range(5)]
    assert statuses == [403, 403, 403, 403, 429]


async def test_scheduled_request_waits_for_its_time(rt, public) -> None:
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    resp = await public.post("/v1/callbacks", headers=customer(rt),
                             json={"phone": "+44 20 7946 0199", "when": when.isoformat()})
    body = await resp.json()
    assert resp.status == 201 and body["status"] == "pending"
    assert dt.datetime.fromisoformat(body["not_before"]) == when
    assert 7100 < body["anticipated_wait_s"] <= 7200


async def test_internal_api_lists_reschedules_and_cancels_per_tenant(rt, public, internal) -> None:
    created = await (await public.post("/v1/callbacks", headers=customer(rt), json={"phone": ADA})).json()
    acme = {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}
    globex = {"Authorization": f"Bearer {rt.demo_secrets['globex.token']}"}
    assert (await internal.get("/api/callbacks")).status == 401
    listed = await (await internal.get("/api/callbacks?status=pending", headers=acme)).json()
    assert [c["id"] for c in listed["callbacks"]] == [created["id"]]
    assert (await (await internal.get("/api/callbacks", headers=globex)).json())["callbacks"] == []
    assert (await internal.get(f"/api/callbacks/{created['id']}", headers=globex)).status == 404
    assert (await internal.delete(f"/api/callbacks/{created['id']}", headers=globex)).status == 404

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    resp = await internal.post(f"/api/callbacks/{created['id']}/reschedule", headers=acme,
                               json={"when": later.isoformat()})
    moved = await resp.json()
    assert resp.status == 200 and dt.datetime.fromisoformat(moved["next_attempt_at"]) == later
    assert dt.datetime.fromisoformat(moved["window_end"]) > later  # the window followed
    async with rt.sessions() as s:
        contact = await s.get(Contact, moved["contact_id"])
    assert contact.not_before == later  # what the supervisor's pending list shows
    detail = await (await internal.get(f"/api/callbacks/{created['id']}", headers=acme)).json()
    assert detail["attempts"] == [] and detail["tries"] == 0
    assert (await internal.delete(f"/api/callbacks/{created['id']}", headers=acme)).status == 204
    cancelled = await (await internal.get(f"/api/callbacks/{created['id']}", headers=acme)).json()
    assert cancelled["status"] == "cancelled" and cancelled["last_result"] == "cancelled-by-supervisor"
    resp = await internal.post(f"/api/callbacks/{created['id']}/reschedule", headers=acme, json={})
    assert resp.status == 409 and (await resp.json())["error"] == "callback-not-waiting"


async def test_a_tenant_schedules_a_callback_through_its_api(rt, internal) -> None:
    acme = {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    resp = await internal.post("/api/callbacks", headers=acme,
                               json={"phone": "+1 201 555 0199", "when": later.isoformat(),
                                     "skill": "sales"})
    made = await resp.json()
    assert resp.status == 201, made
    assert (made["phone"], made["source"], made["status"]) == (ADA, "api", "pending")
    assert dt.datetime.fromisoformat(made["next_attempt_at"]) == later
    assert (await (await internal.get(f"/api/callbacks/{made['id']}", headers=acme)).json())[
        "id"] == made["id"]
    resp = await internal.post("/api/callbacks", headers=acme, json={"phone": "+19005550100"})
    assert (resp.status, (await resp.json())["error"]) == (403, "number-not-allowed")  # premium
    assert (await counts(rt))[0] == 1


async def test_settings_are_validated_and_used(rt, public, internal) -> None:
    acme = {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}
    current = await (await internal.get("/api/callbacks/settings", headers=acme)).json()
    assert current["allow"] == ["+1", "+44"] and current["mode"] == "customer_first"
    for bad in ({"allow": ["+1", "everywhere"]}, {"mode": "robot_first"}, {"max_tries": 99},
                {"ring_timeout_s": True}, {"volume": 11}):
        resp = await internal.put("/api/callbacks/settings", headers=acme, json=bad)
        assert resp.status == 400, bad
    resp = await internal.put("/api/callbacks/settings", headers=acme,
                              json={"mode": "agent_first", "allow": ["gb"], "max_tries": 5})
    assert (await resp.json())["allow"] == ["GB"]
    # Now a US number is refused, and a scheduled web callback is placed agent first.
    resp = await public.post("/v1/callbacks", headers=customer(rt), json={"phone": ADA})
    assert resp.status == 403
    me = customer(rt)
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    resp = await public.post("/v1/callbacks", headers=me, json={"phone": "+44 20 7946 0199", "when": when})
    async with rt.sessions() as s:
        cb = await s.get(Callback, (await resp.json())["id"])
    assert (cb.mode, cb.max_tries) == ("agent_first", 5)
    # "now" is click-to-call: the customer's phone first whatever the tenant's mode.
    assert (await public.delete(f"/v1/callbacks/{cb.id}", headers=me)).status == 204
    resp = await public.post("/v1/callbacks", headers=me, json={"phone": "+442079460199"})
    async with rt.sessions() as s:
        cb = await s.get(Callback, (await resp.json())["id"])
    assert cb.mode == "customer_first"


async def test_the_scheduler_gives_up_once_the_window_has_closed(rt, public) -> None:
    resp = await public.post("/v1/callbacks", headers=customer(rt), json={"phone": ADA})
    cb_id = (await resp.json())["id"]
    async with rt.sessions() as s:  # the customer asked long ago; nobody could call them since
        cb = await s.get(Callback, cb_id)
        cb.window_end = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await s.commit()
    service = public.app[SERVICE]
    service.start()

    async def failed() -> Callback | None:
        async with rt.sessions() as s:
            row = await s.get(Callback, cb_id)
        return row if row.status == "failed" else None

    row = await eventually(failed, 10, "the callback to fail")
    assert (row.tries, row.last_result) == (0, "callback-window-closed")
    async with rt.sessions() as s:
        contact = await s.get(Contact, row.contact_id)
    assert contact.state == "failed" and contact.disposition == "callback-window-closed"


async def test_a_tenant_without_an_allow_list_dials_nothing(rt, public) -> None:
    resp = await public.post("/v1/callbacks", headers=customer(rt, "globex"), json={"phone": ADA})
    assert resp.status == 403 and (await resp.json())["error"] == "number-not-allowed"
    assert await counts(rt) == (0, 0)


async def test_supervisor_moves_a_callback_by_its_contact(rt, public) -> None:
    created = await (await public.post("/v1/callbacks", headers=customer(rt), json={"phone": ADA})).json()
    service = public.app[SERVICE]
    async with rt.sessions() as s:
        contact_id = (await s.get(Callback, created["id"])).contact_id
    sooner = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    moved = await service.reschedule_contact(rt.tenant_ids["acme"], contact_id, sooner)
    assert moved.id == created["id"] and moved.next_attempt_at == sooner
    with pytest.raises(NotFound):  # another tenant's supervisor cannot
        await service.reschedule_contact(rt.tenant_ids["globex"], contact_id, sooner)


async def test_a_callback_is_claimed_for_dialling_once(rt, public) -> None:
    created = await (await public.post("/v1/callbacks", headers=customer(rt), json={"phone": ADA})).json()
    async with rt.sessions() as s:
        assert await repo.due(s, dt.datetime.now(dt.UTC)) == [created["id"]]
        first = await repo.claim(s, created["id"], "pending", "dialing", "node1")
        second = await repo.claim(s, created["id"], "pending", "dialing", "node2")
        await s.commit()
    async with rt.sessions() as s:
        row = await s.get(Callback, created["id"])
        assert await repo.stranded(s, "node1") == [row]  # claimed, no attempt saved yet
    assert (first, second, row.status, row.node) == (True, False, "dialing", "node1")
