"""The agent's side over the real websocket: the offer, the thread, a reply that reaches the
relay (an aiosmtpd sink) threaded, the customer's answer re-opening the contact; tenants and
agents kept apart."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from ccari.app import internal_app
from ccari.contacts import repo as contacts_repo
from ccari.email.models import EmailMessage
from ccari.storage.models import Contact
from tests.email.conftest import Env, mail, smtp_send
from tests.support.agent_web import AgentPage, open_agent_page


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, **match: Any) -> dict[str, Any]:
    """The next page message of this type (and these fields), skipping others."""
    while True:
        msg = await ws.receive_json(timeout=15)
        if msg.get("type") == kind and all(msg.get(k) == v for k, v in match.items()):
            return msg
        assert kind == "error" or msg.get("type") != "error", msg


async def page(env: Env, aiohttp_client: Any, tenant: str, user: str) -> AgentPage:
    client = await aiohttp_client(internal_app(env.rt))
    base = str(client.make_url("")).rstrip("/")
    return await open_agent_page(base, tenant, user, env.secrets[f"{tenant}.{user}.web"])


async def test_agent_replies_threaded_and_the_customers_answer_reopens_the_contact(
        env: Env, sessions: Any, aiohttp_client: Any) -> None:
    bob = await page(env, aiohttp_client, "acme", "bob")
    try:
        assert (await bob.presence("ready"))["state"] == "ready"
        raw = mail("Ada Lovelace <ada@example.com>", "support@acme.example", "Router blinks",
                   "It blinks <b>red</b> & green.", message_id="<c1@customer.test>",
                   References="<c0@customer.test>")
        assert (await smtp_send(env.port, raw)).data[0] == 250  # type: ignore[index]
        offer = (await receive(bob.ws, "offer"))["contact"]
        assert offer["medium"] == "email" and offer["subject"] == "Router blinks"
        assert offer["customer"]["name"] == "Ada Lovelace"
        assert offer["caller_name"] == "Ada Lovelace <ada@example.com>"
        cid = offer["id"]
        # bob was free: the acknowledgement promises an answer within minutes.
        ack = await env.sink.wait_for(lambda m: m["Auto-Submitted"] == "auto-replied", what="ack")
        assert "within a few minutes" in ack.body

        await bob.ws.send_json({"type": "email.reply", "contact_id": cid, "body": "too early"})
        refused = await receive(bob.ws, "error", request="email.reply")
        assert refused["error"] == "contact-not-connected"  # offered, not yet accepted

        await bob.ws.send_json({"type": "accept", "contact_id": cid})
        thread = await receive(bob.ws, "email.thread", contact_id=cid)
        first = thread["messages"][0]
        assert (first["direction"], first["body"].strip()) == ("in", "It blinks <b>red</b> & green.")
        await receive(bob.ws, "connected", contact_id=cid)

        await bob.ws.send_json({"type": "email.reply", "contact_id": cid,
                                "body": "Please restart it.\nBob"})
        saved = (await receive(bob.ws, "email.message", contact_id=cid))["message"]
        assert (saved["direction"], saved["kind"], saved["status"]) == ("out", "reply", "pending")
        status = await receive(bob.ws, "email.status", contact_id=cid)
        assert status["status"] == "sent" and status["id"] == saved["id"]
        reply = await env.sink.wait_for(lambda m: "Please restart it." in m.body, what="the reply")
        assert reply.rcpt_tos == ["ada@example.com"] and reply["To"] == "ada@example.com"
        assert reply.mail_from == "support@acme.example"
        assert reply["From"] == "Acme Broadband Support <support@acme.example>"
        assert reply["Subject"] == "Re: Router blinks"
        assert reply["In-Reply-To"] == "<c1@customer.test>"
        assert reply["References"] == "<c0@customer.test> <c1@customer.test>"
        assert reply["Message-ID"] == saved["message_id"] and reply["Message-ID"].endswith("@acme.example>")
        assert "Auto-Submitted" not in reply.msg

        await bob.ws.send_json({"type": "complete", "contact_id": cid})
        await receive(bob.ws, "completed", contact_id=cid)
        # Ada answers the reply: the same contact comes back to the queue, and to bob.
        answer = mail("ada@example.com", "support@acme.example", "Re: Router blinks", "Still blinks.",
                      message_id="<c2@customer.test>", In_Reply_To=reply["Message-ID"],
                      References=f"{reply['References']} {reply['Message-ID']}")
        assert (await smtp_send(env.port, answer)).data[0] == 250  # type: ignore[index]
        again = (await receive(bob.ws, "offer"))["contact"]
        assert again["id"] == cid
        async with sessions() as s:
            contact = await s.get(Contact, cid)
            events = [e.kind for e in await contacts_repo.events(s, contact.tenant_id, cid)]
            rows = list(await s.scalars(select(EmailMessage).where(EmailMessage.contact_id == cid)
                                        .order_by(EmailMessage.id)))
        assert events.count("completed") == 1
        assert events[events.index("completed") + 1:] == ["queued", "email-received", "offered"]
        assert [(r.direction, r.kind) for r in rows] == [("in", "mail"), ("out", "ack"),
                                                         ("out", "reply"), ("in", "mail")]
    finally:
        await bob.close()



async def test_other_agents_and_tenants_can_neither_read_nor_reply(
        env: Env, sessions: Any, aiohttp_client: Any) -> None:
    bob = await page(env, aiohttp_client, "acme", "bob")
    alice = await page(env, aiohttp_client, "acme", "alice")
    carol = await page(env, aiohttp_client, "globex", "carol")
    try:
        await bob.presence("ready")
        await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Private",
                                       "my account number is 1234"))
        cid = (await receive(bob.ws, "offer"))["contact"]["id"]
        await bob.ws.send_json({"type": "accept", "contact_id": cid})
        await receive(bob.ws, "connected", contact_id=cid)
        for other in (carol, alice):
            for msg in ({"type": "email.thread", "contact_id": cid},
                        {"type": "email.reply", "contact_id": cid, "body": "phishing"}):
                await other.ws.send_json(msg)
                err = await receive(other.ws, "error", request=msg["type"])
                assert err["error"] == "contact-not-found"
        async with sessions() as s:
            replies = list(await s.scalars(select(EmailMessage).where(EmailMessage.kind == "reply")))
        assert replies == []
        # bob himself may: the thread carries the message.
        await bob.ws.send_json({"type": "email.thread", "contact_id": cid})
        thread = await receive(bob.ws, "email.thread", contact_id=cid)
        assert "1234" in thread["messages"][0]["body"]
        await bob.ws.send_json({"type": "email.reply", "contact_id": cid, "body": "   "})
        assert (await receive(bob.ws, "error", request="email.reply"))["error"] == "bad-body"
    finally:
        for p in (bob, alice, carol):
            await p.close()
