"""The SMTP relay gone for an hour, on a simulated clock (bench.resilience's ``smtp-down``).

ccari's outbox (:class:`ccari.email.outbound.Outbox`, its default retry policy) sends through
a real SMTP relay (an aiosmtpd sink on a port of its own) and plans its retries with the
clock it is given: here a simulated one that moves in steps of ``STEP_S``, the outbox asked
to send what is due at every step.  The relay stops at 0; an agent's reply is saved every
simulated minute for the hour the relay is away (each a row of the outbox, as the agent's
command leaves it); the relay comes back at 3600 s.  Then the simulated clock runs on until
nothing is pending.  Judged at the relay: every reply saved arrives, each exactly once (by
Message-ID); ``recover_s`` is the simulated time from the relay's return to its first
delivery; the note says when the last reply queued during the outage went out.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from pathlib import Path

from sqlalchemy import func, select

from bench._outcome import Outcome
from ccari.agents.notifier import AgentHub
from ccari.config import SmtpConfig
from ccari.contacts import repo as contacts_repo
from ccari.email import mime
from ccari.email.models import EmailMessage
from ccari.email.outbound import Outbox, SmtpRelay
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Tenant
from tests.email.conftest import Sink

OUTAGE_S = 3600.0
STEP_S = 10.0
EVERY_S = 60.0  # one reply saved per simulated minute of the outage
AFTER_S = 4 * 3600.0  # the longest the clock runs on after the relay is back


async def run(tmp: Path) -> Outcome:
    tmp.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{tmp}/mail.db"
    await upgrade_async(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    sink = Sink()
    await sink.start()
    now = [time.time()]
    start = now[0]
    outbox = Outbox(sessions, SmtpRelay(SmtpConfig(relay_port=sink.port, timeout_s=2.0)),
                    AgentHub(), clock=lambda: now[0])
    saved: list[str] = []
    try:
        async with sessions() as s:
            tenant = Tenant(slug="mail", name="Mail")
            s.add(tenant)
            await s.commit()
        port = sink.port
        await sink.stop()  # the relay is gone
        delivered_at: dict[str, float] = {}
        back = start + OUTAGE_S
        next_save = start
        while now[0] < back + AFTER_S:
            if now[0] < back and now[0] >= next_save:
                saved.append(await _reply(sessions, tenant.id, now[0], len(saved)))
                next_save += EVERY_S
            if now[0] >= back and _down(sink):  # the relay is back, on its address
                sink.port = port
                await sink.start()
            await outbox.send_due()
            for m in sink.messages:
                delivered_at.setdefault(str(m["Message-ID"]), now[0])
            if now[0] >= back and len(delivered_at) >= len(saved) and not await _pending(sessions):
                break
            now[0] += STEP_S
    finally:
        await sink.stop()
        await engine.dispose()
    counts = collections.Counter(str(m["Message-ID"]) for m in sink.messages)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    out = Outcome("smtp-down", acked=len(saved), duplicates=duplicates,
                  lost_acks=sum(1 for mid in saved if mid not in counts))
    first = min(delivered_at.values(), default=float("nan"))
    last = max(delivered_at.values(), default=float("nan"))
    out.recover_s = first - back
    out.note = (f"simulated: relay away {OUTAGE_S:.0f}s, {len(saved)} replies queued, "
                f"delivered={len(counts)} duplicates={duplicates}, the last "
                f"{last - back:.0f}s after the relay came back")
    return out


def _down(sink: Sink) -> bool:
    return sink._server is None  # noqa: SLF001 (the sink's own state: started or not)


async def _reply(sessions, tenant_id: int, at: float, n: int) -> str:  # type: ignore[no-untyped-def]
    """A reply in the outbox, as an agent's command leaves it; its Message-ID."""
    when = dt.datetime.fromtimestamp(at, dt.UTC)
    async with sessions() as s:
        contact = await contacts_repo.create(s, tenant_id=tenant_id, medium="email",
                                             state="connected", arrived_at=when)
        out = mime.Outgoing("support@mail.example", "Mail", f"customer{n}@example.com",
                            f"Re: question {n}", f"Answer {n}",
                            mime.new_message_id("mail.example"), None, [])
        s.add(EmailMessage(tenant_id=tenant_id, contact_id=contact.id, direction="out",
                           kind="reply", message_id=out.message_id, from_address=out.from_address,
                           to_address=out.to_address, subject=out.subject, body=out.body,
                           raw=mime.compose(out, when), status="pending", next_attempt_at=when,
                           at=when))
        await s.commit()
    return out.message_id


async def _pending(sessions) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return await s.scalar(select(func.count()).select_from(EmailMessage).where(
            EmailMessage.status == "pending")) or 0
