"""The outbox against a real relay (an aiosmtpd sink): saved before sending, retried with
backoff on 4xx or a relay that is down, failed at once on 5xx, and sent after a restart."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update

from ccari.agents.notifier import AgentHub
from ccari.app import runtime
from ccari.config import Config
from ccari.contacts import repo as contacts_repo
from ccari.email import mime
from ccari.email.models import EmailMessage
from ccari.email.outbound import Outbox, RetryPolicy, SmtpRelay
from ccari.storage.models import utcnow
from ccari.tenants import repo as tenants_repo
from tests.email.conftest import Sink, email_cfg, seed_all


async def _pending(sessions: Any, to: str = "ada@example.com") -> EmailMessage:
    """A reply waiting in the outbox, as an agent's command leaves it."""
    now = utcnow()
    async with sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        contact = await contacts_repo.create(s, tenant_id=acme.id, medium="email", state="connected",
                                             arrived_at=now)
        out = mime.Outgoing("support@acme.example", "Acme", to, "Re: hi", "Hello Ada",
                            mime.new_message_id("acme.example"), "<c1@customer.test>",
                            ["<c1@customer.test>"])
        row = EmailMessage(tenant_id=acme.id, contact_id=contact.id, direction="out", kind="reply",
                           message_id=out.message_id, in_reply_to=out.in_reply_to,
                           refs="<c1@customer.test>", from_address=out.from_address,
                           to_address=to, subject=out.subject, body=out.body,
                           raw=mime.compose(out, now), status="pending", next_attempt_at=now, at=now)
        s.add(row)
        await s.commit()
    return row


async def _row(sessions: Any, row_id: int) -> EmailMessage:
    async with sessions() as s:
        return (await s.scalars(select(EmailMessage).where(EmailMessage.id == row_id))).one()


async def test_retry_with_backoff_then_sent_and_5xx_fails_at_once(
        cfg: Config, sessions: Any, sink: Sink) -> None:
    await seed_all(sessions, cfg)
    row = await _pending(sessions)
    now = [time.time()]
    relay = SmtpRelay(email_cfg(cfg, sink).smtp)
    outbox = Outbox(sessions, relay, AgentHub(), policy=RetryPolicy(base_s=60, max_attempts=3),
                    clock=lambda: now[0])

    sink.answer = "451 4.3.0 busy, try later"
    assert await outbox.send_due() == 1
    first = await _row(sessions, row.id)
    assert (first.status, first.attempts) == ("pending", 1) and "451" in (first.last_error or "")
    assert first.next_attempt_at == dt.datetime.fromtimestamp(now[0] + 60, dt.UTC)
    assert await outbox.send_due() == 0  # not due yet

    port = sink.port
    await sink.stop()  # the relay is down
    now[0] += 61
    assert await outbox.send_due() == 1
    second = await _row(sessions, row.id)
    assert (second.status, second.attempts) == ("pending", 2) and "unreachable" in (second.last_error or "")
    assert second.next_attempt_at == dt.datetime.fromtimestamp(now[0] + 120, dt.UTC)  # doubled

    sink.port, sink.answer = port, None
    await sink.start()
    now[0] += 121
    assert await outbox.send_due() == 1
    sent = await _row(sessions, row.id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 3, None)
    [delivered] = sink.messages
    assert delivered["Message-ID"] == row.message_id  # the retries kept the Message-ID

    bad = await _pending(sessions, to="nobody@example.com")
    sink.answer = "550 5.1.1 no such user"
    assert await outbox.send_due() == 1
    failed = await _row(sessions, bad.id)
    assert (failed.status, failed.attempts) == ("failed", 1) and "550" in (failed.last_error or "")


async def test_sends_saved_or_interrupted_before_a_restart_go_out_after_it(
        cfg: Config, sessions: Any, sink: Sink) -> None:
    await seed_all(sessions, cfg)
    saved = await _pending(sessions)
    interrupted = await _pending(sessions, to="bea@example.com")
    async with sessions() as s:  # killed while this node was sending it (its lease runs on)
        await s.execute(update(EmailMessage).where(EmailMessage.id == interrupted.id).values(
            attempts=1, claimed_by=cfg.node, next_attempt_at=utcnow() + dt.timedelta(minutes=5)))
        await s.commit()
    ecfg = email_cfg(cfg, sink)
    async with runtime(replace(ecfg, smtp=replace(ecfg.smtp, intake_port=0)), with_pbx=False):
        for row in (saved, interrupted):
            delivered = await sink.wait_for(lambda m, r=row: m["Message-ID"] == r.message_id,
                                            what="the reply")
            assert delivered.rcpt_tos == [row.to_address]
            assert delivered["In-Reply-To"] == "<c1@customer.test>"
    assert (await _row(sessions, interrupted.id)).attempts == 2


async def test_mail_held_by_a_relay_outage_leaves_as_soon_as_the_relay_takes_mail_again(
        cfg: Config, sessions: Any, sink: Sink) -> None:
    await seed_all(sessions, cfg)
    now = [time.time()]
    outbox = Outbox(sessions, SmtpRelay(email_cfg(cfg, sink).smtp), AgentHub(),
                    policy=RetryPolicy(base_s=600), clock=lambda: now[0])
    port = sink.port
    await sink.stop()  # the relay is gone
    a = await _pending(sessions, to="a@example.com")
    now[0] = time.time()  # (each reply is due from its real saving time)
    assert await outbox.send_due() == 1
    b = await _pending(sessions, to="b@example.com")
    now[0] = time.time() + 10
    assert await outbox.send_due() == 1  # b fails too; a waits its 600 s
    sink.port = port
    await sink.start()  # back
    c = await _pending(sessions, to="c@example.com")
    now[0] = time.time() + 20
    assert await outbox.send_due() == 1  # the relay takes c ...
    assert await outbox.send_due() == 2  # ... so a and b are due now, not 600 s later
    rows = [await _row(sessions, r.id) for r in (a, b, c)]
    assert [(r.status, r.attempts) for r in rows] == [("sent", 2), ("sent", 2), ("sent", 1)]
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [
        "a@example.com", "b@example.com", "c@example.com"]  # each once
    assert await outbox.send_due() == 0
