"""The soak: ccari and its Asterisk under a steady mix of calls, chats and web requests for
a bounded time, their memory and file descriptors sampled, leaks counted at the end.

Time-compressed: the default run offers in 10 minutes the traffic of an hour of a center
taking one call a second (3,600 calls at 6/s, each talked 2 s by an agent phone), with a
customer chat every 2 s (opened, two messages, closed by the customer: nobody takes it) and
a callback request every 2 s (a week ahead: stored, not dialled), on the world of
bench.resilience (one managed Asterisk, ccari as a process of its own, SIPp agent phones and
a SIPp carrier, SQLite or ``--db postgres``).

The run: a warm-up (``--warmup`` s of the same mix), the calls drained, a first idle sample;
then the soak, sampled every ``--sample`` s (one line each); the calls drained, the last
idle sample.  Growth is last minus first idle sample (the same state, after the same kind of
traffic); leaks are what is still in Asterisk (channels, bridges) or held by ccari (database
connections) at the end beyond the first idle sample.  Last line::

    minutes=... rss_growth_mb=... fd_growth=... leaked_channels=... leaked_bridges=...
    leaked_db_connections=... ccari_rss_growth_mb=... asterisk_rss_growth_mb=...

(``rss_growth_mb`` and ``fd_growth``: the larger of ccari's and Asterisk's, idle to idle;
``ccari_rss_growth_mb`` / ``asterisk_rss_growth_mb``: each process's largest RSS over the
soak's second half minus its RSS as that half began, warm-up and first half excluded.)
The wallboard's window is 60 s here (900 s by default), compressed with the rest, so that
the contacts it tallies per quarter of an hour once they leave the window are folded within
the run.

``CCARI_TRACEMALLOC=<file>`` in the environment: ccari traces its allocations and appends
to that file, at each sample, what grew since the previous one (see ``ccari/heap.py``).

    python -m bench.soak                  # 10 minutes (do not run it beside other tests)
    python -m bench.soak --minutes 30     # past ccari's caches: they fill in ~17 minutes at
                                          # 6 calls/s, so the second half shows the flat line
    python -m bench.soak --quick          # the CI form: 30 s, 4 calls/s
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp

from bench._faults import CcariProcess, Postgres, TcpProxy
from bench._voice_load import LOG, parse_calls
from bench._world import PROXY_HOST, World, agent_phones, callers, config, seed, web_load
from bench.resilience import _served, drain, lost_acks
from ccari import heap
from ccari.pbx import provision, stop
from ccari.pbx.instance import instance_paths, pid_of
from ccari.storage.db import make_engine, make_sessionmaker
from tests.support.sipp import free_port


@dataclass(frozen=True)
class Sample:
    at_s: float
    ccari_rss_mb: float
    ccari_fds: int
    asterisk_rss_mb: float
    asterisk_fds: int
    channels: int
    bridges: int
    db_connections: int

    def line(self) -> str:
        return (f"t={self.at_s:6.0f}s ccari rss_mb={self.ccari_rss_mb:.1f} "
                f"fds={self.ccari_fds} db_connections={self.db_connections}; asterisk "
                f"rss_mb={self.asterisk_rss_mb:.1f} fds={self.asterisk_fds} "
                f"channels={self.channels} bridges={self.bridges}")


@dataclass
class Result:
    minutes: float
    first: Sample
    last: Sample
    calls: int = 0
    served: int = 0
    chats: collections.Counter[str] = field(default_factory=collections.Counter)
    acked: int = 0
    lost_acks: int = 0
    # the samples of the soak's second half (after the warm-up and the first half), the
    # last idle one included: memory growth is judged there, once the caches are warm
    second_half: list[Sample] = field(default_factory=list)

    @property
    def ccari_rss_growth_mb(self) -> float:
        """ccari's largest RSS in the second half minus its RSS as that half began."""
        return _growth([s.ccari_rss_mb for s in self.second_half])

    @property
    def asterisk_rss_growth_mb(self) -> float:
        return _growth([s.asterisk_rss_mb for s in self.second_half])

    @property
    def rss_growth_mb(self) -> float:
        return max(self.last.ccari_rss_mb - self.first.ccari_rss_mb,
                   self.last.asterisk_rss_mb - self.first.asterisk_rss_mb)

    @property
    def fd_growth(self) -> int:
        return max(self.last.ccari_fds - self.first.ccari_fds,
                   self.last.asterisk_fds - self.first.asterisk_fds)

    @property
    def leaked_channels(self) -> int:
        return max(0, self.last.channels - self.first.channels)

    @property
    def leaked_bridges(self) -> int:
        return max(0, self.last.bridges - self.first.bridges)

    @property
    def leaked_db_connections(self) -> int:
        return max(0, self.last.db_connections - self.first.db_connections)

    def line(self) -> str:
        return (f"minutes={self.minutes:.1f} rss_growth_mb={self.rss_growth_mb:.1f} "
                f"fd_growth={self.fd_growth} leaked_channels={self.leaked_channels} "
                f"leaked_bridges={self.leaked_bridges} "
                f"leaked_db_connections={self.leaked_db_connections} "
                f"ccari_rss_growth_mb={self.ccari_rss_growth_mb:.1f} "
                f"asterisk_rss_growth_mb={self.asterisk_rss_growth_mb:.1f}")


