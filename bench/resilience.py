"""The fault matrix: ccari under a bounded load while its dependencies break, one at a time.

What runs
---------
One Asterisk 22 (managed: ccari starts it and restarts it if it dies), ccari as a process of
its own (``python -m ccari run --no-demo --keep-pbx``), agent phones (one SIPp UAS that
answers at once and hangs up after ``--hold`` s, logging the ``X-Ccari-Leg`` id of every
INVITE) and, for each fault, one phase of load:

* a SIPp carrier caller (tests/sipp/bench_caller.xml) offering ``--rate`` calls/s (default
  20: a quarter of what bench.voice measured ccari to sustain, so that a 2-core box copes)
  to a number that queues straight to the agents, each caller from a number of the phase;
* web traffic: ``--web-rate`` callback requests/s through the public API
  (``POST /v1/callbacks``, for a time a week ahead: stored, not dialled), each from a number
  of its own; a 200/201 with an id is an acknowledgement.

Four seconds into the phase the fault is injected; the calls go on until ``--after`` s after
the dependency is back.  The faults:

``ccari-kill``     ``kill -9`` of ccari, started again at once (its restart is in the outage);
``asterisk-kill``  ``kill -9`` of Asterisk; ccari restarts it itself (the supervised PBX);
``ari-cut``        ccari reaches Asterisk's HTTP and AMI ports through a TCP proxy of the
                   bench (ccari's ``pbx.host`` is 127.0.0.9, Asterisk listens on
                   127.0.0.1); the cut resets both sides of every ARI connection and refuses
                   new ones for ``--outage`` s (AMI stays up);
``postgres-stop``  ccari on PostgreSQL (the whole run, with ``--db postgres``, the default
                   when the server binaries are installed): ``pg_ctl stop -m immediate``,
                   started again after ``--outage`` s;
``disk-full``      ccari's recordings directory is a small tmpfs of its own; the tenant's
                   recording policy is ``all`` for this phase and the tmpfs is filled to the
                   last byte for ``--outage`` s, then the filler is deleted;
``smtp-down``      the outbox (ccari.email.outbound) against a real SMTP relay of the bench
                   that is gone for an hour of a simulated clock: see bench/_mail_outage.py.

Each phase is judged from outside, after every contact of the phase has ended:

* callers: *served* (answered, and the agent hung up after the hold), *fallback* (refused
  with a final 4xx/5xx, e.g. the dialplan's announcement then 486 while no ccari is
  there), *failed* (anything else: answered then dropped, no BYE, or no final answer);
* ``lost_contacts``: callers ccari answered (200) with no contact in the database, plus
  contacts of the phase never ended;
* ``lost_acks``: callback requests acknowledged and not in the database after recovery;
* ``double_dials``: agent leg ids the phones got more than one INVITE for;
* ``recover_s``: from the dependency back (the kill, for the kills) to the first offered call
  from which every later call of the phase was served.

Last line: ``faults=… lost_contacts=… lost_acks=… double_dials=… max_recover_s=…``.

Figures, ``disk-full`` (2-core box shared with other work, 30 s outage, 2 web requests/s):

* before the backlog was paced (each file kept while holding a database session, across the
  fetch from Asterisk and the fsync, the backlog back to back), PostgreSQL, 20 calls/s:
  served=980 fallback=0 failed=0, recordings stored=980 not_stored=0, 5 store failures
  counted.  That run was clean; on SQLite (one connection) every call's write waited behind
  a file on its way, which tests/recording/test_backlog.py shows (a call's write held up
  for as long as the fetch or the write takes);
* after (no session held during a fetch or a write, the backlog one file at a time, at least
  50 ms apart and at most 2 MB/s), SQLite, 10 calls/s: served=490 fallback=0 failed=0,
  lost_contacts=0 lost_acks=0 double_dials=0 recover_s=0.1, recordings stored=490
  not_stored=0, 3 store failures counted.

    python -m bench.resilience               # every fault, 30 s outages (about 6 min)
    python -m bench.resilience --quick       # CI form: 5 faults, 6 s outages, SQLite (2 min)
    python -m bench.resilience --only ari-cut,disk-full
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import logging
import math
import os
import re
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select, update

from bench import _mail_outage
from bench._faults import CcariProcess, Postgres, SmallDisk, TcpProxy
from bench._outcome import Outcome, summary
from bench._voice_load import LOG, Call, parse_calls
from bench._world import PROXY_HOST, World, agent_phones, callers, config, seed, web_load
from ccari.callbacks.models import Callback
from ccari.pbx import PbxError, provision, rx, stop
from ccari.pbx.instance import instance_paths, pid_of
from ccari.recording.models import Recording
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact, Tenant
from tests.support.sipp import free_port
from tests.support.waits import eventually

FINAL = frozenset({"completed", "abandoned", "rejected", "failed"})
FAULTS = ("ccari-kill", "asterisk-kill", "ari-cut", "postgres-stop", "disk-full", "smtp-down")
QUICK = ("ccari-kill", "asterisk-kill", "ari-cut", "disk-full", "smtp-down")
PRE_S = 4.0  # calls before the fault


# ---- the faults: each injects, waits out its outage, and returns when the dependency was back ---
Fault = Callable[[World, float], Awaitable[float]]


async def ccari_kill(w: World, outage_s: float) -> float:
    at = time.time()
    await w.ccari.kill()
    await w.ccari.start()
    return at


async def asterisk_kill(w: World, outage_s: float) -> float:
    pid = await asyncio.to_thread(lambda: pid_of(instance_paths(w.cfg.pbx.instance, provision())))
    assert pid is not None, "Asterisk is not running"
    at = time.time()
    os.kill(pid, signal.SIGKILL)
    return at


async def ari_cut(w: World, outage_s: float) -> float:
    await w.proxy.cut(w.cfg.pbx.ari_port)
    await asyncio.sleep(outage_s)
    await w.proxy.restore(w.cfg.pbx.ari_port)
    return time.time()


async def postgres_stop(w: World, outage_s: float) -> float:
    assert w.pg is not None
    await asyncio.to_thread(w.pg.stop)
    await asyncio.sleep(outage_s)
    await asyncio.to_thread(w.pg.start)
    return time.time()


async def disk_full(w: World, outage_s: float) -> float:
    assert w.disk is not None
    await asyncio.to_thread(w.disk.fill)
    await asyncio.sleep(outage_s)
    await asyncio.to_thread(w.disk.free)
    return time.time()


FAULT_OF: dict[str, Fault] = {"ccari-kill": ccari_kill, "asterisk-kill": asterisk_kill,
                              "ari-cut": ari_cut, "postgres-stop": postgres_stop,
                              "disk-full": disk_full}


# ---- one phase ----------------------------------------------------------------------------------
async def phase(w: World, name: str, n: int, args: argparse.Namespace) -> Outcome:
    outage = 0.0 if name.endswith("-kill") else args.outage
    seconds = PRE_S + outage + args.after
    prefix = f"2{n:02d}"  # the phase's callers: 2nn + SIPp's call number
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    failures_before = await w.ccari.metric("ccari_recordings_store_failures_total") or 0.0
    if name == "disk-full":
        await set_recording(w, {"mode": "all"})
    caller = callers(w, prefix, args.rate, seconds, args.hold)
    done = asyncio.Event()
    await caller.start()
    web = asyncio.ensure_future(web_load(w, args.web_rate, done))
    try:
        await asyncio.sleep(PRE_S)  # the fault's moment (timing of the load, not a wait)
        fault_at = time.time()
        back_at = await FAULT_OF[name](w, outage)
        result = await caller.wait()
    except BaseException:
        await caller.stop(2)
        raise
    finally:
        done.set()
        acks = await web
    if name == "disk-full":
        await set_recording(w, None)
    await drain(w)
    log = parse_calls(result.kept.get(LOG, ""))
    out = Outcome(name, calls=max(1, round(args.rate * seconds)))
    judge_calls(out, log, args.hold, back_at)
    out.lost_contacts = await lost_contacts(w, prefix, since, log)
    out.acked, out.not_acked = len(acks.acked), acks.not_acked
    out.server_errors = acks.server_errors
    out.lost_acks = await lost_acks(w, acks.acked)
    out.duplicates = double_dials(w)
    notes = []
    if acks.why:
        notes.append("web not acked: " + ", ".join(f"{k} x{n}" for k, n in acks.why.most_common()))
    served = {c.n for c in log if _served(c, args.hold)}
    unserved = sorted(c.t0 - fault_at for c in log if c.n not in served)
    if unserved:
        notes.append(f"not served offered {unserved[0]:+.1f}..{unserved[-1]:+.1f}s from the "
                     f"fault (back at {back_at - fault_at:+.1f}s)")
    kinds = collections.Counter("no BYE" if c.outcome == "abandon" else "BYE too soon"
                                for c in log if c.outcome != "refused" and c.n not in served)
    if out.calls > len(log):
        kinds["no final answer"] = out.calls - len(log)
    if kinds:
        notes.append("failed: " + ", ".join(f"{k} x{n}" for k, n in kinds.most_common()))
    codes = collections.Counter(c.code for c in log if c.outcome == "refused")
    if codes:
        notes.append("fallback: " + ", ".join(f"{k} x{n}" for k, n in sorted(codes.items())))
    if name == "disk-full":
        notes.append(await recordings_note(w, since, failures_before))
    out.note = "; ".join(notes)
    return out


def judge_calls(out: Outcome, log: list[Call], hold_s: float, back_at: float) -> None:
    served = {c.n for c in log if _served(c, hold_s)}
    out.served = len(served)
    out.fallback = sum(1 for c in log if c.outcome == "refused")
    out.failed = out.calls - out.served - out.fallback
    after = sorted((c for c in log if c.t0 >= back_at), key=lambda c: c.t0)
    ok_from = None
    for c in reversed(after):  # the earliest call from which every later one was served
        if c.n not in served:
            break
        ok_from = c.t0
    out.recover_s = ok_from - back_at if ok_from is not None else math.inf


def _served(c: Call, hold_s: float) -> bool:
    """Answered, and the agent hung up after (most of) the hold."""
    return c.outcome == "bye" and c.t2 is not None and c.t2 - c.t1 >= 0.8 * hold_s


async def lost_contacts(w: World, prefix: str, since: dt.datetime, log: list[Call]) -> int:
    """Callers ccari answered without a contact, and contacts of the phase never ended."""

    async def rows() -> tuple[list[Contact]] | None:
        async with w.sessions() as s:
            found = list(await s.scalars(select(Contact).where(
                Contact.medium == "voice", Contact.arrived_at >= since,
                Contact.caller_number.like(f"{prefix}%"))))
        return (found,) if all(c.state in FINAL for c in found) else None

    try:
        (contacts,) = await eventually(rows, 60, "every contact of the phase to end")
    except AssertionError:  # counted below: the contacts still open
        async with w.sessions() as s:
            contacts = list(await s.scalars(select(Contact).where(
                Contact.medium == "voice", Contact.arrived_at >= since,
                Contact.caller_number.like(f"{prefix}%"))))
    have = {c.caller_number for c in contacts}
    answered = {f"{prefix}{c.n}" for c in log if c.outcome in ("bye", "abandon")}
    return len(answered - have) + sum(1 for c in contacts if c.state not in FINAL)


async def lost_acks(w: World, acked: list[str]) -> int:
    found: set[str] = set()
    async with w.sessions() as s:
        for i in range(0, len(acked), 500):
            found |= set(await s.scalars(select(Callback.id).where(
                Callback.id.in_(acked[i:i + 500]))))
    return len(set(acked) - found)


def double_dials(w: World) -> int:
    """New agent legs dialled more than once (over the whole run, counted once)."""
    before = sum(1 for n in w.seen_legs.values() if n > 1)
    w.seen_legs = collections.Counter(
        line.split()[1] for line in w.legs_log.read_text().splitlines()
        if line.startswith("INVITE ") and len(line.split()) > 1)
    return sum(1 for n in w.seen_legs.values() if n > 1) - before


async def set_recording(w: World, doc: dict[str, str] | None) -> None:
    async with w.sessions() as s:
        await s.execute(update(Tenant).where(Tenant.id == w.tenant_id).values(recording=doc))
        await s.commit()


async def recordings_note(w: World, since: dt.datetime, failures_before: float) -> str:
    """Every recording of the phase stored once the space is back (written again by ccari)."""

    async def states() -> tuple[collections.Counter[str]]:
        async with w.sessions() as s:
            return (collections.Counter(await s.scalars(select(Recording.state).where(
                Recording.started_at >= since))),)

    async def all_stored() -> tuple[collections.Counter[str]] | None:
        got = await states()
        return got if set(got[0]) <= {"stored"} else None

    try:
        (got,) = await eventually(all_stored, 120, "every recording of the phase to be stored")
    except AssertionError:  # counted below: the recordings not stored
        (got,) = await states()
    failures = (await w.ccari.metric("ccari_recordings_store_failures_total") or 0.0)
    not_stored = sum(n for state, n in got.items() if state != "stored")
    return (f"recordings stored={got.get('stored', 0)} not_stored={not_stored} "
            f"store_failures_counted={failures - failures_before:.0f}")


async def drain(w: World, limit_s: float = 60.0) -> None:
    """Wait until Asterisk has no channel left (the phase's calls all ended)."""

    async def idle() -> bool:
        try:
            out = await asyncio.to_thread(rx, w.cfg.pbx.instance, "core show channels count")
        except PbxError:  # restarting: not idle yet
            return False
        m = re.search(r"(\d+) active channels?", out)
        return m is not None and m.group(1) == "0"

    try:
        await eventually(idle, limit_s, "Asterisk to have no channel left")
    except AssertionError:
        print(f"  note: channels still up {limit_s:.0f}s after the phase", flush=True)


# ---- the run ------------------------------------------------------------------------------------
async def main(args: argparse.Namespace) -> list[Outcome]:
    logging.basicConfig(level=logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="ccari-bench-resilience-"))
    outcomes: list[Outcome] = []
    if any(f != "smtp-down" for f in args.only):
        await under_load(args, tmp, outcomes)
    if "smtp-down" in args.only:  # ccari's outbox alone, on its simulated clock
        outcomes.append(await _mail_outage.run(tmp / "mail"))
        print(outcomes[-1].line(), flush=True)
    print(summary(outcomes), flush=True)
    return outcomes


