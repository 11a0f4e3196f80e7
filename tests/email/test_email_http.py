"""HTTP: the widget's ``POST /v1/email`` on the public listener (token, Origin, limits,
idempotency) and the tenant's mailbox settings on the internal one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ccari.app import internal_app, public_app
from ccari.email.models import EmailMessage
from ccari.storage.models import Contact
from ccari.tenants import repo as tenants_repo
from tests.email.conftest import Env, mail, smtp_send

SITE = "http://127.0.0.1:8081"  # the demo site origin seeded for each tenant


async def _token(env: Env, slug: str) -> str:
    async with env.rt.sessions() as s:
        tenant = await tenants_repo.by_slug(s, slug)
    return env.rt.tokens.issue(tenant.id)[0]


async def test_web_request_becomes_an_email_contact(env: Env, sessions: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(public_app(env.rt))
    token = await _token(env, "acme")
    body = {"from_address": "ada@example.com", "subject": "Router", "body": "It blinks <b>red</b>",
            "page_url": "https://www.acme.example/help"}
    anonymous = await client.post("/v1/email", json=body)
    assert anonymous.status == 401 and (await anonymous.json())["error"] == "token-required"
    auth = {"Authorization": f"Bearer {token}", "Origin": SITE}
    evil = await client.post("/v1/email", json=body, headers={**auth, "Origin": "http://evil.example"})
    assert evil.status == 403 and (await evil.json())["error"] == "bad-origin"
    for bad, error in (({"from_address": "ada@example.com\r\nBcc: x@y.example"}, "bad-from-address"),
                       ({"from_address": "not-an-address"}, "bad-from-address"),
                       ({"body": ""}, "bad-body"), ({"body": "x" * 20_001}, "bad-body"),
                       ({"page_url": "javascript:alert(1)"}, "bad-page-url")):
        resp = await client.post("/v1/email", json={**body, **bad}, headers=auth)
        assert resp.status == 400 and (await resp.json())["error"] == error, bad

    token2 = await _token(env, "acme")  # a fresh session: the one above spent its budget
    auth = {"Authorization": f"Bearer {token2}", "Origin": SITE, "Idempotency-Key": "k1"}
    created = await client.post("/v1/email", json=body, headers=auth)
    assert created.status == 201, await created.text()
    assert created.headers["Access-Control-Allow-Origin"] == SITE
    data = await created.json()
    assert data["anticipated_response_s"] == 4 * 3600  # nobody logged in: the mailbox target
    retried = await client.post("/v1/email", json=body, headers=auth)
    assert retried.status == 201 and (await retried.json())["id"] == data["id"]
    async with sessions() as s:
        contact = await s.get(Contact, data["id"])
        rows = list(await s.scalars(select(EmailMessage).where(EmailMessage.contact_id == data["id"])))
    assert contact.medium == "email" and contact.state == "queued"
    assert contact.attributes == {"skill": "support"}
    assert contact.meta["page_url"] == "https://www.acme.example/help"
    assert contact.customer_id is not None
    # One message, no acknowledgement: ccari sends no mail to an address typed into a web
    # form (that would make it a spam relay); the page shows the anticipated time instead.
    assert [(r.kind, r.direction, r.from_address, r.body) for r in rows] == [
        ("web", "in", "ada@example.com", "It blinks <b>red</b>")]
    assert env.rt.queue.view(contact.id) is not None  # routed


async def test_web_requests_are_rate_limited_per_session(env: Env, aiohttp_client: Any) -> None:
    client = await aiohttp_client(public_app(env.rt))
    auth = {"Authorization": f"Bearer {await _token(env, 'globex')}"}
    body = {"from_address": "bea@example.com", "subject": "Hi", "body": "Question"}
    for _ in range(5):
        assert (await client.post("/v1/email", json=body, headers=auth)).status == 201
    limited = await client.post("/v1/email", json=body, headers=auth)
    assert limited.status == 429 and (await limited.json())["error"] == "rate-limited"
    preflight = await client.options("/v1/email", headers={"Origin": SITE})
    assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Origin"] == SITE


async def test_mailbox_rules_are_validated_owned_and_applied(
        env: Env, sessions: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(internal_app(env.rt))
    acme = {"Authorization": f"Bearer {env.secrets['acme.token']}"}
    globex = {"Authorization": f"Bearer {env.secrets['globex.token']}"}
    url = "/api/email/mailboxes/support@acme.example"
    assert (await client.get("/api/email/mailboxes")).status == 401
    bad = await client.put(url, headers=acme, json={"rules": [{"match": {"subject": "("}}]})
    assert bad.status == 400 and (await bad.json())["error"] == "bad-rules"
    assert "rules[0].match.subject" in (await bad.json())["message"]
    taken = await client.put(url, headers=globex, json={"attributes": {"skill": "service"}})
    assert taken.status == 409 and (await taken.json())["error"] == "address-taken"
    ok = await client.put(url, headers=acme, json={
        "display_name": "Acme Help", "attributes": {"skill": "support"},
        "rules": [{"match": {"body": "fibre"}, "attributes": {"skill": "sales"}, "priority": 3}]})
    assert ok.status == 200, await ok.text()
    mine = await (await client.get("/api/email/mailboxes", headers=globex)).json()
    assert [b["address"] for b in mine["mailboxes"]] == ["service@globex.example"]

    await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Upgrade",
                                   "I want fibre"))
    async with sessions() as s:
        [contact] = list(await s.scalars(select(Contact).where(Contact.medium == "email")))
    assert contact.attributes["skill"] == "sales" and contact.priority == 3
    ack = await env.sink.wait_for(lambda m: True, what="ack")
    assert ack["From"] == "Acme Help <support@acme.example>"
