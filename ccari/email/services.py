"""Email use cases: a message arrives (SMTP intake or web form), joins or opens a contact,
is routed, and is acknowledged; an agent reads the thread and replies.

Save, then acknowledge: :meth:`EmailService.receive` returns (and the intake answers 250)
only once the message and its contact are committed.  Routing, the acknowledgement and the
agent's push happen after the commit; a crash in between is repaired at start-up (the
queue reloads queued contacts) or by the sender's retry (a duplicate Message-ID is only
acknowledged, never stored twice).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents.notifier import AgentHub
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import Command, Fact, State
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.email import headers as hdr
from ccari.email import mime, repo
from ccari.email.models import EmailMessage, Mailbox
from ccari.email.outbound import Outbox
from ccari.email.rules import Message, RuleError, Table
from ccari.errors import NotFound
from ccari.storage.models import Contact, ContactMeta, Tenant
from ccari.tenants import repo as tenants_repo

log = logging.getLogger(__name__)
# One acknowledgement per address and window, whatever it writes (RFC 3834 section 2).
ACK_WINDOW = dt.timedelta(hours=1)


class UnknownRecipient(Exception):
    """None of the recipients is a mailbox of ccari's (any more)."""


@dataclass(frozen=True)
class Arrival:
    tenant_id: int
    contact_id: str
    message_id: str
    outcome: str  # new | reopened | joined | duplicate


def view(row: EmailMessage, body_limit: int = 50_000) -> dict[str, Any]:
    """A message as the agent page shows it (rendered there with textContent only)."""
    return {"id": row.id, "message_id": row.message_id, "direction": row.direction, "kind": row.kind,
            "from_address": row.from_address, "from_name": row.from_name,
            "to_address": row.to_address, "subject": row.subject,
            "body": row.body[:body_limit], "attachments": row.attachments or [],
            "status": row.status, "at": row.at.isoformat()}


