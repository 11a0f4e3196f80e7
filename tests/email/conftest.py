"""Email test support: a real SMTP sink (aiosmtpd) standing in for the relay, a real SMTP
client (smtplib) for the customer, and ccari running with its intake on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import email.utils
import smtplib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from ccari.app import Runtime, runtime
from ccari.config import Config
from ccari.demo.seed import seed
from ccari.email import demo as email_demo
from tests.support.sipp import free_port


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    msg: email.message.EmailMessage

    def __getitem__(self, name: str) -> str:
        value = self.msg[name]
        return "" if value is None else str(value)

    @property
    def body(self) -> str:
        part = self.msg.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())


@dataclass
class Sink:
    """A local SMTP server keeping every message it accepts; ``answer`` makes it refuse."""

    answer: str | None = None
    messages: list[Delivered] = field(default_factory=list)
    port: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answer is not None:
            return self.answer
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or b"")
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(Delivered(str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        self._changed.set()
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="sink.test", loop=loop), "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, check: Callable[[Delivered], bool], timeout: float = 15.0,  # noqa: ASYNC109
                       what: str = "a message") -> Delivered:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if check(m):
                    return m
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the sink got no {what} in {timeout}s: "
                                     f"{[m['Subject'] for m in self.messages]}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = Sink()
    await s.start()
    yield s
    await s.stop()


@dataclass
class Env:
    rt: Runtime
    cfg: Config
    port: int
    sink: Sink
    secrets: dict[str, Any]


async def seed_all(sessions: Any, cfg: Config) -> dict[str, Any]:
    async with sessions() as s:
        sec = await seed(s, cfg)
        await email_demo.seed(s)
        await s.commit()
    return sec


def email_cfg(cfg: Config, sink: Sink, port: int | None = None) -> Config:
    return replace(cfg, smtp=replace(cfg.smtp, intake_port=port or free_port("127.0.0.1", socket.SOCK_STREAM),
                                     relay_port=sink.port, timeout_s=5.0))


@pytest.fixture
async def env(cfg: Config, sessions: Any, sink: Sink) -> AsyncIterator[Env]:
    sec = await seed_all(sessions, cfg)
    ecfg = email_cfg(cfg, sink)
    async with runtime(ecfg, with_pbx=False) as rt:
        yield Env(rt, ecfg, ecfg.smtp.intake_port, sink, sec)


def mail(sender: str, to: str, subject: str, body: str = "Hello", **headers: str) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = headers.pop("message_id", None) or email.utils.make_msgid(domain="customer.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes(policy=policy.SMTP)


@dataclass
class Replies:
    mail: tuple[int, bytes]
    rcpts: list[tuple[int, bytes]]
    data: tuple[int, bytes] | None


def _smtp(port: int, mail_from: str, rcpts: list[str], raw: bytes,
          after_data: Callable[[], Any] | None = None) -> Replies:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.test")
        first = c.mail(mail_from)
        answers = [c.rcpt(r) for r in rcpts]
        data = None
        if any(code == 250 for code, _ in answers):
            data = c.data(raw)
            if after_data is not None:
                after_data()
        return Replies(first, answers, data)


async def smtp_send(port: int, raw: bytes, *, mail_from: str = "ada@example.com",
                    rcpts: list[str] | None = None,
                    after_data: Callable[[], Any] | None = None) -> Replies:
    """One SMTP transaction with a real client (smtplib, in a thread)."""
    return await asyncio.to_thread(_smtp, port, mail_from, rcpts or ["support@acme.example"], raw,
                                   after_data)


