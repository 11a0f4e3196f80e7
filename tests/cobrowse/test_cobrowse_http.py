"""Co-browse over both listeners without a browser: codes, linking, relay, consent, the end.

The customer's page is played by an aiohttp websocket client sending rrweb-shaped events,
the agent by the real agent page websocket (login form + CSRF) and the mirror websocket.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import aiohttp
import pytest
from sqlalchemy import select

from ccari.cobrowse.http import SERVICE
from ccari.cobrowse.models import CobrowseSession
from ccari.contacts import repo as contacts_repo
from ccari.storage.models import ContactEvent
from tests.cobrowse.conftest import (
    Env,
    add_site,
    close_ws,
    contact_state,
    offered_contact,
    receive,
)
from tests.voice.conftest import eventually

META = {"type": 4, "timestamp": 1, "data": {"href": "", "width": 1280, "height": 720}}
SNAPSHOT = {"type": 2, "timestamp": 2, "data": {"node": {"type": 0, "childNodes": [], "id": 1},
                                                 "initialOffset": {"left": 0, "top": 0}}}


def meta(url: str) -> dict:
    return {**META, "data": {**META["data"], "href": url}}


async def linked(env: Env):  # type: ignore[no-untyped-def]
    """alice handles a contact; the customer's page shares; alice enters the code."""
    alice = await env.agent("alice")
    contact_id = await offered_contact(env, alice, customer=env.ada)
    token = env.token()
    customer = await env.customer_ws(token)
    hello = {**await receive(customer, "hello"), "token": token}
    await alice.ws.send_json({"type": "cobrowse.link", "contact_id": contact_id, "code": hello["code"]})
    assert (await receive(alice.ws, "cobrowse.linked"))["contact_id"] == contact_id
    await receive(customer, "linked")
    return alice, contact_id, customer, hello


async def mirror(env: Env, page, contact_id: str, **kw):  # type: ignore[no-untyped-def]
    return await page.http.ws_connect(f"/agent/cobrowse/ws?contact={contact_id}", **kw)


async def test_code_links_the_customers_page_to_the_agents_contact_and_events_flow(env: Env) -> None:
    alice, contact_id, customer, hello = await linked(env)
    assert len(hello["code"]) == 6 and hello["state"] == "waiting"
    assert "[data-ccari-mask]" in hello["mask"]
    assert env.public_url in hello["origins"]
    view = await mirror(env, alice, contact_id)
    status = await receive(view, "status")
    assert status["customer"] is True and status["consent"] is False
    await receive(customer, "snapshot")  # the new mirror asks for a full snapshot
    page = f"{env.public_url}/demo/acme/"
    batch = {"type": "events", "events": [meta(page), SNAPSHOT]}
    await customer.send_json(batch)
    assert (await receive(view, "status"))["page"]["url"] == page  # the URL first,
    assert (await receive(view, "events"))["events"] == batch["events"]  # then the page
    async with env.rt.sessions() as s:
        kinds = list(await s.scalars(select(ContactEvent.kind).where(
            ContactEvent.contact_id == contact_id)))
        row = await s.scalar(select(CobrowseSession))
    assert "cobrowse-linked" in kinds
    assert row.contact_id == contact_id and row.state == "linked" and row.page_url == page
    # The agent page learns of it again after a reload.
    await alice.ws.send_json({"type": "cobrowse.status", "contact_id": contact_id})
    assert (await receive(alice.ws, "cobrowse.status"))["session_id"] == row.id
    await close_ws(customer)
    assert (await receive(view, "customer"))["connected"] is False
    await alice.close()


