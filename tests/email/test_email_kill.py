"""Kill -9 ccari the moment its intake answers 250: nothing is lost.  ccari runs as a real
process (``python -m ccari serve``, which needs its PBX: a real Asterisk of its own here);
after the restart the mail is a queued contact, offered to the agent, and acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ccari.config import Config, PbxConfig
from ccari.email import demo as email_demo
from ccari.email.models import EmailMessage
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact
from tests.email.conftest import Sink, mail, smtp_send
from tests.support.agent_web import open_agent_page
from tests.support.pbx import start_from_db
from tests.support.sipp import free_port
from tests.support.waits import eventually
from tests.voice.conftest import PHONE_IP, PHONES, VoiceEnv, prepare_db
from tests.voice.test_restart import CcariProcess

pytestmark = pytest.mark.pbx


@pytest.fixture(scope="session")
def email_pbx_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceEnv]:
    """An Asterisk instance of this module's own (the voice tests may run theirs alongside)."""
    name = f"email{os.getpid()}"
    env = VoiceEnv(
        tmp_path_factory.mktemp("email-state"), {p: free_port(PHONE_IP) for p in PHONES},
        PbxConfig(instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
                  ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
                  ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
                  rtp_start=30100, rtp_end=30998))
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('email-spec')}/spec.db"
    proc = start_from_db(lambda: prepare_db(env, url))
    yield env
    proc.stop()


@pytest.fixture
async def email_cfg(email_pbx_env: VoiceEnv, tmp_path: Path) -> AsyncIterator[Config]:
    cfg = await prepare_db(email_pbx_env, f"sqlite+aiosqlite:///{tmp_path}/ccari.db")
    engine = make_engine(cfg.database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            await email_demo.seed(s)
            await s.commit()
    finally:
        await engine.dispose()
    yield cfg


async def test_kill_9_right_after_the_250_loses_nothing(
        email_cfg: Config, email_pbx_env: VoiceEnv, sink: Sink) -> None:
    intake = free_port("127.0.0.1", socket.SOCK_STREAM)
    ccari = CcariProcess(email_cfg, free_port("127.0.0.1", socket.SOCK_STREAM))
    ccari.env.update(CCARI_SMTP_INTAKE_PORT=str(intake), CCARI_SMTP_RELAY_PORT=str(sink.port))
    engine = make_engine(email_cfg.database.url)
    sessions = make_sessionmaker(engine)

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", intake)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    try:
        await ccari.start()
        await eventually(listening, 20, "the SMTP intake")
        assert ccari.proc is not None
        pid = ccari.proc.pid
        raw = mail("Ada Lovelace <ada@example.com>", "support@acme.example", "Router blinks",
                   "Please call me back.", message_id="<kill@customer.test>")
        # The client kills ccari from its own thread the instant the 250 is read.
        replies = await smtp_send(intake, raw, after_data=lambda: os.kill(pid, signal.SIGKILL))
        assert replies.data is not None and replies.data[0] == 250
        assert await ccari.proc.wait() == -signal.SIGKILL

        async with sessions() as s:
            [msg] = list(await s.scalars(select(EmailMessage).where(
                EmailMessage.message_id == "<kill@customer.test>")))
            contact = await s.get(Contact, msg.contact_id)
        assert contact is not None and contact.state == "queued" and msg.raw == raw

        await ccari.start()
        secrets = __import__("json").loads((email_pbx_env.state_dir / "demo-secrets.json").read_text())
        bob = await open_agent_page(f"http://127.0.0.1:{ccari.port}", "acme", "bob",
                                    secrets["acme.bob.web"])
        try:
            await bob.presence("ready")
            while True:
                offer = await bob.ws.receive_json(timeout=20)
                if offer.get("type") == "offer":
                    break
            assert offer["contact"]["id"] == contact.id
            assert offer["contact"]["medium"] == "email" and offer["contact"]["subject"] == "Router blinks"
        finally:
            await bob.close()
        # The acknowledgement was saved before the 250 too: it goes out (before or after).
        ack = await sink.wait_for(lambda m: m["In-Reply-To"] == "<kill@customer.test>", 20, "ack")
        assert ack.rcpt_tos == ["ada@example.com"]
    finally:
        await ccari.stop()
        await engine.dispose()