async def under_load(args: argparse.Namespace, tmp: Path, outcomes: list[Outcome]) -> None:
    """The faults of ccari's world, one phase each, added to ``outcomes`` as they end."""
    pg = Postgres() if args.db == "postgres" else None
    if pg is not None:
        await asyncio.to_thread(pg.init)
    url = pg.url if pg is not None else f"sqlite+aiosqlite:///{tmp}/ccari.db"
    cfg = config(tmp, url)
    uas_port = free_port("127.0.0.1")
    tenant_id = await seed(url, uas_port, args.agents)
    disk = None
    if "disk-full" in args.only:
        disk = SmallDisk(cfg.state_path / "recordings", args.disk_kb)
        disk.mount()
    proxy = TcpProxy(PROXY_HOST, (cfg.pbx.ari_port, cfg.pbx.ami_port))
    await proxy.start()
    # The web load comes from one address and one tenant: above the toll-fraud limits.
    ccari = CcariProcess(cfg, {"CCARI_CALLBACKS_IP_BURST": "1000000",
                               "CCARI_CALLBACKS_TENANT_EVERY_S": "0.05",
                               "CCARI_VOICE_WRAP_UP_S": "0",
                               "CCARI_VOICE_ANNOUNCE_EVERY_S": "60",
                               # What is measured is the faults, not overload control
                               # (bench.voice): on a shared 2-core box its gate would turn
                               # callers away whenever other work slows the writes.
                               "CCARI_VOICE_OVERLOAD_DELAY_MS": "0"})
    engine = make_engine(url)
    legs_log = tmp / "legs.log"
    w = World(cfg, ccari, proxy, make_sessionmaker(engine), legs_log, tenant_id, disk, pg)
    print(f"resilience: {args.rate} calls/s, {args.web_rate} web requests/s, "
          f"outages {args.outage:g}s, {args.agents} agent phones, database "
          f"{'PostgreSQL' if pg else 'SQLite'}; files in {tmp}", flush=True)
    try:
        async with agent_phones(uas_port, args.hold, legs_log, 3600):
            await ccari.start()
            for n, name in enumerate(f for f in FAULTS if f in args.only and f != "smtp-down"):
                out = await phase(w, name, n, args)
                outcomes.append(out)
                print(out.line(), flush=True)
    finally:
        await ccari.stop()
        await proxy.close()
        await asyncio.to_thread(stop, cfg.pbx.instance, runtime=provision())
        await engine.dispose()
        if disk is not None:
            disk.unmount()
        if pg is not None:
            await asyncio.to_thread(pg.destroy)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.resilience", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="the CI form: " + ", ".join(QUICK) + "; 10 calls/s, 6 s outages, SQLite")
    p.add_argument("--only", default=",".join(FAULTS), help="faults to inject, comma-separated")
    p.add_argument("--rate", type=int, default=20, help="calls/s offered (bench.voice: ~80/s)")
    p.add_argument("--web-rate", type=float, default=2.0, help="callback requests/s")
    p.add_argument("--outage", type=float, default=30.0, help="seconds a dependency is away")
    p.add_argument("--after", type=float, default=15.0, help="seconds of calls after it is back")
    p.add_argument("--hold", type=float, default=2.0, help="seconds an agent keeps a call")
    p.add_argument("--agents", type=int, default=150, help="agent phones")
    p.add_argument("--disk-kb", type=int, default=65536, help="the recordings tmpfs' size")
    p.add_argument("--db", choices=("sqlite", "postgres"), default=None,
                   help="ccari's database (default: postgres if its binaries are installed)")
    args = p.parse_args(argv)
    if args.quick:
        if args.only == ",".join(FAULTS):
            args.only = ",".join(QUICK)
        args.rate, args.outage, args.after = 10, 6.0, 10.0
        args.agents, args.disk_kb = 80, 16384
        args.db = args.db or "sqlite"
    only = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(only) - set(FAULTS)
    if unknown:
        p.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    if args.db is None:
        args.db = "postgres" if _has_postgres() else "sqlite"
    if args.db == "sqlite" and "postgres-stop" in only:
        print("note: postgres-stop needs --db postgres (PostgreSQL's binaries): skipped")
        only.remove("postgres-stop")
    if "disk-full" in only and os.geteuid() != 0:
        print("note: disk-full mounts a tmpfs (root only): skipped")
        only.remove("disk-full")
    args.only = tuple(only)
    return args


def _has_postgres() -> bool:
    import glob

    return bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


if __name__ == "__main__":
    asyncio.run(main(parse()))
