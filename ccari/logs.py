"""Logging set-up: plain text, or one JSON object a line (``log_format = "json"`` or
``ccari --log-json``), and the contact a line concerns.

Where a contact's work runs (a call's ARI events, the work done holding the call's
:class:`ContactLock`), :func:`contact` sets a context variable; :class:`ContactFilter`, on
the handler, copies it onto every record logged there (``contact_id``, ``tenant_id``), so no
call site passes it by hand.  Tasks started inside inherit it (asyncio copies the context
into a new task).

A JSON line::

    {"time": "2026-12-05T06:10:00.123Z", "level": "INFO", "logger": "ccari.voice.services",
     "message": "contact 9f...: queued", "contact_id": "9f...", "tenant_id": 1}

``contact_id`` and ``tenant_id`` are present only on lines that concern a contact;
``exception`` carries a traceback when there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import TextIO

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s%(contact)s: %(message)s"

_CONTACT: ContextVar[tuple[str, int | None] | None] = ContextVar("ccari_contact", default=None)


@contextlib.contextmanager
def contact(contact_id: str, tenant_id: int | None) -> Iterator[None]:
    """The lines logged within (and by the tasks started within) concern this contact."""
    token = _CONTACT.set((contact_id, tenant_id))
    try:
        yield
    finally:
        _CONTACT.reset(token)


def about(contact_id: str, tenant_id: int | None) -> dict[str, object]:
    """``extra=`` of a line about a contact logged outside that contact's work."""
    return {"contact_id": contact_id, "tenant_id": tenant_id}


class ContactLock(asyncio.Lock):
    """A contact's lock: what runs holding it (``async with``) is that contact's work, and
    its log lines say so."""

    def __init__(self, contact_id: str, tenant_id: int | None) -> None:
        super().__init__()
        self._about = (contact_id, tenant_id)
        self._tokens: list[Token[tuple[str, int | None] | None]] = []

    async def __aenter__(self) -> None:
        await self.acquire()
        self._tokens.append(_CONTACT.set(self._about))

    async def __aexit__(self, *exc: object) -> None:
        _CONTACT.reset(self._tokens.pop())
        self.release()


def current() -> tuple[str, int | None] | None:
    """The contact the running code works for, if any."""
    return _CONTACT.get()


class ContactFilter(logging.Filter):
    """Puts the current contact on the record (``contact_id``, ``tenant_id``; None outside
    a contact's work) and a `` [contact <id>]`` for the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = _CONTACT.get()
        if not hasattr(record, "contact_id"):
            record.contact_id, record.tenant_id = found if found else (None, None)
        contact_id = record.__dict__["contact_id"]
        record.contact = f" [contact {contact_id}]" if contact_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ms), level, logger, message, the contact."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        contact_id = getattr(record, "contact_id", None)
        if contact_id:
            line["contact_id"] = contact_id
            line["tenant_id"] = getattr(record, "tenant_id", None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["exception"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def handler(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing ``fmt`` ("text" or "json")."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: one of {', '.join(FORMATS)}")
    out: logging.StreamHandler[TextIO] = logging.StreamHandler(stream)
    out.addFilter(ContactFilter())
    out.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    return out


def configure(level: str, fmt: str) -> None:
    """The root logger writes ``fmt`` at ``level``; Alembic's chatter only from WARNING."""
    logging.basicConfig(level=level, handlers=[handler(fmt)], force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
