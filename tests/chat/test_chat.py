"""Web chat between a customer (public websocket) and agents (agent page socket)."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari import logs
from ccari.agents import repo as agents_repo
from ccari.app import Runtime
from ccari.chat import http as chat_http
from ccari.chat import repo as chat_repo
from ccari.chat.models import ChatMessage
from ccari.chat.services import ChatService
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.storage.models import Contact, ContactEvent
from tests.public.support import collect, customer_ws, new_session, until
from tests.support.agent_web import AgentPage
from tests.support.waits import eventually


def chat_service(public: TestClient) -> ChatService:
    return public.app[chat_http.CHAT]


async def contact_row(rt: Runtime, contact_id: str) -> Contact:
    async with rt.sessions() as s:
        row = await s.get(Contact, contact_id)
        assert row is not None
        return row


async def open_chat(public: TestClient, topic: str | None = "sales", tenant: str = "acme",
                    **extra: Any) -> tuple[str, aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    token = (await new_session(public, tenant))["token"]
    ws = await customer_ws(public, token)
    assert (await until(ws, "state"))["state"] == "none"
    await ws.send_json({"type": "open", "topic": topic, "page_url": "http://shop.example/plans",
                        **extra})
    state = await until(ws, "state")
    assert state["state"] == "queued", state
    return token, ws, state


async def accept(agent: AgentPage, contact_id: str) -> dict[str, Any]:
    offer = await until(agent.ws, "offer")
    assert offer["contact"]["id"] == contact_id
    await agent.ws.send_json({"type": "accept", "contact_id": contact_id})
    return await until(agent.ws, "chat.history", contact_id=contact_id)


async def test_a_chat_from_queue_to_disposition(public: TestClient, rt: Runtime, agents: Any) -> None:
    _, ws, state = await open_chat(public, name="Ada")
    contact_id = state["contact_id"]
    row = await contact_row(rt, contact_id)
    assert (row.medium, row.state, row.caller_name) == ("chat", "queued", "Ada")
    assert row.attributes == {"skill": "sales"} and row.meta == {"page_url": "http://shop.example/plans"}
    # Nobody is ready yet: the customer can already write; the message waits for the agent.
    await ws.send_json({"type": "message", "body": "Is fibre available in Leeds?", "client_id": "c1"})
    first = await until(ws, "message", sender="customer")
    assert (first["seq"], first["client_id"]) == (1, "c1")

    alice = await agents("acme", "alice")
    history = await accept(alice, contact_id)
    assert [m["body"] for m in history["messages"]] == [
        "Is fibre available in Leeds?", "Alice Sales joined the chat"]
    assert history["topics"] == ["sales", "support"]
    colleagues = [a["username"] for a in history["agents"]]
    assert "bob" in colleagues and "alice" not in colleagues
    assert (await until(ws, "state"))["state"] == "connected"
    assert (await until(ws, "message", sender="system"))["body"] == "Alice Sales joined the chat"

    # Both ways, with typing indicators that are never saved.
    await alice.ws.send_json({"type": "chat.typing", "contact_id": contact_id, "typing": True})
    assert (await until(ws, "typing"))["typing"] is True
    await alice.ws.send_json({"type": "chat.send", "contact_id": contact_id, "body": "Yes, it is."})
    got = await until(ws, "message", sender="agent")
    assert (got["body"], got["agent"], got["seq"]) == ("Yes, it is.", "Alice Sales", 3)
    await ws.send_json({"type": "typing", "typing": True})
    assert (await until(alice.ws, "chat.typing"))["typing"] is True
    await ws.send_json({"type": "message", "body": "<script>alert(1)</script>"})
    relayed = await until(alice.ws, "chat.message", contact_id=contact_id, sender="customer")
    assert relayed["body"] == "<script>alert(1)</script>" and relayed["seq"] == 4

    await alice.ws.send_json({"type": "complete", "contact_id": contact_id, "disposition": "sale"})
    assert (await until(alice.ws, "completed"))["contact_id"] == contact_id
    closed = await until(ws, "state")
    assert closed == {"type": "state", "state": "closed", "by": "agent", "contact_id": contact_id}
    row = await contact_row(rt, contact_id)
    assert (row.state, row.disposition) == ("completed", "sale")
    assert row.talk_s is not None and row.talk_s >= 0 and row.wait_s is not None
    async with rt.sessions() as s:
        bodies = [m.body for m in await chat_repo.transcript(s, row.tenant_id, contact_id)]
    assert bodies == ["Is fibre available in Leeds?", "Alice Sales joined the chat",
                      "Yes, it is.", "<script>alert(1)</script>", "Alice Sales closed the chat"]
    await ws.send_json({"type": "message", "body": "hello?"})
    assert (await until(ws, "error"))["error"] == "chat-not-open"
    assert rt.queue.agent_state(await agent_id(rt, "alice")) == "ready"  # the slot is free


async def test_an_offer_the_database_did_not_take_is_made_again(
        public: TestClient, rt: Runtime, agents: Any, monkeypatch: Any) -> None:
    """The save of an offer fails (the database away a moment): the chat is not left
    unoffered while its agent shows reserved by an offer nobody sees; routing takes the
    database's word again and the chat is offered."""
    run = rt.queue.writes.run
    failed: list[str] = []

    async def once_away(fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") == "offered" and not failed:
            failed.append(fn.__name__)
            raise OSError("database away")
        return await run(fn, *args, **kwargs)

    monkeypatch.setattr(rt.queue.writes, "run", once_away)
    alice = await agents("acme", "alice")
    _, ws, state = await open_chat(public)
    offer = await until(alice.ws, "offer")
    assert failed and offer["contact"]["id"] == state["contact_id"]
    row = await contact_row(rt, state["contact_id"])
    assert (row.state, row.agent_id) == ("offered", await agent_id(rt, "alice"))
    await alice.ws.send_json({"type": "accept", "contact_id": state["contact_id"]})
    assert (await until(ws, "state"))["state"] == "connected"


async def test_an_agent_logging_out_with_a_chat_offered_hands_it_on_at_once(
        public: TestClient, rt: Runtime, agents: Any) -> None:
    """Alice logs out with a chat on offer: it leaves her page and goes to the next agent
    at once (not held by an offer nobody sees, nor charged with alice's miss 30 s later)."""
    alice = await agents("acme", "alice")
    _, ws, state = await open_chat(public)
    contact_id = state["contact_id"]
    assert (await until(alice.ws, "offer"))["contact"]["id"] == contact_id
    vera = await agents("acme", "vera", ready=False)
    await vera.presence("ready")
    async with rt.sessions() as s:
        row = await agents_repo.by_login(s, "acme", "alice")
    await rt.queue.set_presence(row, "logged_out")  # as her logout does
    assert (await until(alice.ws, "withdrawn"))["contact_id"] == contact_id
    assert (await until(vera.ws, "offer"))["contact"]["id"] == contact_id
    assert (await contact_row(rt, contact_id)).agent_id == await agent_id(rt, "vera")
    await vera.ws.send_json({"type": "accept", "contact_id": contact_id})
    assert (await until(ws, "state"))["state"] == "connected"
    assert rt.queue.agent_reason(await agent_id(rt, "vera")) is None
    assert rt.queue.agent_reason(row.id) is None and rt.queue.agent_state(row.id) == "logged_out"


async def test_an_accept_the_database_did_not_take_leaves_the_offer_timed(
        public: TestClient, rt: Runtime, agents: Any, monkeypatch: Any) -> None:
    """Her accept is not saved (the database away a moment): she is told, and the offer is
    still timed: unanswered, it lapses and the chat goes back to its place, rather than
    staying offered to her for ever."""
    assert rt.offers is not None
    monkeypatch.setattr(rt.offers, "_timeout", 1.5)
    apply = contacts_repo.apply
    failed: list[bool] = []

    async def away_once(session: Any, contact: Any, fact: Fact, **kw: Any) -> Any:
        if fact is Fact.ANSWERED and not failed:
            failed.append(True)
            raise OSError("database away")
        return await apply(session, contact, fact, **kw)

    monkeypatch.setattr(contacts_repo, "apply", away_once)
    alice = await agents("acme", "alice")
    _, ws, state = await open_chat(public)
    contact_id = state["contact_id"]
    assert (await until(alice.ws, "offer"))["contact"]["id"] == contact_id
    await alice.ws.send_json({"type": "accept", "contact_id": contact_id})
    assert (await until(alice.ws, "error"))["error"] == "internal-error"
    assert (await until(alice.ws, "withdrawn"))["contact_id"] == contact_id
    row = await contact_row(rt, contact_id)
    assert row.state == "queued" and row.agent_id is None


async def test_a_message_is_saved_before_it_is_acknowledged(public: TestClient, rt: Runtime,
                                                           monkeypatch: Any) -> None:
    _, ws, state = await open_chat(public)
    await ws.send_json({"type": "message", "body": "one", "client_id": "a"})
    ack = await until(ws, "message")
    async with rt.sessions() as s:  # the acknowledgement names a saved row
        saved = await s.scalar(select(ChatMessage).where(
            ChatMessage.contact_id == state["contact_id"], ChatMessage.seq == ack["seq"]))
    assert saved is not None and saved.body == "one"

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(chat_repo, "append", broken)
    await ws.send_json({"type": "message", "body": "two", "client_id": "b"})
    error = await until(ws, "error")
    assert (error["error"], error["request"]) == ("internal-error", "message")
    monkeypatch.undo()
    # The page resends what was not acknowledged: saved once, even when sent twice.
    for _ in range(2):
        await ws.send_json({"type": "message", "body": "two", "client_id": "b"})
        assert (await until(ws, "message"))["seq"] == 2
    async with rt.sessions() as s:
        rows = await chat_repo.transcript(s, 1, state["contact_id"])
    assert [(m.seq, m.body) for m in rows] == [(1, "one"), (2, "two")]


async def test_a_reload_replays_the_conversation(public: TestClient, rt: Runtime,
                                                agents: Any) -> None:
    token, ws, state = await open_chat(public)
    contact_id = state["contact_id"]
    alice = await agents("acme", "alice")
    await accept(alice, contact_id)
    await ws.send_json({"type": "message", "body": "before the reload"})
    await until(alice.ws, "chat.message", body="before the reload")
    await ws.close()
    gone = await until(alice.ws, "chat.customer")
    assert gone["present"] is False

    # The page reloads: a refreshed token of the same session, a new socket.
    token = (await new_session(public, token=token))["token"]
    ws = await customer_ws(public, token)
    state = await until(ws, "state")
    assert (state["state"], state["agent"]) == ("connected", "Alice Sales")
    replay = [await until(ws, "message") for _ in range(2)]
    assert [(m["seq"], m["body"]) for m in replay] == [
        (1, "Alice Sales joined the chat"), (2, "before the reload")]
    assert (await until(alice.ws, "chat.customer"))["present"] is True
    await alice.ws.send_json({"type": "chat.send", "contact_id": contact_id, "body": "still here"})
    assert (await until(ws, "message", sender="agent"))["seq"] == 3


async def test_one_tenant_never_reads_anothers_chats(public: TestClient, rt: Runtime,
                                                    agents: Any) -> None:
    _, globex_ws, state = await open_chat(public, topic="service", tenant="globex")
    await globex_ws.send_json({"type": "message", "body": "globex secret"})
    await until(globex_ws, "message")
    globex_contact = state["contact_id"]

    acme_token = (await new_session(public, "acme"))["token"]
    acme_ws = await customer_ws(public, acme_token)
    assert (await until(acme_ws, "state"))["state"] == "none"
    resp = await public.post("/v1/chat/transcript", json={"address": "eve@example.com"},
                             headers={"Authorization": f"Bearer {acme_token}"})
    assert resp.status == 404 and (await resp.json())["error"] == "chat-not-found"
    # acme's agents can neither write into it nor take it.
    alice = await agents("acme", "alice")
    for msg in ({"type": "chat.send", "contact_id": globex_contact, "body": "hi"},
                {"type": "accept", "contact_id": globex_contact},
                {"type": "chat.email", "contact_id": globex_contact, "address": "eve@example.com"}):
        await alice.ws.send_json(msg)
        error = await until(alice.ws, "error")
        assert error["error"] in ("chat-not-found", "contact-not-found"), error
    # acme's topics are not globex's.
    await acme_ws.send_json({"type": "open", "topic": "service", "page_url": "http://a.example/"})
    assert (await until(acme_ws, "error"))["error"] == "bad-topic"
    row = await contact_row(rt, globex_contact)
    assert row.state == "queued" and row.agent_id is None


async def test_leaving_before_an_agent_accepted_abandons(public: TestClient, rt: Runtime,
                                                        agents: Any) -> None:
    _, ws, state = await open_chat(public)
    await ws.send_json({"type": "close"})
    assert (await until(ws, "state"))["state"] == "closed"
    row = await contact_row(rt, state["contact_id"])
    assert (row.state, row.disposition) == ("abandoned", "customer-closed")
    assert row.ended_at is not None and row.wait_s is not None
    # Withdrawn from the queue: a ready agent gets no offer for it.
    await agents("acme", "alice")
    assert rt.queue.view(state["contact_id"]) is None
    assert rt.queue.agent_state(await agent_id(rt, "alice")) == "ready"

    # A page gone for good (no reconnect within the grace time) leaves too.
    service = chat_service(public)
    service.settings = replace(service.settings, abandon_after_s=0.2)
    _, ws2, state2 = await open_chat(public, topic="support")
    await ws2.close()

    async def abandoned() -> bool:
        return (await contact_row(rt, state2["contact_id"])).state == "abandoned"

    await eventually(abandoned, what="the chat to be abandoned")
    assert (await contact_row(rt, state2["contact_id"])).disposition == "customer-left"


async def agent_id(rt: Runtime, username: str) -> int:
    async with rt.sessions() as s:
        agent = await agents_repo.by_login(s, "acme", username)
    assert agent is not None
    return agent.id


async def test_customer_closing_frees_the_agents_slot(public: TestClient, rt: Runtime,
                                                     agents: Any) -> None:
    alice = await agents("acme", "alice")
    chats = []
    for _ in range(3):  # three chat slots: alice holds three chats at once
        _, ws, state = await open_chat(public)
        await accept(alice, state["contact_id"])
        chats.append((ws, state["contact_id"]))
    assert rt.queue.agent_state(await agent_id(rt, "alice")) == "busy"
    _, _, waiting = await open_chat(public)  # a fourth waits for a free slot
    assert waiting["position"] == 1

    ws, contact_id = chats[0]
    await ws.send_json({"type": "close"})
    assert (await until(ws, "state", state="closed"))["by"] == "customer"
    seen = await collect(alice.ws, "chat.ended", "completed", "offer")
    assert seen["chat.ended"]["contact_id"] == seen["completed"]["contact_id"] == contact_id
    # The freed slot takes the waiting chat.
    assert seen["offer"]["contact"]["id"] == waiting["contact_id"]
    row = await contact_row(rt, contact_id)
    assert (row.state, row.disposition) == ("completed", "customer-closed")
    assert row.talk_s is not None


async def test_transfer_to_a_topic_or_a_colleague(public: TestClient, rt: Runtime,
                                                 agents: Any) -> None:
    alice = await agents("acme", "alice")
    bob = await agents("acme", "bob")
    _, ws, state = await open_chat(public)
    contact_id = state["contact_id"]
    await accept(alice, contact_id)
    queued_at = (await contact_row(rt, contact_id)).queued_at

    await alice.ws.send_json({"type": "chat.transfer", "contact_id": contact_id, "topic": "support"})
    assert (await until(alice.ws, "withdrawn"))["contact_id"] == contact_id
    await until(ws, "message", sender="system", body="Alice Sales is transferring you to support")
    assert (await until(ws, "state"))["state"] == "queued"
    history = await accept(bob, contact_id)
    assert [m["body"] for m in history["messages"]][-1] == "Bob Support joined the chat"
    row = await contact_row(rt, contact_id)
    assert row.queued_at == queued_at and row.attributes["skill"] == "support"
    assert row.agent_id != await agent_id(rt, "alice")

    # Bob hands it to alice by name although she has no support skill.
    await bob.ws.send_json({"type": "chat.transfer", "contact_id": contact_id, "agent": "alice"})
    await until(bob.ws, "withdrawn")
    offer = (await until(alice.ws, "offer", timeout=10))["contact"]
    # Who it is reserved for and its former topic are ccari's own: not routing attributes.
    assert offer["id"] == contact_id and offer["ivr"] == {}
    assert offer["page_url"] == "http://shop.example/plans"
    await alice.ws.send_json({"type": "accept", "contact_id": contact_id})
    await until(alice.ws, "chat.history", contact_id=contact_id)
    row = await contact_row(rt, contact_id)
    assert row.attributes == {} and row.meta == {
        "page_url": "http://shop.example/plans", "topic": "support",
        "reserved_agent": str(await agent_id(rt, "alice"))}
    await alice.ws.send_json({"type": "chat.send", "contact_id": contact_id, "body": "back"})
    assert (await until(ws, "message", sender="agent"))["agent"] == "Alice Sales"
    async with rt.sessions() as s:
        kinds = [e.kind for e in await s.scalars(select(ContactEvent).where(
            ContactEvent.contact_id == contact_id).order_by(ContactEvent.id))]
    assert kinds.count("transferred") == 2
    # Not to oneself, nor to an unknown topic.
    for bad, error in (({"agent": "alice"}, "bad-transfer"), ({"topic": "plumbing"}, "bad-topic")):
        await alice.ws.send_json({"type": "chat.transfer", "contact_id": contact_id, **bad})
        assert (await until(alice.ws, "error"))["error"] == error


async def test_opening_chats_is_rate_limited(public: TestClient) -> None:
    token = (await new_session(public))["token"]
    ws = await customer_ws(public, token)
    await until(ws, "state")
    errors = []
    for _ in range(4):
        await ws.send_json({"type": "open", "topic": "sales", "page_url": "http://a.example/"})
        msg = await ws.receive_json(timeout=5)
        if msg["type"] == "state":
            await ws.send_json({"type": "close"})
            await until(ws, "state", state="closed")
        else:
            errors.append(msg["error"])
    assert errors == ["rate-limited"]


async def test_an_agent_page_reload_gets_its_chats_back(public: TestClient, rt: Runtime,
                                                       agents: Any) -> None:
    alice = await agents("acme", "alice")
    _, ws, state = await open_chat(public)
    await accept(alice, state["contact_id"])
    await alice.ws.send_json({"type": "chat.resume"})
    offer = await until(alice.ws, "offer")
    assert offer["contact"]["id"] == state["contact_id"] and offer["resumed"] is True
    assert (await until(alice.ws, "connected"))["contact_id"] == state["contact_id"]
    history = await until(alice.ws, "chat.history")
    assert history["customer_present"] is True


@pytest.mark.parametrize("who", ["customer", "agent"])
async def test_transcript_by_email(public: TestClient, rt: Runtime, agents: Any,
                                   smtp_sink: Any, who: str) -> None:
    token, ws, state = await open_chat(public, address="ada@example.com")
    alice = await agents("acme", "alice")
    await accept(alice, state["contact_id"])
    await ws.send_json({"type": "message", "body": "Can I keep my number?"})
    await until(alice.ws, "chat.message", sender="customer")
    await alice.ws.send_json({"type": "chat.send", "contact_id": state["contact_id"],
                              "body": "Yes, <b>always</b>."})
    await until(ws, "message", sender="agent")
    if who == "customer":
        bad = await public.post("/v1/chat/transcript", json={"address": "not an address"},
                                headers={"Authorization": f"Bearer {token}"})
        assert bad.status == 400 and (await bad.json())["error"] == "bad-address"
        resp = await public.post("/v1/chat/transcript", json={"address": "ada@example.org"},
                                 headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, await resp.text()
        to = "ada@example.org"
    else:
        await alice.ws.send_json({"type": "chat.email", "contact_id": state["contact_id"]})
        assert (await until(alice.ws, "chat.emailed"))["address"] == "ada@example.com"
        to = "ada@example.com"
    message = await eventually(smtp_sink.first, what="the transcript mail")
    assert message["To"] == to and message["Subject"] == "Your chat with Acme Broadband"
    text = message.get_content()
    assert "You: Can I keep my number?" in text
    assert "Alice Sales: Yes, <b>always</b>." in text


async def test_a_transcript_the_relay_refuses_is_said_so_and_sent_when_asked_again(
        public: TestClient, smtp_sink: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The mail relay says "later": the customer is told to try again (502 mail-failed), the
    log says why in one line (an outage, not a fault of ccari's: no traceback); asked again
    once the relay takes mail, the transcript goes."""
    token, _, _ = await open_chat(public, address="ada@example.com")
    smtp_sink.refusing = True
    with caplog.at_level(logging.WARNING, logger="ccari"):
        resp = await public.post("/v1/chat/transcript", json={"address": "ada@example.org"},
                                 headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 502 and (await resp.json())["error"] == "mail-failed"
    said = [r for r in caplog.records if r.name.startswith("ccari")]
    assert said and all(r.exc_info is None for r in said)
    assert any("try again later" in r.getMessage() for r in said)
    smtp_sink.refusing = False
    resp = await public.post("/v1/chat/transcript", json={"address": "ada@example.org"},
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert (await eventually(smtp_sink.first, what="the transcript mail"))["To"] == (
        "ada@example.org")


async def test_every_log_line_about_a_chat_names_its_contact(public: TestClient, rt: Runtime,
                                                              agents: Any) -> None:
    """The JSON log of a whole chat: each line that mentions the chat's contact carries it
    (``contact_id``, ``tenant_id``), whichever side's work logged it."""
    out = io.StringIO()
    handler = logs.handler("json", out)
    root = logging.getLogger("ccari")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        alice = await agents("acme", "alice")
        _, ws, state = await open_chat(public, name="Ada")
        contact_id = state["contact_id"]
        await ws.send_json({"type": "message", "body": "Hello?"})
        await accept(alice, contact_id)
        await alice.ws.send_json({"type": "chat.send", "contact_id": contact_id, "body": "Hi"})
        await until(ws, "message", sender="agent")
        await ws.send_json({"type": "close"})
        await until(ws, "state", state="closed")
        await until(alice.ws, "completed")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    about = [line for line in lines if contact_id in line["message"]]
    assert len(about) >= 4, lines  # opened, offered, accepted, closed at least
    tenant = (await contact_row(rt, contact_id)).tenant_id
    assert [(line.get("contact_id"), line.get("tenant_id")) for line in about] == [
        (contact_id, tenant)] * len(about), about