def _growth(values: list[float]) -> float:
    return max(values) - values[0] if values else 0.0


# ---- what is sampled ----------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sqlite_connections(pid: int, db: Path) -> int:
    """ccari's open handles on its SQLite file (one per pooled connection)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(db):
                count += 1
        except OSError:  # closed meanwhile
            continue
    return count


class Probe:
    def __init__(self, w: World, db: Path | None, started: float) -> None:
        self.w = w
        self.db = db
        self.started = started
        p = w.cfg.pbx
        self.ari = f"http://127.0.0.1:{p.ari_port}/ari"
        token = base64.b64encode(f"{p.ari_user}:{p.ari_password}".encode()).decode()
        self.auth = {"Authorization": f"Basic {token}"}

    async def _count(self, http: aiohttp.ClientSession, what: str) -> int:
        async with http.get(f"{self.ari}/{what}", headers=self.auth) as r:
            r.raise_for_status()
            return len(await r.json())

    async def _db_connections(self, ccari: int) -> int:
        if self.db is not None:
            return sqlite_connections(ccari, self.db)
        assert self.w.pg is not None
        import asyncpg

        conn = await asyncpg.connect(self.w.pg.url.replace("postgresql+asyncpg", "postgresql"))
        try:
            n = await conn.fetchval("SELECT count(*) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        finally:
            await conn.close()
        return int(n) - 1  # the bench's own engine keeps one

    async def sample(self) -> Sample:
        ccari = self.w.ccari.pid
        asterisk = await asyncio.to_thread(
            lambda: pid_of(instance_paths(self.w.cfg.pbx.instance, provision())))
        assert ccari is not None and asterisk is not None, "ccari or Asterisk is not running"
        if os.environ.get(heap.DUMP_ENV):  # ccari appends what grew since the last sample
            os.kill(ccari, signal.SIGUSR2)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            channels, bridges = await self._count(http, "channels"), await self._count(http, "bridges")
        return Sample(time.monotonic() - self.started, rss_mb(ccari), fds(ccari),
                      rss_mb(asterisk), fds(asterisk), channels, bridges,
                      await self._db_connections(ccari))


# ---- the chats ----------------------------------------------------------------------------------
async def chat_load(w: World, rate: float, done: asyncio.Event) -> collections.Counter[str]:
    """A chat every ``1/rate`` s: opened, two messages, closed by the customer; each from an
    address of its own (127.1.0.0/16: the public side limits sessions and chats per address)."""
    out: collections.Counter[str] = collections.Counter()
    base = f"http://127.0.0.1:{w.cfg.web.public_port}"
    n = 0
    while not done.is_set():
        n += 1
        source = (f"127.1.{n // 250 % 250}.{n % 250 + 1}", 0)
        try:
            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(local_addr=source),
                    timeout=aiohttp.ClientTimeout(total=10)) as http:
                out[await one_chat(http, base)] += 1
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            out[type(exc).__name__] += 1
        with_timeout = asyncio.ensure_future(done.wait())
        await asyncio.wait({with_timeout}, timeout=1 / rate)
        with_timeout.cancel()
    return out


async def one_chat(http: aiohttp.ClientSession, base: str) -> str:
    async with http.post(f"{base}/v1/sessions", json={
            "tenant": "res", "page_url": "https://res.example/help"}) as r:
        if r.status not in (200, 201):
            return f"session {r.status}"
        token = (await r.json())["token"]
    async with http.ws_connect(f"{base}/v1/chat/ws?token={token}") as ws:
        await ws.send_json({"type": "open", "page_url": "https://res.example/help"})
        for n in range(2):
            await ws.send_json({"type": "message", "body": f"hello {n}", "client_id": f"c{n}"})
        await ws.send_json({"type": "close"})
        echoed = 0
        while True:
            msg = await ws.receive_json(timeout=10)
            kind = msg.get("type")
            if kind == "error":
                return f"error {msg.get('error')}"
            echoed += kind == "message"
            if kind == "state" and msg.get("state") == "closed":
                return "ok" if echoed >= 2 else "closed before the echoes"


# ---- the run ------------------------------------------------------------------------------------
async def mixed(w: World, prefix: str, args: argparse.Namespace, seconds: float
                ) -> tuple[int, int, collections.Counter[str], list[str]]:
    """``seconds`` of calls, chats and callback requests; (offered, served, chats, acked)."""
    caller = callers(w, prefix, args.rate, seconds, args.hold)
    done = asyncio.Event()
    await caller.start()
    web = asyncio.ensure_future(web_load(w, args.web_rate, done))
    chats = asyncio.ensure_future(chat_load(w, args.chat_rate, done))
    try:
        result = await caller.wait()
    finally:
        done.set()
        acks, chatted = await web, await chats
    await drain(w)
    log = parse_calls(result.kept.get(LOG, ""))
    return (max(1, round(args.rate * seconds)), sum(1 for c in log if _served(c, args.hold)),
            chatted, acks.acked)


async def main(args: argparse.Namespace) -> Result:
    tmp = Path(tempfile.mkdtemp(prefix="ccari-bench-soak-"))
    pg = Postgres() if args.db == "postgres" else None
    if pg is not None:
        await asyncio.to_thread(pg.init)
    db = None if pg is not None else tmp / "ccari.db"
    url = pg.url if pg is not None else f"sqlite+aiosqlite:///{db}"
    base = config(tmp, url)
    cfg = replace(base, pbx=replace(base.pbx, host="127.0.0.1"))  # no proxy: no fault here
    uas_port = free_port("127.0.0.1")
    tenant_id = await seed(url, uas_port, args.agents)
    ccari = CcariProcess(cfg, {"CCARI_CALLBACKS_IP_BURST": "1000000",
                               "CCARI_CALLBACKS_TENANT_EVERY_S": "0.05",
                               "CCARI_VOICE_WRAP_UP_S": "0",
                               "CCARI_VOICE_ANNOUNCE_EVERY_S": "60",
                               "CCARI_VOICE_OVERLOAD_DELAY_MS": "0",
                               "CCARI_WALLBOARD_WINDOW_S": "60"})
    engine = make_engine(url)
    w = World(cfg, ccari, TcpProxy(PROXY_HOST, ()), make_sessionmaker(engine), tmp / "legs.log",
              tenant_id, None, pg)
    print(f"soak: {args.minutes:g} min, {args.rate} calls/s (hold {args.hold:g}s), "
          f"{args.chat_rate:g} chats/s, {args.web_rate:g} callback requests/s, database "
          f"{'PostgreSQL' if pg else 'SQLite'}; files in {tmp}", flush=True)
    try:
        async with agent_phones(uas_port, args.hold, w.legs_log, 4 * 3600):
            await ccari.start()
            return await soak(w, db, args)
    finally:
        await ccari.stop()
        await asyncio.to_thread(stop, cfg.pbx.instance, runtime=provision())
        await engine.dispose()
        if pg is not None:
            await asyncio.to_thread(pg.destroy)


async def soak(w: World, db: Path | None, args: argparse.Namespace) -> Result:
    started = time.monotonic()
    probe = Probe(w, db, started)
    await mixed(w, "31", args, args.warmup)
    first = await probe.sample()
    print("idle  " + first.line(), flush=True)
    seconds = args.minutes * 60
    load = asyncio.ensure_future(mixed(w, "32", args, seconds))
    half = time.monotonic() - started + seconds / 2
    second_half: list[Sample] = []
    while not load.done():
        await asyncio.wait({load}, timeout=args.sample)
        if not load.done():
            got = await probe.sample()
            print("load  " + got.line(), flush=True)
            if got.at_s >= half:
                second_half.append(got)
    calls, served, chats, acked = load.result()
    last = await settled(probe, first)
    print("idle  " + last.line(), flush=True)
    out = Result(args.minutes, first, last, calls, served, chats, len(acked),
                 second_half=[*second_half, last])
    out.lost_acks = await lost_acks(w, acked)
    print(f"calls offered={calls} served={served}; chats "
          + ", ".join(f"{k}={n}" for k, n in chats.most_common())
          + f"; callback requests acked={out.acked} lost={out.lost_acks}", flush=True)
    print(out.line(), flush=True)
    return out


async def settled(probe: Probe, first: Sample, limit_s: float = 30.0) -> Sample:
    """The last idle sample, once Asterisk has let go of what the calls left (bridges are
    destroyed after their channels): leaks are what is still there after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        got = await probe.sample()
        if (got.channels <= first.channels and got.bridges <= first.bridges) \
                or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.5)  # polling Asterisk's state, not a synchronisation


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the CI form: 30 s at 4 calls/s")
    p.add_argument("--minutes", type=float, default=10.0, help="the soak's length (at most 60)")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds of load before it")
    p.add_argument("--rate", type=int, default=6, help="calls/s offered")
    p.add_argument("--hold", type=float, default=2.0, help="seconds an agent keeps a call")
    p.add_argument("--chat-rate", type=float, default=0.5, help="chats/s")
    p.add_argument("--web-rate", type=float, default=0.5, help="callback requests/s")
    p.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--agents", type=int, default=60, help="agent phones")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.warmup, args.rate, args.sample = 0.5, 5.0, 4, 5.0
        args.chat_rate = args.web_rate = 1.0
        args.agents = 30
    if not 0 < args.minutes <= 60:
        p.error("--minutes: more than 0, at most 60")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
