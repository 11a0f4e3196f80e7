"""Parsing received mail and composing ours (the ``email`` package, ``policy.default``).

Parsing never fails: a message is stored whatever its shape (save, then acknowledge), so a
broken header or body degrades to what can be read, and a message without a Message-ID
gets one derived from its bytes (a retried delivery still carries the same id).
"""

from __future__ import annotations

import datetime as dt
import email.message as mime
import email.utils
import hashlib
import html
import logging
import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.parser import BytesParser
from typing import Any

from ccari.email import headers as hdr

log = logging.getLogger(__name__)
MAX_BODY = 200_000
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_BLANKS = re.compile(r"\n\s*\n\s*(\n\s*)+")


@dataclass(frozen=True)
class Parsed:
    message_id: str
    in_reply_to: str | None
    references: list[str]
    thread_ids: list[str]
    from_address: str
    from_name: str
    reply_address: str
    subject: str
    body: str
    automatic: bool
    attachments: list[dict[str, Any]] = field(default_factory=list)


def html_to_text(markup: str) -> str:
    text = html.unescape(_TAGS.sub(" ", re.sub(r"<br\s*/?>|</p\s*>", "\n", markup, flags=re.I)))
    return _BLANKS.sub("\n\n", text).strip()


def _header(msg: mime.EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:  # a header the parser cannot make sense of
        return ""


def _first_address(msg: mime.EmailMessage, name: str) -> tuple[str, str]:
    try:
        header = msg.get(name)
        for addr in getattr(header, "addresses", ()):
            found = hdr.valid_address(addr.addr_spec)
            if found:
                return found, str(addr.display_name or "")
    except Exception:
        log.debug("unreadable %s header", name)
    return "", ""


def _body(msg: mime.EmailMessage) -> tuple[str, list[dict[str, Any]]]:
    text, files = "", []
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is not None:
            content = part.get_content()
            text = html_to_text(content) if part.get_content_type() == "text/html" else content
        for att in msg.iter_attachments():
            payload = att.get_payload(decode=True)
            files.append({"filename": str(att.get_filename() or "")[:200],
                          "content_type": att.get_content_type(),
                          "size": len(payload) if isinstance(payload, bytes) else 0})
    except Exception:
        log.debug("unreadable body", exc_info=True)
        if not text:
            payload = msg.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return text.replace("\r\n", "\n")[:MAX_BODY], files[:50]


def parse(raw: bytes, envelope_from: str | None = None) -> Parsed:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, mime.EmailMessage)
    ids = hdr.message_ids(_header(msg, "Message-ID"))
    message_id = ids[0] if ids else f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"
    from_address, from_name = _first_address(msg, "From")
    if not from_address:
        from_address = hdr.valid_address(envelope_from) or ""
    reply_address = _first_address(msg, "Reply-To")[0] or from_address
    in_reply_to_ids = hdr.message_ids(_header(msg, "In-Reply-To"))
    references = hdr.message_ids(_header(msg, "References"))
    lowered = {k.lower(): _header(msg, k) for k in set(msg.keys())}
    body, files = _body(msg)
    return Parsed(
        message_id=message_id,
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else None,
        references=references,
        thread_ids=hdr.thread_ids(_header(msg, "In-Reply-To"), _header(msg, "References")),
        from_address=from_address, from_name=from_name[:200], reply_address=reply_address,
        subject=" ".join(_header(msg, "Subject").split())[:500],
        body=body,
        automatic=hdr.is_automatic(lowered, envelope_from, from_address),
        attachments=files,
    )


def new_message_id(domain: str) -> str:
    return email.utils.make_msgid(domain=domain)


@dataclass(frozen=True)
class Outgoing:
    from_address: str
    from_name: str
    to_address: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None
    references: list[str]
    auto_replied: bool = False


def compose(out: Outgoing, at: dt.datetime) -> bytes:
    msg = mime.EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(out.from_name, addr_spec=out.from_address)
    msg["To"] = Address(addr_spec=out.to_address)
    msg["Subject"] = out.subject
    msg["Date"] = email.utils.format_datetime(at)
    msg["Message-ID"] = out.message_id
    if out.in_reply_to:
        msg["In-Reply-To"] = out.in_reply_to
    if out.references:
        msg["References"] = " ".join(out.references)
    if out.auto_replied:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(out.body)
    return msg.as_bytes()


def ack_text(tenant_name: str, wait_s: float) -> str:
    return (
        f"Hello,\n\nThank you for writing to {tenant_name}. We have received your message "
        f"and expect to answer {hdr.describe_wait(wait_s)}.\n\n"
        "To add to your request, simply reply to this email: your messages stay together.\n\n"
        f"-- \n{tenant_name}\n(this is an automatic message)\n"
    )


def web_request(*, from_address: str, to_address: str, subject: str, body: str, message_id: str,
                at: dt.datetime, page_url: str | None) -> bytes:
    """The raw form of a help request sent from the web widget (kept like received mail)."""
    msg = mime.EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(addr_spec=from_address)
    msg["To"] = Address(addr_spec=to_address)
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(at)
    msg["Message-ID"] = message_id
    if page_url:
        msg["X-Ccari-Page-Url"] = page_url
    msg.set_content(body)
    return msg.as_bytes()
