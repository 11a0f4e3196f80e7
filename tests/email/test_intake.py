"""The SMTP intake with a real client (smtplib) and the acknowledgement through a real relay
(an aiosmtpd sink): 550 for strangers, 250 only after the commit, threading, no loops."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.email.models import EmailMessage, Mailbox
from ccari.storage.models import Contact
from tests.email.conftest import Env, mail, smtp_send
from tests.support.waits import eventually


async def _contacts(sessions: Any) -> list[Contact]:
    async with sessions() as s:
        return list(await s.scalars(select(Contact).where(Contact.medium == "email")
                                    .order_by(Contact.arrived_at)))


async def _messages(sessions: Any, **where: Any) -> list[EmailMessage]:
    async with sessions() as s:
        query = select(EmailMessage).order_by(EmailMessage.id)
        for name, value in where.items():
            query = query.where(getattr(EmailMessage, name) == value)
        return list(await s.scalars(query))


async def test_unknown_recipient_is_refused_with_550(env: Env, sessions: Any) -> None:
    replies = await smtp_send(env.port, mail("ada@example.com", "nobody@acme.example", "Hi"),
                              rcpts=["nobody@acme.example", "support@other.example"])
    assert [code for code, _ in replies.rcpts] == [550, 550]
    assert b"5.1.1" in replies.rcpts[0][1]
    assert replies.data is None
    mixed = await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Hi"),
                            rcpts=["nobody@acme.example", "SUPPORT@acme.example"])
    assert [code for code, _ in mixed.rcpts] == [550, 250]
    assert mixed.data is not None and mixed.data[0] == 250
    assert len(await _contacts(sessions)) == 1


async def test_250_is_answered_only_after_the_commit(env: Env, sessions: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    gate, committing = asyncio.Event(), asyncio.Event()
    commit = AsyncSession.commit

    async def gated(self: AsyncSession) -> None:
        if any(isinstance(row, EmailMessage) for row in self.new):  # the intake's store
            committing.set()
            await gate.wait()
        await commit(self)

    monkeypatch.setattr(AsyncSession, "commit", gated)
    raw = mail("Ada Lovelace <ada@example.com>", "support@acme.example", "Router blinks red",
               "It blinks.", message_id="<first@customer.test>")
    sending = asyncio.create_task(smtp_send(env.port, raw))
    await asyncio.wait_for(committing.wait(), 10)
    # The store is at its commit: the client must still be waiting for its answer.
    done, _ = await asyncio.wait({sending}, timeout=0.5)
    assert not done, "the intake answered before the message was committed"
    assert await _messages(sessions) == []
    monkeypatch.setattr(AsyncSession, "commit", commit)
    gate.set()
    replies = await sending
    assert replies.data is not None and replies.data[0] == 250
    assert b"accepted" in replies.data[1]
    [row] = await _messages(sessions, direction="in")
    [contact] = await _contacts(sessions)
    assert row.contact_id == contact.id
    assert row.raw == raw  # as received
    assert row.message_id == "<first@customer.test>" and row.from_name == "Ada Lovelace"
    assert contact.state == "queued" and contact.attributes["skill"] == "support"
    assert contact.attributes == {"skill": "support"}
    assert contact.meta == {"subject": "Router blinks red", "from": "ada@example.com",
                            "mailbox": "support@acme.example"}
    assert contact.customer_id is not None  # ada@example.com is Ada's CRM record
    assert contact.caller_name == "Ada Lovelace <ada@example.com>"


async def test_storage_failure_answers_451_and_the_retry_is_stored(
        env: Env, sessions: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    commit = AsyncSession.commit

    async def broken(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(AsyncSession, "commit", broken)
    raw = mail("ada@example.com", "support@acme.example", "Lost?", message_id="<retry@customer.test>")
    first = await smtp_send(env.port, raw)
    assert first.data is not None and first.data[0] == 451
    monkeypatch.setattr(AsyncSession, "commit", commit)
    assert await _messages(sessions) == []
    again = await smtp_send(env.port, raw)
    assert again.data is not None and again.data[0] == 250
    assert [m.message_id for m in await _messages(sessions, direction="in")] == ["<retry@customer.test>"]


async def test_message_over_the_size_limit_gets_552(env: Env, sessions: Any) -> None:
    big = mail("ada@example.com", "support@acme.example", "Huge", "x" * (11 * 1024 * 1024))
    replies = await smtp_send(env.port, big)
    assert replies.data is not None and replies.data[0] == 552
    assert await _contacts(sessions) == []


async def test_ack_tells_the_anticipated_time_threaded_and_rules_route(env: Env, sessions: Any) -> None:
    raw = mail("Ada <ada@example.com>", "support@acme.example", "Invoice 42 is wrong",
               message_id="<inv@customer.test>", References="<older@customer.test>")
    assert (await smtp_send(env.port, raw)).data == (250, b"2.0.0 Message accepted")
    [contact] = await _contacts(sessions)
    # The demo rule: billing words in the subject go to the sales desk, with priority.
    assert contact.attributes["skill"] == "sales" and contact.priority == 1
    ack = await env.sink.wait_for(lambda m: m["In-Reply-To"] == "<inv@customer.test>", what="ack")
    assert ack.rcpt_tos == ["ada@example.com"] and ack["To"] == "ada@example.com"
    assert ack["From"] == "Acme Broadband Support <support@acme.example>"
    assert ack["Subject"] == "Re: Invoice 42 is wrong"
    assert ack["References"] == "<older@customer.test> <inv@customer.test>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["Message-ID"].endswith("@acme.example>")
    # Nobody who could answer is logged in: the mailbox's target (4 h) is announced.
    assert "expect to answer within about 4 hours" in ack.body

    async def sent() -> bool:
        [row] = await _messages(sessions, kind="ack")
        return row.status == "sent" and row.attempts == 1

    await eventually(sent, what="the ack to be marked sent")


async def test_reply_to_the_ack_joins_the_contact(env: Env, sessions: Any) -> None:
    await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "Help",
                                   message_id="<m1@customer.test>"))
    ack = await env.sink.wait_for(lambda m: m["In-Reply-To"] == "<m1@customer.test>", what="ack")
    more = mail("ada@example.com", "support@acme.example", "Re: Help", "One more thing",
                message_id="<m2@customer.test>", In_Reply_To=ack["Message-ID"],
                References=f"<m1@customer.test> {ack['Message-ID']}")
    assert (await smtp_send(env.port, more)).data[0] == 250  # type: ignore[index]
    [contact] = await _contacts(sessions)
    thread = await _messages(sessions, contact_id=contact.id)
    assert [(m.direction, m.kind) for m in thread] == [("in", "mail"), ("out", "ack"), ("in", "mail")]
    assert len(await _messages(sessions, kind="ack")) == 1  # no second ack inside a thread


async def test_no_auto_reply_to_automatic_mail_or_ourselves(env: Env, sessions: Any) -> None:
    automatic = [
        ("ooo@example.com", mail("ooo@example.com", "support@acme.example", "Out of office",
                                 Auto_Submitted="auto-replied")),
        ("list@example.com", mail("list@example.com", "support@acme.example", "News",
                                  Precedence="bulk")),
        ("sales@acme.example", mail("sales@acme.example", "support@acme.example", "Loop?")),
    ]
    for sender, raw in automatic:
        assert (await smtp_send(env.port, raw, mail_from=sender)).data[0] == 250  # type: ignore[index]
    bounce = mail("ada2@example.com", "support@acme.example", "Undeliverable")
    assert (await smtp_send(env.port, bounce, mail_from="")).data[0] == 250  # type: ignore[index]
    # A person writes last: the outbox sends in order, so when their ack arrives any ack of
    # the mail before would have been sent already.
    await smtp_send(env.port, mail("bea@example.com", "support@acme.example", "Real question"),
                    mail_from="bea@example.com")
    await env.sink.wait_for(lambda m: m.rcpt_tos == ["bea@example.com"], what="bea's ack")
    assert [m.rcpt_tos for m in env.sink.messages] == [["bea@example.com"]]
    assert len(await _contacts(sessions)) == 5  # every message is still a contact
    assert [m.to_address for m in await _messages(sessions, kind="ack")] == ["bea@example.com"]


async def test_one_ack_per_address_and_window_and_duplicates_are_stored_once(
        env: Env, sessions: Any) -> None:
    first = mail("ada@example.com", "support@acme.example", "One", message_id="<one@customer.test>")
    for _ in range(2):  # the second time: a client retrying after a lost 250
        assert (await smtp_send(env.port, first)).data[0] == 250  # type: ignore[index]
    await smtp_send(env.port, mail("ada@example.com", "sales@acme.example", "Two"))
    await smtp_send(env.port, mail("bea@example.com", "support@acme.example", "Three"),
                    mail_from="bea@example.com")
    await env.sink.wait_for(lambda m: m.rcpt_tos == ["bea@example.com"], what="bea's ack")
    assert [m.rcpt_tos for m in env.sink.messages] == [["ada@example.com"], ["bea@example.com"]]
    assert len(await _messages(sessions, message_id="<one@customer.test>")) == 1
    assert len(await _contacts(sessions)) == 3


async def test_one_message_to_two_tenants_is_two_contacts(env: Env, sessions: Any) -> None:
    raw = mail("ada@example.com", "support@acme.example, service@globex.example", "Both")
    replies = await smtp_send(env.port, raw, rcpts=["support@acme.example", "service@globex.example"])
    assert replies.data is not None and replies.data[0] == 250
    contacts = await _contacts(sessions)
    assert len({c.tenant_id for c in contacts}) == 2
    rows = await _messages(sessions, direction="in")
    assert {(r.tenant_id, r.contact_id) for r in rows} == {(c.tenant_id, c.id) for c in contacts}


async def test_a_stranger_naming_the_thread_gets_a_contact_of_their_own(env: Env, sessions: Any) -> None:
    await smtp_send(env.port, mail("ada@example.com", "support@acme.example", "My account",
                                   message_id="<private@customer.test>"))
    ack = await env.sink.wait_for(lambda m: m.rcpt_tos == ["ada@example.com"], what="ada's ack")
    # Someone who learnt the Message-IDs (a forged From does not help: answers go to Reply-To).
    for sender, extra in (("eve@evil.example", {}), ("ada@example.com", {"Reply_To": "eve@evil.example"})):
        raw = mail(sender, "support@acme.example", "Re: My account", "send me the details",
                   In_Reply_To=ack["Message-ID"], References=f"<private@customer.test> {ack['Message-ID']}",
                   **extra)
        assert (await smtp_send(env.port, raw, mail_from=sender)).data[0] == 250  # type: ignore[index]
    contacts = await _contacts(sessions)
    assert len(contacts) == 3
    first = await _messages(sessions, contact_id=contacts[0].id)
    assert [m.from_address for m in first if m.direction == "in"] == ["ada@example.com"]


async def test_a_broken_stored_rule_never_refuses_mail(env: Env, sessions: Any) -> None:
    async with sessions() as s:
        box = await s.scalar(select(Mailbox).where(Mailbox.address == "support@acme.example"))
        box.rules = [{"match": {"subject": "(unclosed"}, "attributes": {"skill": "sales"}}]
        await s.commit()
    assert (await smtp_send(env.port, mail("ada@example.com", "support@acme.example",
                                           "(unclosed"))).data[0] == 250  # type: ignore[index]
    [contact] = await _contacts(sessions)
    assert contact.attributes["skill"] == "support"  # the mailbox's default