class EmailService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService,
                 hub: AgentHub, outbox: Outbox, *, node: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._queue = queue
        self._hub = hub
        self._executor = Executor(queue)
        self._outbox = outbox
        self._node = node
        self._clock = clock
        self._tables: dict[tuple[int, str], Table] = {}

    # ---- intake ------------------------------------------------------------------------------
    async def known_recipient(self, address: str) -> bool:
        found = hdr.valid_address(address)
        if found is None:
            return False
        async with self._sessions() as s:
            return await repo.mailbox_by_address(s, found) is not None

    async def receive(self, envelope_from: str | None, recipients: Sequence[str],
                      raw: bytes) -> list[Arrival]:
        """Store one received message (once per tenant it is addressed to)."""
        parsed = mime.parse(raw, envelope_from)
        boxes: dict[int, Mailbox] = {}
        async with self._sessions() as s:
            for rcpt in recipients:
                address = hdr.valid_address(rcpt)
                box = await repo.mailbox_by_address(s, address) if address else None
                if box is not None:
                    boxes.setdefault(box.tenant_id, box)
        if not boxes:
            raise UnknownRecipient(", ".join(recipients))
        return [await self._arrive(box, parsed, raw, "mail") for box in boxes.values()]

    async def web_request(self, tenant_id: int, session_id: str, *, from_address: str,
                          subject: str, body: str, page_url: str | None,
                          idempotency_key: str | None) -> tuple[Arrival, float]:
        """A help request from the web widget: the same kind of contact as a mail."""
        async with self._sessions() as s:
            boxes = await repo.mailboxes(s, tenant_id)
        if not boxes:
            raise NotFound("this tenant takes no email", error_id="email-not-configured")
        box, now = boxes[0], utc(self._clock())
        domain = hdr.domain_of(box.address)
        if idempotency_key:
            key = hashlib.sha256(f"{tenant_id}:{session_id}:{idempotency_key}".encode()).hexdigest()
            message_id = f"<web-{key[:40]}@{domain}>"
        else:
            message_id = mime.new_message_id(domain)
        raw = mime.web_request(from_address=from_address, to_address=box.address, subject=subject,
                               body=body, message_id=message_id, at=now, page_url=page_url)
        parsed = mime.Parsed(message_id=message_id, in_reply_to=None, references=[],
                             thread_ids=[], from_address=from_address, from_name="",
                             reply_address=from_address, subject=subject, body=body,
                             automatic=False)
        meta: ContactMeta = {"page_url": page_url} if page_url else {}
        arrival = await self._arrive(box, parsed, raw, "web", meta)
        seen = self._queue.view(arrival.contact_id)
        wait = hdr.anticipated_response_s(seen.predicted_wait_s if seen else None,
                                          box.response_target_s)
        return arrival, wait

    async def _arrive(self, box: Mailbox, parsed: mime.Parsed, raw: bytes, kind: str,
                      meta: ContactMeta | None = None) -> Arrival:
        """``meta``: what a new contact keeps of where the message came from (its page)."""
        now = utc(self._clock())
        async with self._sessions() as s:
            dup = await repo.by_message_id(s, box.tenant_id, parsed.message_id)
            if dup is not None:
                log.info("email %s: already stored (contact %s)", parsed.message_id, dup.contact_id,
                         extra=logs.about(dup.contact_id, box.tenant_id))
                arrival = Arrival(box.tenant_id, dup.contact_id, dup.message_id, "duplicate")
                commands: tuple[Command, ...] = ()
                contact = await contacts.get(s, dup.contact_id, box.tenant_id)
                first = await repo.first_message(s, box.tenant_id, dup.contact_id)
                # A retry of the message that opened the thread: make sure it is acknowledged.
                inbound = dup if first is not None and first.id == dup.id and dup.direction == "in" \
                    else None
            else:
                contact, outcome, commands = await self._contact_for(s, box, parsed, now,
                                                                     meta or {})
                inbound = EmailMessage(
                    tenant_id=box.tenant_id, contact_id=contact.id, mailbox_id=box.id,
                    direction="in", kind=kind, message_id=parsed.message_id,
                    in_reply_to=parsed.in_reply_to, refs=" ".join(parsed.references),
                    from_address=parsed.from_address[:254], from_name=parsed.from_name,
                    to_address=parsed.reply_address[:254], subject=parsed.subject,
                    body=parsed.body, attachments=parsed.attachments, raw=raw,
                    auto_submitted=parsed.automatic, status="received", at=now)
                s.add(inbound)
                await contacts.log(s, contact, "email-received", now, message_id=parsed.message_id,
                                   outcome=outcome)
                await s.commit()
                arrival = Arrival(box.tenant_id, contact.id, parsed.message_id, outcome)
                log.info("email %s: contact %s (%s)", parsed.message_id, contact.id, outcome,
                         extra=logs.about(contact.id, box.tenant_id))
                # Only the message that opens a thread is acknowledged.
                inbound = inbound if outcome == "new" else None
        # Committed: what follows may be lost in a crash and is redone (queue reload, retry).
        if commands and contact is not None:
            await self._executor.carry_out(contact, commands, agent_id=None)
        elif arrival.outcome == "joined" and contact is not None and contact.agent_id is not None \
                and contact.state in ("offered", "connected"):
            async with self._sessions() as s:
                row = await repo.by_message_id(s, box.tenant_id, parsed.message_id)
            if row is not None:
                await self._hub.send(contact.agent_id, {"type": "email.message",
                                                        "contact_id": contact.id, "message": view(row)})
        if inbound is not None and contact is not None and kind == "mail" and box.auto_ack:
            await self._acknowledge(box, contact, inbound)
        return arrival

    async def _contact_for(self, s: AsyncSession, box: Mailbox, parsed: mime.Parsed, now: dt.datetime,
                           meta: ContactMeta) -> tuple[Contact, str, tuple[Command, ...]]:
        """The contact of the message's thread (re-opened if it was closed), or a new one;
        with the lifecycle's commands that follow."""
        contact_id = await repo.thread_contact_id(s, box.tenant_id, parsed.thread_ids)
        if contact_id is not None and not await self._same_customer(s, box, contact_id, parsed):
            log.info("email %s names the thread of contact %s but comes from %s: a new contact",
                     parsed.message_id, contact_id, parsed.from_address)
            contact_id = None
        contact = await contacts.get(s, contact_id, box.tenant_id, for_update=True) \
            if contact_id else None
        if contact is not None:
            if contact.state in contacts.OPEN_STATES:
                return contact, "joined", ()
            commands = lifecycle.move(contact.state, Fact.CUSTOMER_WROTE).commands
            await contacts.apply(s, contact, Fact.CUSTOMER_WROTE, at=now, queued_at=now, agent_id=None,
                                      connected_at=None, ended_at=None, disposition=None,
                                      node=self._node)
            return contact, "reopened", commands
        routing = self._table(box).route(Message(box.address, parsed.subject, parsed.body))
        customer = await repo.customer_by_email(s, box.tenant_id, parsed.from_address) \
            if parsed.from_address else None
        queue = await tenants_repo.queue(s, box.tenant_id, None)
        name = f"{parsed.from_name} <{parsed.from_address}>" if parsed.from_name else parsed.from_address
        contact = await contacts.create(
            s, tenant_id=box.tenant_id, medium="email", state=State.QUEUED.value, node=self._node,
            queue_id=queue.id if queue else None, caller_name=name[:200] or None,
            customer_id=customer.id if customer else None, priority=routing.priority,
            attributes=dict(routing.attributes),
            meta={**meta, "subject": parsed.subject[:200], "from": parsed.reply_address,
                  "mailbox": box.address},
            arrived_at=now, queued_at=now)
        return contact, "new", lifecycle.born(State.QUEUED)

    @staticmethod
    async def _same_customer(s: AsyncSession, box: Mailbox, contact_id: str,
                             parsed: mime.Parsed) -> bool:
        """Only the thread's customer may add to it: a Message-ID is no secret (everyone copied
        knows it) and the agent's next reply goes to the address the last message asks for,
        so that address must already be the customer's (a forged From changes nothing)."""
        known = await repo.customer_addresses(s, box.tenant_id, contact_id)
        return bool(parsed.reply_address) and parsed.reply_address.lower() in known

    def _table(self, box: Mailbox) -> Table:
        """The mailbox's compiled rules (recompiled when they change)."""
        version = repr((box.attributes, box.rules))
        table = self._tables.get((box.id, version))
        if table is None:
            try:
                table = Table.of(box.attributes, box.rules)
            except RuleError as exc:  # never refuse mail over a bad rule: route by defaults
                log.error("mailbox %s: invalid routing rules ignored: %s", box.address, exc)
                table = Table({k: str(v) for k, v in (box.attributes or {}).items()
                               if isinstance(k, str) and not k.startswith("_")})
            self._tables = {k: v for k, v in self._tables.items() if k[0] != box.id}
            self._tables[(box.id, version)] = table
        return table

    async def _acknowledge(self, box: Mailbox, contact: Contact, inbound: EmailMessage) -> None:
        """Tell the customer when to expect an answer (never an automatic mail, never ourselves,
        at most once per address and window)."""
        to = inbound.to_address
        if inbound.auto_submitted or not to:
            log.info("email %s: automatic, not acknowledged", inbound.message_id)
            return
        seen = self._queue.view(contact.id)
        wait = hdr.anticipated_response_s(seen.predicted_wait_s if seen else None,
                                          box.response_target_s)
        now = utc(self._clock())
        async with self._sessions() as s:
            if await repo.ack_of(s, box.tenant_id, inbound.message_id) is not None:
                return
            if await repo.own_address(s, to):
                log.warning("email %s: from one of our own mailboxes, not acknowledged",
                            inbound.message_id)
                return
            if await repo.acks_since(s, box.tenant_id, to, now - ACK_WINDOW):
                log.info("email %s: %s was acknowledged lately", inbound.message_id, to)
                return
            tenant = await s.get(Tenant, box.tenant_id)
            tenant_name = tenant.name if tenant else box.address
            s.add(self.outgoing(
                box, contact, inbound, kind="ack", body=mime.ack_text(tenant_name, wait),
                from_name=box.display_name or tenant_name, at=now, auto=True))
            await contacts.log(s, contact, "email-ack", now, anticipated_s=round(wait))
            await s.commit()
        self._outbox.wake()

    def outgoing(self, box: Mailbox, contact: Contact, parent: EmailMessage, *, kind: str,
                  body: str, from_name: str, at: dt.datetime, auto: bool = False,
                  agent_id: int | None = None) -> EmailMessage:
        """An outbound message answering ``parent``, ready for the outbox."""
        out = mime.Outgoing(
            from_address=box.address, from_name=from_name, to_address=parent.to_address,
            subject=hdr.reply_subject(parent.subject),
            body=body, message_id=mime.new_message_id(hdr.domain_of(box.address)),
            in_reply_to=parent.message_id,
            references=hdr.references_for_reply(parent.refs.split(), parent.message_id),
            auto_replied=auto)
        return EmailMessage(
            tenant_id=contact.tenant_id, contact_id=contact.id, mailbox_id=box.id, direction="out",
            kind=kind, message_id=out.message_id, in_reply_to=out.in_reply_to,
            refs=" ".join(out.references), from_address=box.address, from_name=from_name[:200],
            to_address=out.to_address, subject=out.subject[:500], body=body,
            raw=mime.compose(out, at), status="pending", next_attempt_at=at, agent_id=agent_id,
            at=at)
