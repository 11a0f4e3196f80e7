"""bench.resilience's world: the seeded tenant, ccari's config, and the load (SIPp callers,
callback requests through the public API)."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench._faults import CcariProcess, Postgres, SmallDisk, TcpProxy
from bench._voice_load import BUFFER, CALLER_IP, LOG
from ccari.admission.models import TrunkPool
from ccari.app import with_secrets
from ccari.callbacks import repo as callbacks_repo
from ccari.config import Config, DatabaseConfig, PbxConfig
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Number, Queue, Tenant
from tests.support.pbx import add_phone_agents
from tests.support.sipp import Sipp, free_port, free_tcp_port

DID = "19990500"
PROXY_HOST = "127.0.0.9"  # ccari's pbx.host: the bench's proxy in front of Asterisk


@dataclass
class World:
    cfg: Config
    ccari: CcariProcess
    proxy: TcpProxy
    sessions: async_sessionmaker[AsyncSession]
    legs_log: Path
    tenant_id: int
    disk: SmallDisk | None
    pg: Postgres | None
    seen_legs: collections.Counter[str] = field(default_factory=collections.Counter)
    numbers: int = 0  # callback numbers used so far


# ---- the world --------------------------------------------------------------------------------
async def seed(url: str, uas_port: int, agents: int) -> int:
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            tenant = Tenant(slug="res", name="Resilience", trunk_ratio=10,
                            after_hours_trunks=100_000)
            s.add(tenant)
            await s.flush()
            queue = Queue(tenant_id=tenant.id, name="main", ring_timeout_s=10, wrap_up_s=0,
                          announce_every_s=60)
            s.add(queue)
            await s.flush()
            s.add(Number(tenant_id=tenant.id, did=DID, queue_id=queue.id))
            pool = await s.get(TrunkPool, 1)
            assert pool is not None
            pool.total_trunks = 100_000
            add_phone_agents(s, tenant.id, agents, prefix="res", phone_host="127.0.0.1",
                             phone_port=uas_port)
            settings = callbacks_repo.defaults(tenant.id)
            settings.allow = ["+44"]
            s.add(settings)
            await s.commit()
            return tenant.id
    finally:
        await engine.dispose()


def config(tmp: Path, db_url: str) -> Config:
    name = f"res{os.getpid()}"
    pbx = PbxConfig(instance=name, app_name=f"ccari-{name}", host=PROXY_HOST,
                    sip_port=free_port("127.0.0.1"),
                    ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
                    ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
                    rtp_start=20000, rtp_end=29998, carrier_match=(CALLER_IP,),
                    agent_qualify_s=0)
    base = Config(state_dir=str(tmp / "var"), admin_token="resilience-admin")
    return with_secrets(replace(
        base, pbx=pbx, database=DatabaseConfig(url=db_url),
        web=replace(base.web, secret_key="resilience", internal_port=free_tcp_port(),
                    public_port=free_tcp_port()),
        smtp=replace(base.smtp, intake_port=0)))


# ---- load ---------------------------------------------------------------------------------------
@dataclass
class Web:
    acked: list[str] = field(default_factory=list)
    not_acked: int = 0
    # 5xx answers but the outage's own (503 database-unavailable with Retry-After): a bug
    server_errors: int = 0
    why: collections.Counter[str] = field(default_factory=collections.Counter)  # not acked


async def web_load(w: World, rate: float, done: asyncio.Event) -> Web:
    """Callback requests a week ahead, each from a number of its own, until ``done``."""
    out = Web()
    base = f"http://127.0.0.1:{w.cfg.web.public_port}"
    token: str | None = None
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while not done.is_set():
            try:
                if token is None:
                    async with http.post(f"{base}/v1/sessions", json={
                            "tenant": "res", "page_url": "https://res.example/help"}) as r:
                        body = await r.json(content_type=None)
                        token = body["token"] if r.status in (200, 201) else None
                        out.server_errors += _server_error(r.status, body, r.headers)
                if token is not None:
                    w.numbers += 1
                    async with http.post(
                            f"{base}/v1/callbacks",
                            json={"phone": f"+44207946{w.numbers:04d}", "when": when},
                            headers={"Authorization": f"Bearer {token}",
                                     "Idempotency-Key": uuid.uuid4().hex}) as r:
                        body = await r.json(content_type=None)
                        if r.status in (200, 201) and isinstance(body, dict) and body.get("id"):
                            out.acked.append(str(body["id"]))
                        else:
                            out.not_acked += 1
                            out.why[f"{r.status} {_error_id(body)}"] += 1
                            out.server_errors += _server_error(r.status, body, r.headers)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                out.not_acked += 1
                out.why[type(exc).__name__] += 1
            with_timeout = asyncio.ensure_future(done.wait())
            await asyncio.wait({with_timeout}, timeout=1 / rate)
            with_timeout.cancel()
    return out


def agent_phones(port: int, hold_s: float, log: Path, timeout_s: float) -> Sipp:
    """The agents' SIPp phones (one UAS answering every agent): each call answered at once,
    hung up after ``hold_s``; every leg logged to ``log``."""
    return Sipp("agent_uas.xml", local_ip="127.0.0.1", local_port=port, calls=None,
                params={"agent": "res", "answer_after_ms": 0,
                        "hangup_after_ms": int(hold_s * 1000)},
                extra_args=("-trace_logs", "-log_file", str(log), "-buff_size", str(BUFFER)),
                timeout_s=timeout_s)


def callers(w: World, prefix: str, rate: int, seconds: float, hold_s: float) -> Sipp:
    calls = max(1, round(rate * seconds))
    max_wait_ms = int((hold_s + 40) * 1000)  # a caller waits this long for the agent's BYE
    return Sipp("bench_caller.xml", f"127.0.0.1:{w.cfg.pbx.sip_port}", service=DID,
                local_ip=CALLER_IP, calls=calls, rate=rate,
                max_concurrent=max(50, int(rate * (hold_s + 45))),
                timeout_s=seconds + hold_s + 120, recv_timeout_ms=max_wait_ms + 5000,
                params={"caller_prefix": prefix, "digits": "1", "dtmf_after_ms": 200,
                        "max_wait_ms": max_wait_ms},
                extra_args=("-trace_logs", "-log_file", LOG, "-buff_size", str(BUFFER)),
                keep=(LOG,))


def _server_error(status: int, body: object, headers: Mapping[str, str]) -> int:
    outage = (status == 503 and _error_id(body) == "database-unavailable"
              and "Retry-After" in headers)
    return 1 if status >= 500 and not outage else 0


def _error_id(body: object) -> str:
    return str(body.get("error")) if isinstance(body, dict) else "?"
