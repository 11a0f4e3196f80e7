"""What the browser-phone tests share: an Asterisk instance of their own where alice answers
calls in her browser (her agent row says so, and whatever else a test gives her, e.g. a video
slot), and ccari on it, checked at the end for channels or bridges left behind."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ccari.app import Runtime, runtime
from ccari.config import Config, PbxConfig
from ccari.pbx import PbxProcess
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Agent
from tests.support.pbx import start_from_db
from tests.support.sipp import free_port
from tests.support.waits import eventually
from tests.voice.conftest import CARRIER_IP, PHONE_IP, PHONES, VoiceEnv, pbx_counts, prepare_db

DEAD_CALL_S = 4  # a page gone without a BYE: its call ends this soon


async def prepare(env: VoiceEnv, url: str, **alice: Any) -> Config:
    """The demo database, alice answering calls in her browser (and ``alice``'s values)."""
    cfg = await prepare_db(env, url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            await s.execute(update(Agent).where(Agent.phone_username == "acme-alice").values(
                device="browser", phone_contact=None, **alice))
            await s.commit()
    finally:
        await engine.dispose()
    return cfg


def browser_pbx(name: str, factory: pytest.TempPathFactory, *, dead_call_s: int = DEAD_CALL_S,
                **alice: Any) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    """An Asterisk of the test module's own, rendered from such a database."""
    name = f"{name}{os.getpid()}"
    config = PbxConfig(
        instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
        ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        rtp_start=12000, rtp_end=19998, carrier_match=(CARRIER_IP,),
        agent_qualify_s=3,  # the queue learns soon that alice's page registered
        dead_call_s=dead_call_s,
    )
    env = VoiceEnv(factory.mktemp(f"{name}-state"), {p: free_port(PHONE_IP) for p in PHONES},
                   config)
    url = f"sqlite+aiosqlite:///{factory.mktemp(f'{name}-db')}/spec.db"
    proc = start_from_db(lambda: prepare(env, url, **alice))
    yield env, proc
    proc.stop()


async def browser_ccari(found: tuple[VoiceEnv, PbxProcess], tmp_path: Path,
                        **alice: Any) -> AsyncIterator[Runtime]:
    """ccari on that Asterisk; afterwards nothing may be left in it."""
    env, proc = found
    cfg = await prepare(env, f"sqlite+aiosqlite:///{tmp_path}/ccari.db", **alice)
    async with runtime(cfg) as rt:
        yield rt

    async def clean() -> bool:
        return await asyncio.to_thread(pbx_counts, proc) == (0, 0)

    try:
        await eventually(clean, 15, "Asterisk to have no channel and no bridge left")
    except AssertionError:
        proc.rx("channel request hangup all")
        raise
