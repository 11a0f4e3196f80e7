"""kill -9 of ccari while calls keep coming (real Asterisk, an instance of its own).

A carrier offers 10 calls/s for 5 s (about half what ccari sustains on a slow box) to a
number whose calls go straight to the queue; 60 agent phones (one SIPp UAS) answer at once.
Two seconds in, ccari is killed with SIGKILL and started again.  Then:

* no accepted contact is lost: every call Asterisk handed to ccari has a contact, and every
  contact has ended (none is left open);
* no agent leg is dialled twice: each INVITE the phones got carries its leg's stable id
  (X-Ccari-Leg), and no id comes twice;
* every caller still up after the restart is served: each contact was connected to an
  agent, and each caller either talked to an agent or was refused (486, the dialplan's
  fallback while no ccari was there) — no caller failed otherwise.
"""

from __future__ import annotations

import collections
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from ccari.admission.models import TrunkPool
from ccari.app import with_secrets
from ccari.config import Config, DatabaseConfig, PbxConfig, VoiceConfig
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Contact, Number, Queue, Tenant
from tests.support.pbx import add_phone_agents, start_from_db
from tests.support.sipp import Sipp, free_port, free_tcp_port
from tests.support.waits import eventually
from tests.voice.conftest import CARRIER_IP, PHONE_IP
from tests.voice.test_restart import CcariProcess

pytestmark = pytest.mark.pbx

DID = "15550300"
AGENTS = 60
RATE, SECONDS, HOLD_MS = 10, 5, 6000


async def _seed(cfg: Config, uas_port: int) -> None:
    await upgrade_async(cfg.database.url)
    engine = make_engine(cfg.database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            tenant = Tenant(slug="load", name="Load", trunk_ratio=10, after_hours_trunks=1000)
            s.add(tenant)
            await s.flush()
            queue = Queue(tenant_id=tenant.id, name="main", ring_timeout_s=10, wrap_up_s=0,
                          announce_every_s=60)
            s.add(queue)
            await s.flush()
            s.add(Number(tenant_id=tenant.id, did=DID, queue_id=queue.id))
            pool = await s.get(TrunkPool, 1)
            assert pool is not None
            pool.total_trunks = 10_000
            add_phone_agents(s, tenant.id, AGENTS, prefix="load", phone_host=PHONE_IP,
                             phone_port=uas_port)
            await s.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def uas_port() -> int:
    return free_port(PHONE_IP)


@pytest.fixture(scope="module")
def load_cfg(tmp_path_factory: pytest.TempPathFactory, uas_port: int) -> Iterator[Config]:
    name = f"load{os.getpid()}"
    tmp = tmp_path_factory.mktemp("load")
    pbx = PbxConfig(instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
                    ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
                    ami_port=free_port("127.0.0.1", socket.SOCK_STREAM), rtp_start=20000,
                    rtp_end=29998, carrier_match=(CARRIER_IP,), agent_qualify_s=0)
    base = Config(state_dir=str(tmp / "var"), admin_token="load-admin")
    cfg = with_secrets(replace(base, pbx=pbx, web=replace(base.web, secret_key="load-secret"),
                               database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp}/ccari.db"),
                               voice=VoiceConfig(wrap_up_s=0),
                               smtp=replace(base.smtp, intake_port=0)))

    async def prepare() -> Config:
        await _seed(cfg, uas_port)
        return cfg

    proc = start_from_db(prepare)
    yield cfg
    proc.stop()


@pytest.fixture
async def ccari_proc(load_cfg: Config) -> AsyncIterator[CcariProcess]:
    proc = CcariProcess(load_cfg, free_tcp_port())
    # What is measured here is the restart, not overload control: on a busy box the
    # restarted process, catching up, must not turn the new calls away.
    proc.env["CCARI_VOICE_OVERLOAD_DELAY_MS"] = "0"
    yield proc
    await proc.stop()


async def test_kill_9_under_load_loses_nothing_and_dials_no_leg_twice(
        load_cfg: Config, ccari_proc: CcariProcess, uas_port: int, tmp_path: Path) -> None:
    legs_log = tmp_path / "legs.log"
    engine = make_engine(load_cfg.database.url)
    sessions = make_sessionmaker(engine)
    target = f"127.0.0.1:{load_cfg.pbx.sip_port}"
    try:
        async with Sipp("agent_uas.xml", local_ip=PHONE_IP, local_port=uas_port, calls=None,
                        params={"agent": "load", "answer_after_ms": 0, "hangup_after_ms": 0},
                        extra_args=["-trace_logs", "-log_file", str(legs_log)],
                        timeout_s=120) as phones:
            await ccari_proc.start()
            callers = Sipp("caller_admit.xml", target, service=DID, local_ip=CARRIER_IP,
                           calls=RATE * SECONDS, rate=RATE, max_concurrent=RATE * SECONDS,
                           params={"hold_ms": HOLD_MS}, timeout_s=90, recv_timeout_ms=30000)
            await callers.start()

            async def some_connected() -> bool:
                async with sessions() as s:
                    rows = await s.scalars(select(Contact).where(Contact.connected_at.is_not(None)))
                    return len(list(rows)) >= RATE

            await eventually(some_connected, 20, "the first calls to reach agents")
            await ccari_proc.kill()
            await ccari_proc.start()
            result = await callers.wait()

            async def all_ended() -> list[Contact] | None:
                async with sessions() as s:
                    rows = list(await s.scalars(select(Contact)))
                return rows if rows and all(c.state in ("completed", "abandoned") for c in rows) \
                    else None

            contacts = await eventually(all_ended, 60, "every contact to end")
            await phones.stop()
        # Every caller was served or refused while ccari was down: nothing else failed.
        assert result.failed == 0, result.describe()
        refused = result.responses.get(486, 0)
        answered = RATE * SECONDS - refused
        # No accepted contact lost: one contact per call ccari answered, each one served.
        assert len(contacts) == answered
        unserved = [(c.state, c.disposition) for c in contacts if c.connected_at is None]
        assert unserved == []
        # No agent leg dialled twice.
        legs = [line.split()[1] for line in legs_log.read_text().splitlines()
                if line.startswith("INVITE ") and len(line.split()) > 1]
        assert legs, "the phones logged no leg ids"
        twice = [leg for leg, n in collections.Counter(legs).items() if n > 1]
        assert twice == []
        assert len(legs) <= sum(c.offer_count for c in contacts)
    finally:
        await engine.dispose()
