"""A real Asterisk ("voice" instance) configured from the demo database, and ccari on it.

One Asterisk per session: its PJSIP/dialplan come from ``ccari.tenants.pbx.build_spec`` on a
seeded demo database, with each agent phone given a static contact on a SIPp UAS port.
Each test gets a fresh database (same demo secrets, so the PBX config stays valid) and its
own ccari runtime; at the end the test fails if Asterisk still has a channel or a bridge.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from ccari.app import Runtime, runtime, with_secrets
from ccari.config import Config, DatabaseConfig, PbxConfig, VoiceConfig
from ccari.demo.seed import seed
from ccari.pbx import PbxProcess
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from tests.support.pbx import start_from_db
from tests.support.sipp import free_port
from tests.support.waits import eventually

CARRIER_IP = "127.0.0.2"
PHONE_IP = "127.0.0.1"
PHONES = ("acme-alice", "acme-bob", "acme-sam", "globex-carol")


@dataclass(frozen=True)
class VoiceEnv:
    state_dir: Path
    phone_ports: dict[str, int]
    pbx_config: PbxConfig

    @property
    def sip_target(self) -> str:
        return f"127.0.0.1:{self.pbx_config.sip_port}"

    def contacts(self) -> dict[str, str]:
        return {p: f"sip:{p}@{PHONE_IP}:{port}" for p, port in self.phone_ports.items()}

    def config(self, db_url: str) -> Config:
        base = Config(state_dir=str(self.state_dir), admin_token="voice-admin-token")
        cfg = replace(
            base,
            database=DatabaseConfig(url=db_url),
            web=replace(base.web, secret_key="voice-test-secret"),
            pbx=self.pbx_config,
            # Overload control off: these tests are about calls, and a box loaded by other
            # work must not make ccari turn their callers away (test_overload.py turns it on).
            voice=VoiceConfig(ivr_timeout_s=3.0, announce_every_s=20.0, overload_delay_ms=0),
            smtp=replace(base.smtp, intake_port=0),  # off unless a test turns it on
        )
        return with_secrets(cfg)


async def prepare_db(env: VoiceEnv, url: str) -> Config:
    await upgrade_async(url)
    cfg = env.config(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            await seed(s, cfg, phone_contacts=env.contacts())
            await s.commit()
    finally:
        await engine.dispose()
    return cfg


@pytest.fixture(scope="session")
def voice_env(tmp_path_factory: pytest.TempPathFactory) -> VoiceEnv:
    # One instance per test session: several test runs may share this machine.
    name = f"voice{os.getpid()}"
    pbx_config = PbxConfig(
        instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
        ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        rtp_start=12000, rtp_end=19998, carrier_match=(CARRIER_IP,),  # below ephemeral ports
        # The SIPp phones of these tests only run while a test needs them (and do not answer
        # OPTIONS): no qualify here, so they count as reachable (tests/voice/test_dead_calls.py
        # has its own instance with qualify on).
        agent_qualify_s=0,
    )
    return VoiceEnv(tmp_path_factory.mktemp("voice-state"),
                    {p: free_port(PHONE_IP) for p in PHONES}, pbx_config)


@pytest.fixture(scope="session")
def voice_pbx(voice_env: VoiceEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PbxProcess]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('voice-db')}/spec.db"
    proc = start_from_db(lambda: prepare_db(voice_env, url))
    yield proc
    proc.stop()


def pbx_counts(pbx: PbxProcess) -> tuple[int, int]:
    channels = bridges = 0
    for line in pbx.rx("core show channels count").splitlines():
        if "active channel" in line:
            channels = int(line.split()[0])
    out = pbx.rx("bridge show all")
    for line in out.splitlines():
        if line.startswith("Bridge-ID") or not line.strip() or line.startswith("There are"):
            continue
        bridges += 1
    return channels, bridges




@pytest.fixture
async def voice_cfg(voice_env: VoiceEnv, voice_pbx: PbxProcess, tmp_path: Path) -> AsyncIterator[Config]:
    cfg = await prepare_db(voice_env, f"sqlite+aiosqlite:///{tmp_path}/ccari.db")
    yield cfg

    async def clean() -> bool:
        return await asyncio.to_thread(pbx_counts, voice_pbx) == (0, 0)

    try:
        await eventually(clean, 15, "Asterisk to have no channel and no bridge left")
    except AssertionError:
        voice_pbx.rx("channel request hangup all")
        raise


@pytest.fixture
async def ccari(voice_cfg: Config) -> AsyncIterator[Runtime]:
    async with runtime(voice_cfg) as rt:
        yield rt
