"""A chat transcript by email, sent through the configured relay (``cfg.smtp.relay_*``)."""

from __future__ import annotations

import email.utils
import logging
import re
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.chat import repo
from ccari.config import SmtpConfig
from ccari.errors import BadRequest, CcariError, NotFound
from ccari.storage.models import Tenant

log = logging.getLogger(__name__)


class MailFailed(CcariError):
    """The transcript could not be sent; try again later."""

    error_id = "mail-failed"
    status = 502
    outage = True


def transcript_message(*, tenant_name: str, to: str, from_address: str, contact_id: str,
                       messages: Iterable[dict[str, Any]]) -> EmailMessage:
    """A plain-text transcript: one line per message, with its time (UTC) and sender."""
    lines = [f"Your chat with {tenant_name}", ""]
    for m in messages:
        who = {"customer": "You", "system": "--"}.get(m["sender"]) or m.get("agent") or "Agent"
        lines.append(f"[{m['at'][11:16]}] {who}: {m['body']}")
    msg = EmailMessage()
    msg["From"] = email.utils.formataddr((tenant_name, from_address))
    msg["To"] = to
    msg["Subject"] = f"Your chat with {tenant_name}"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(idstring=f"chat-{contact_id}")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("\n".join(lines) + "\n")
    return msg


async def send(cfg: SmtpConfig, msg: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            msg, hostname=cfg.relay_host, port=cfg.relay_port,
            username=cfg.relay_user or None, password=cfg.relay_password or None,
            start_tls=cfg.relay_starttls, use_tls=False, timeout=cfg.timeout_s)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        log.warning("transcript to %s not sent: %s", msg["To"], exc)
        raise MailFailed("the transcript could not be sent; try again later") from None


def valid_address(address: object) -> str:
    if (not isinstance(address, str) or len(address) > 254
            or not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[A-Za-z0-9-]{2,}", address)):
        raise BadRequest("that is not an email address", error_id="bad-address")
    return address


async def send_transcript(sessions: async_sessionmaker[AsyncSession], smtp: SmtpConfig,
                          tenant_id: int, contact_id: str, address: str) -> None:
    """Email the chat's transcript to ``address`` (kept as the customer's address)."""
    address = valid_address(address)
    async with sessions() as s:
        tenant = await s.get(Tenant, tenant_id)
        chat = await repo.conversation(s, tenant_id, contact_id, for_update=True)
        if tenant is None or chat is None:
            raise NotFound("no such chat", error_id="chat-not-found")
        names = await repo.agent_names(s, tenant_id)
        messages = [repo.as_dict(m, names) for m in await repo.transcript(s, tenant_id, contact_id)]
        chat.customer_address = address
        await s.commit()
    msg = transcript_message(tenant_name=tenant.name, to=address, from_address=smtp.from_address,
                             contact_id=contact_id, messages=messages)
    await send(smtp, msg)
    log.info("contact %s: transcript sent (%d messages)", contact_id, len(messages),
             extra=logs.about(contact_id, tenant_id))