async def test_codes_only_link_for_the_agent_handling_the_contact_in_the_same_tenant(env: Env) -> None:
    alice, bob, carol = await env.agent("alice"), await env.agent("bob"), await env.agent("carol", "globex")
    contact_id = await offered_contact(env, alice)
    customer = await env.customer_ws()
    code = (await receive(customer, "hello"))["code"]
    other = await env.customer_ws(env.token("globex"))
    globex_code = (await receive(other, "hello"))["code"]
    for page, cid, c, error in [
        (alice, contact_id, "12345", "bad-code"),
        (alice, contact_id, globex_code if globex_code != code else "000000", "cobrowse-code-unknown"),
        (bob, contact_id, code, "contact-not-found"),     # not bob's contact
        (carol, contact_id, code, "contact-not-found"),   # another tenant's contact
    ]:
        await page.ws.send_json({"type": "cobrowse.link", "contact_id": cid, "code": c})
        reply = await receive(page.ws, "error")
        assert (reply["error"], reply["request"]) == (error, "cobrowse.link")
    resp = await bob.http.get(f"/agent/cobrowse/ws?contact={contact_id}")
    assert (resp.status, (await resp.json())["error"]) == (404, "contact-not-found")
    resp = await bob.http.get(f"/agent/cobrowse/{contact_id}")
    assert resp.status == 404 and (await resp.json())["error"] == "contact-not-found"
    for ws in (customer, other):
        await close_ws(ws)
    for page in (alice, bob, carol):
        await page.close()


