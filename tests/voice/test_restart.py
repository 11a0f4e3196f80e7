"""Kill -9 ccari while a caller waits: Asterisk keeps the caller, new calls get the dialplan
fallback, and the restarted ccari reconciles and delivers the waiting caller to an agent."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from ccari.config import Config
from ccari.pbx import PbxProcess
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact
from tests.support.agent_web import open_agent_page
from tests.support.secret_watch import WATCH as SECRETS
from tests.support.sipp import Sipp, free_tcp_port, run_sipp
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually

pytestmark = pytest.mark.pbx


class CcariProcess:
    """``python -m ccari serve`` as a separate process, configured by environment."""

    def __init__(self, cfg: Config, port: int) -> None:
        p = cfg.pbx
        self.port = port
        self.env = {
            **os.environ,
            "CCARI_STATE_DIR": cfg.state_dir, "CCARI_DATABASE_URL": cfg.database.url,
            "CCARI_ADMIN_TOKEN": cfg.admin_token, "CCARI_WEB_SECRET_KEY": cfg.web.secret_key,
            "CCARI_WEB_INTERNAL_PORT": str(port), "CCARI_WEB_PUBLIC_PORT": str(free_tcp_port()),
            "CCARI_PBX_INSTANCE": p.instance, "CCARI_PBX_APP_NAME": p.app_name,
            "CCARI_PBX_SIP_PORT": str(p.sip_port), "CCARI_PBX_ARI_PORT": str(p.ari_port),
            "CCARI_PBX_AMI_PORT": str(p.ami_port), "CCARI_PBX_ARI_USER": p.ari_user,
            "CCARI_PBX_ARI_PASSWORD": p.ari_password, "CCARI_VOICE_IVR_TIMEOUT_S": "3",
            "CCARI_SMTP_INTAKE_PORT": str(cfg.smtp.intake_port),
        }
        self.proc: asyncio.subprocess.Process | None = None
        # Its log goes to a file: a pipe nobody reads would block ccari once it is full.
        self.log = Path(cfg.state_dir) / "ccari-process.log"
        SECRETS.add_config(cfg)  # and its log is read for them (tests/support/secret_watch.py)
        SECRETS.watch_file(self.log)

    async def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ccari", "serve", env=self.env,
                stdout=asyncio.subprocess.DEVNULL, stderr=log)

        async def healthy() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"ccari exited: {self.log.read_text()[-2000:]}")
            try:
                async with aiohttp.ClientSession() as s, s.get(
                        f"http://127.0.0.1:{self.port}/healthz", timeout=aiohttp.ClientTimeout(1)) as r:
                    return r.status == 200
            except (aiohttp.ClientError, TimeoutError):  # not serving yet, or still starting
                return False

        await eventually(healthy, 30, "ccari to serve")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)


@pytest.fixture
async def ccari_proc(voice_cfg: Config) -> AsyncIterator[CcariProcess]:
    proc = CcariProcess(voice_cfg, free_tcp_port())
    yield proc
    await proc.stop()


async def test_kill_9_while_caller_queued_then_restart_delivers_the_caller(
    voice_cfg: Config, voice_env: VoiceEnv, voice_pbx: PbxProcess, ccari_proc: CcariProcess
) -> None:
    engine = make_engine(voice_cfg.database.url)
    sessions = make_sessionmaker(engine)

    async def contact_in(state: str) -> Contact | None:
        async with sessions() as s:
            rows = list(await s.scalars(select(Contact).where(Contact.caller_number == "15551230001")))
        return rows[0] if len(rows) == 1 and rows[0].state == state else None

    try:
        await ccari_proc.start()
        caller = Sipp("caller_dtmf.xml", voice_env.sip_target, service="15550100", local_ip=CARRIER_IP,
                      params={"digits": "1", "hangup_after_ms": 0}, timeout_s=90, recv_timeout_ms=80000)
        await caller.start()
        queued = await eventually(lambda: contact_in("queued"), what="the caller to be queued")

        await ccari_proc.kill()
        # Asterisk keeps the caller in Stasis (with music on hold) while ccari is gone.
        channels = await asyncio.to_thread(voice_pbx.rx, "core show channels concise")
        assert queued.channel_id in channels
        # A call arriving now gets the dialplan fallback: an announcement, then busy.
        busy = await run_sipp("caller_busy.xml", voice_env.sip_target, service="15550100",
                              local_ip=CARRIER_IP, params={"caller": "15551239999"},
                              recv_timeout_ms=15000, timeout_s=30)
        assert busy.ok, busy.describe()
        assert busy.responses.get(183) == 1 and busy.responses.get(486) == 1

        async with Sipp("agent_uas.xml", local_ip=PHONE_IP,
                        local_port=voice_env.phone_ports["acme-alice"], calls=None,
                        params={"agent": "acme-alice", "hangup_after_ms": 2000}) as alice_phone:
            await ccari_proc.start()
            secrets = __import__("json").loads((voice_env.state_dir / "demo-secrets.json").read_text())
            page = await open_agent_page(f"http://127.0.0.1:{ccari_proc.port}", "acme", "alice",
                                         secrets["acme.alice.web"])
            try:
                assert (await page.presence("ready"))["state"] in ("ready", "reserved")
                done = await eventually(lambda: contact_in("completed"), 30, "the caller to be served")
            finally:
                await page.close()
            result = await caller.wait()
        assert result.ok, result.describe()
        assert (await alice_phone.result()).requests.get("INVITE") == 1
        assert done.id == queued.id and done.disposition == "agent-hangup"
        assert done.wait_s > 1 and done.talk_s >= 1.5
    finally:
        await engine.dispose()
