"""ccari's SMTP intake (aiosmtpd) for every tenant's support addresses.

* ``RCPT TO`` an address that is not a mailbox: ``550 5.1.1`` (ccari is no relay);
* a message over the size limit: ``552`` (announced in EHLO ``SIZE``);
* ``DATA``: the message and its contact are **committed, then** ``250`` is answered; any
  storage failure answers ``451`` so the sender keeps the message and tries again.

The store runs in its own task, shielded from the connection: a client hanging up during
``DATA`` never cuts a transaction in half (it retries; the Message-ID makes that a no-op).
The server runs on ccari's event loop (``loop.create_server``), not aiosmtpd's controller
thread, so it shares the database engine and the queue.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from ccari.email.services import EmailService, UnknownRecipient
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
ACCEPTED = "250 2.0.0 Message accepted"
TRY_LATER = "451 4.3.0 Temporary failure, please try again later"
UNKNOWN = "550 5.1.1 No such mailbox here"
# aiosmtpd logs every connection at INFO under this name.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class IntakeHandler:
    """aiosmtpd handler hooks (``handle_<COMMAND>``)."""

    def __init__(self, service: EmailService, *, max_recipients: int = 50) -> None:
        self._service = service
        self._max_recipients = max_recipients
        self._tasks = TaskSet("email-intake")
        self._stores: set[asyncio.Task[Any]] = set()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return "452 4.5.3 Too many recipients"
        try:
            known = await self._service.known_recipient(address)
        except Exception:
            log.exception("intake: recipient lookup failed")
            return TRY_LATER
        if not known:
            log.info("intake: refused recipient %r from %s", address, session.peer)
            return UNKNOWN
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            task = self._tasks.spawn(self._store(envelope.mail_from, list(envelope.rcpt_tos), raw),
                                     "store")
        except RuntimeError:
            return "421 4.3.2 Service shutting down"
        self._stores.add(task)
        task.add_done_callback(self._stores.discard)
        return await asyncio.shield(task)

    async def _store(self, mail_from: str | None, rcpts: list[str], raw: bytes) -> str:
        try:
            await self._service.receive(mail_from, rcpts, raw)
        except UnknownRecipient:
            return UNKNOWN
        except Exception:
            log.exception("intake: could not store a message of %s bytes", len(raw))
            return TRY_LATER
        return ACCEPTED

    async def close(self, grace_s: float = 10.0) -> None:
        """Let the stores in progress finish (their senders are waiting for a 250)."""
        if self._stores:
            await asyncio.wait(set(self._stores), timeout=grace_s)
        await self._tasks.close()


class Intake:
    """The listening server; binding is retried in the background if the port is taken."""

    def __init__(self, service: EmailService, *, host: str, port: int,
                 max_message_bytes: int = 10 * 1024 * 1024, max_recipients: int = 50,
                 timeout_s: float = 300.0, retry_bind_s: float = 30.0) -> None:
        self.handler = IntakeHandler(service, max_recipients=max_recipients)
        self._host, self._port = host, port
        self._max_bytes = max_message_bytes
        self._timeout = timeout_s
        self._retry_bind = retry_bind_s
        self._server: asyncio.Server | None = None
        self._conns: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._tasks = TaskSet("email-intake-server")
        self._hostname = socket.gethostname()

    @property
    def port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    def _protocol(self) -> SMTP:
        proto = SMTP(self.handler, data_size_limit=self._max_bytes, enable_SMTPUTF8=True,
                     hostname=self._hostname, ident="ccari ESMTP", timeout=self._timeout,
                     loop=asyncio.get_running_loop())
        self._conns.add(proto)
        return proto

    async def start(self) -> None:
        try:
            await self._bind()
        except OSError as exc:
            log.error("SMTP intake cannot listen on %s:%s (%s); retrying every %.0f s",
                      self._host, self._port, exc, self._retry_bind)
            self._tasks.spawn(self._bind_later(), "bind")

    async def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port)
        log.info("SMTP intake listening on %s:%s", self._host, self.port)

    async def _bind_later(self) -> None:
        while True:
            await asyncio.sleep(self._retry_bind)
            try:
                await self._bind()
                return
            except OSError as exc:
                log.debug("SMTP intake still cannot listen: %s", exc)

    async def close(self) -> None:
        await self._tasks.close()
        if self._server is not None:
            self._server.close()
        await self.handler.close()
        handlers = []
        for proto in list(self._conns):
            if proto.transport is not None:
                proto.transport.close()
            # aiosmtpd runs each connection in a task of its own; let it end before the loop.
            task = getattr(proto, "_handler_coroutine", None)
            if task is not None:
                handlers.append(task)
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