async def test_public_socket_needs_a_valid_token_and_one_of_the_tenants_sites(env: Env) -> None:
    url = env.public.make_url("/v1/cobrowse/ws")
    async with aiohttp.ClientSession() as http:
        for query, origin, status, error in [
            ({}, env.public_url, 401, "token-required"),
            ({"token": "forged"}, env.public_url, 401, "bad-token"),
            ({"token": env.token()}, "https://evil.test", 403, "bad-origin"),
            ({"token": env.token(), "session": "someone-elses"}, env.public_url, 404, "cobrowse-not-found"),
        ]:
            resp = await http.get(url.with_query(query), headers={
                "Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            assert (resp.status, (await resp.json())["error"]) == (status, error)
    await add_site(env.rt, env.tenants["acme"], "https://shop.acme.test")
    ws = await env.customer_ws(origin="https://shop.acme.test")
    assert "https://shop.acme.test" in (await receive(ws, "hello"))["origins"]
    await close_ws(ws)


async def test_mirror_socket_refuses_other_origins_and_anonymous_agents(env: Env) -> None:
    alice, contact_id, customer, _ = await linked(env)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await mirror(env, alice, contact_id, headers={"Origin": "https://evil.test"})
    assert refused.value.status == 403
    async with aiohttp.ClientSession() as anonymous:
        resp = await anonymous.get(f"{env.internal_url}/agent/cobrowse/ws?contact={contact_id}")
        assert resp.status == 401
        page = await anonymous.get(f"{env.internal_url}/agent/cobrowse/{contact_id}", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"] == "/agent/login"
    await close_ws(customer)
    await alice.close()


async def test_mirror_page_has_its_own_policy_and_may_only_be_framed_by_ccari(env: Env) -> None:
    alice, contact_id, customer, _ = await linked(env)
    resp = await alice.http.get(f"/agent/cobrowse/{contact_id}")
    assert resp.status == 200
    body = await resp.text()
    assert 'data-linked="yes"' in body and "/static/cobrowse-mirror.js" in body
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'self'" in csp
    assert env.public_url in csp.split("img-src", 1)[1].split(";")[0]
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    await close_ws(customer)
    await alice.close()


async def test_guidance_needs_the_customers_consent_and_stays_on_the_tenants_sites(env: Env) -> None:
    alice, contact_id, customer, _ = await linked(env)
    view = await mirror(env, alice, contact_id)
    await receive(view, "status")
    await view.send_json({"type": "pointer", "x": 10, "y": 20})
    assert (await receive(view, "error"))["error"] == "cobrowse-no-consent"
    await customer.send_json({"type": "consent", "allow": True})
    assert (await receive(view, "consent"))["allow"] is True
    for bad in ("https://evil.test/", "javascript:alert(1)", f"{env.public_url}\r\n/x"):
        await view.send_json({"type": "navigate", "url": bad})
        assert (await receive(view, "error"))["error"] == "cobrowse-url-not-allowed"
    await view.send_json({"type": "pointer", "x": 10, "y": 20})
    assert (await receive(customer, "pointer")) == {"type": "pointer", "x": 10, "y": 20}
    await view.send_json({"type": "highlight", "node": 42})
    assert (await receive(customer, "highlight"))["node"] == 42
    target = f"{env.public_url}/demo/acme/page2"
    await view.send_json({"type": "navigate", "url": target})
    assert (await receive(customer, "navigate"))["url"] == target
    await customer.send_json({"type": "consent", "allow": False})
    await receive(view, "consent")
    await view.send_json({"type": "navigate", "url": target})
    assert (await receive(view, "error"))["error"] == "cobrowse-no-consent"
    async with env.rt.sessions() as s:
        assert (await s.scalar(select(CobrowseSession.consent))) is False
    await close_ws(customer)
    await alice.close()


async def test_the_session_ends_with_its_contact(env: Env) -> None:
    alice, contact_id, customer, _ = await linked(env)
    view = await mirror(env, alice, contact_id)
    await receive(view, "status")
    await alice.ws.send_json({"type": "complete", "contact_id": contact_id})
    assert (await receive(customer, "ended", within=5))["reason"] == "contact-ended"
    assert (await receive(view, "ended"))["reason"] == "contact-ended"
    assert (await receive(alice.ws, "cobrowse.ended"))["contact_id"] == contact_id
    assert await contact_state(env.rt, contact_id) == "completed"
    async with env.rt.sessions() as s:
        row = await s.scalar(select(CobrowseSession))
    assert (row.state, row.end_reason) == ("ended", "contact-ended")
    await close_ws(customer)
    await alice.close()


async def test_customer_resumes_on_the_next_page_and_stop_ends_it(env: Env) -> None:
    alice, contact_id, first, hello = await linked(env)
    view = await mirror(env, alice, contact_id)
    await receive(view, "status")
    await close_ws(first)  # the customer follows a link to the next page
    assert (await receive(view, "customer"))["connected"] is False
    # Another browser session (another token) cannot take the session over.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await env.customer_ws(session=hello["session"])
    assert refused.value.status == 404
    page2 = await env.customer_ws(hello["token"], session=hello["session"])
    again = await receive(page2, "hello")
    assert (again["session"], again["code"], again["state"]) == (hello["session"], hello["code"], "linked")
    assert (await receive(view, "customer"))["connected"] is True
    await page2.send_json({"type": "stop"})
    assert (await receive(page2, "ended"))["reason"] == "customer-stopped"
    assert (await receive(view, "ended"))["reason"] == "customer-stopped"
    await close_ws(page2)
    late = await env.customer_ws(hello["token"], session=hello["session"])
    assert (await receive(late, "ended"))["reason"] == "customer-stopped"
    await close_ws(late)
    fresh = await env.customer_ws(hello["token"])
    new = await receive(fresh, "hello")
    assert new["session"] != hello["session"] and new["state"] == "waiting"
    await close_ws(fresh)
    await alice.close()


async def test_limits_on_what_a_customer_page_sends(env: Env) -> None:
    alice, contact_id, customer, _ = await linked(env)
    await customer.send_json({"type": "events", "events": [{"type": 99, "timestamp": 1}]})
    assert (await receive(customer, "error"))["error"] == "bad-events"
    await customer.send_json({"type": "events", "events": [SNAPSHOT], "type2": "x"})
    assert (await receive(customer, "error"))["error"] == "bad-events"
    view = await mirror(env, alice, contact_id)
    await receive(view, "status")
    await receive(customer, "snapshot")
    with contextlib.suppress(ConnectionError):  # the server may cut it off mid-message
        await customer.send_str("x" * (5 * 1024 * 1024))
    msg = await customer.receive(timeout=10)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert customer.close_code in (1009, 1006)  # message too big (or the connection reset)
    assert (await receive(view, "customer"))["connected"] is False
    await close_ws(customer)
    # A page flooding the socket is cut off (1008) and told why.
    flood = await env.customer_ws()
    await receive(flood, "hello")
    small = {"type": "events", "events": [{"type": 3, "timestamp": 1, "data": {"source": 1}}]}
    for _ in range(300):
        await flood.send_json(small)
    assert (await receive(flood, "error"))["error"] == "cobrowse-rate-limited"
    await flood.receive(timeout=5)
    assert flood.close_code == 1008
    await close_ws(flood)
    await alice.close()


async def test_agents_cannot_guess_codes(env: Env) -> None:
    alice = await env.agent("alice")
    contact_id = await offered_contact(env, alice)
    errors = []
    for n in range(12):
        await alice.ws.send_json({"type": "cobrowse.link", "contact_id": contact_id, "code": f"{n:06d}"})
        errors.append((await receive(alice.ws, "error"))["error"])
    assert errors[:10] == ["cobrowse-code-unknown"] * 10
    assert errors[10:] == ["cobrowse-rate-limited"] * 2
    await alice.close()


async def test_unused_codes_expire(env: Env) -> None:
    customer = await env.customer_ws()
    hello = await receive(customer, "hello")
    async with env.rt.sessions() as s:
        row = await s.get(CobrowseSession, hello["session"])
        row.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=601)
        await s.commit()
    assert (await receive(customer, "ended", within=5))["reason"] == "code-expired"
    await close_ws(customer)


async def test_a_caller_can_link_with_the_code_typed_in_the_ivr(env: Env) -> None:
    customer = await env.customer_ws()
    code = (await receive(customer, "hello"))["code"]
    now = dt.datetime.now(dt.UTC)
    async with env.rt.sessions() as s:
        call = await contacts_repo.create(s, tenant_id=env.tenants["acme"], medium="voice",
                                          state="ivr", arrived_at=now)
        other = await contacts_repo.create(s, tenant_id=env.tenants["globex"], medium="voice",
                                           state="ivr", arrived_at=now)
        await s.commit()
    service = env.internal.app[SERVICE]
    assert await service.link_by_code(env.tenants["globex"], other.id, code) is False
    wrong = "999999" if code != "999999" else "000000"
    assert await service.link_by_code(env.tenants["acme"], call.id, wrong) is False
    assert await service.link_by_code(env.tenants["acme"], call.id, code) is True
    await receive(customer, "linked")
    await close_ws(customer)


async def test_tenant_settings_add_masked_fields(env: Env) -> None:
    async with aiohttp.ClientSession(env.internal_url) as http:
        auth = {"Authorization": f"Bearer {env.secrets['acme.token']}"}
        resp = await http.put("/api/cobrowse/settings", json={"mask_selector": ".account-no"}, headers=auth)
        assert resp.status == 200 and (await resp.json())["mask_selector"] == ".account-no"
        for bad in ("x{}", "</style>", 7):
            resp = await http.put("/api/cobrowse/settings", json={"mask_selector": bad}, headers=auth)
            assert (resp.status, (await resp.json())["error"]) == (400, "bad-mask-selector")
        resp = await http.get("/api/cobrowse/settings")
        assert resp.status == 401
        other = {"Authorization": f"Bearer {env.secrets['globex.token']}"}
        assert (await (await http.get("/api/cobrowse/settings", headers=other)).json())["mask_selector"] == ""
    acme = await env.customer_ws()
    assert (await receive(acme, "hello"))["mask"] == "[data-ccari-mask], .account-no"
    globex = await env.customer_ws(env.token("globex"))
    assert (await receive(globex, "hello"))["mask"] == "[data-ccari-mask]"
    for ws in (acme, globex):
        await close_ws(ws)


async def test_agent_can_end_it_and_the_customer_page_is_told(env: Env) -> None:
    alice, contact_id, customer, _ = await linked(env)
    await alice.ws.send_json({"type": "cobrowse.end", "contact_id": contact_id})
    assert (await receive(customer, "ended"))["reason"] == "agent-ended"
    assert (await receive(alice.ws, "cobrowse.ended"))["reason"] == "agent-ended"

    async def ended() -> bool:
        async with env.rt.sessions() as s:
            return (await s.scalar(select(CobrowseSession.state))) == "ended"

    await eventually(ended, 5, "the session to be ended")
    await close_ws(customer)
    await alice.close()
