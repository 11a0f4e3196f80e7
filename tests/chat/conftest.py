"""The chat tests use the public side's fixtures (a seeded runtime and its two apps), with
the mail relay pointed at a local SMTP sink (a real SMTP server: aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from ccari.config import Config
from tests.public.conftest import agents, demo, internal, public, rt
from tests.support.sipp import free_tcp_port

__all__ = ["agents", "cfg", "demo", "internal", "public", "rt", "smtp_sink"]


class Sink:
    """Keeps every message it is sent (or, ``refusing``, none: a relay saying "later")."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.refusing = False
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refusing:
            return "451 4.3.0 try again later"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"

    async def first(self) -> EmailMessage | None:
        with self._lock:
            return self.messages[0] if self.messages else None


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    sink = Sink(free_tcp_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def cfg(cfg: Config, smtp_sink: Sink) -> Config:
    return replace(cfg, smtp=replace(cfg.smtp, relay_port=smtp_sink.port))
