"""Failover of a ccari cluster under a carrier's load (``python -m bench.cluster``).

The topology of the issue's proof, on this machine, every part real: PostgreSQL, Kamailio (the
SIP edge) in front of two Asterisk 22 nodes, each beside its own ccari node **in a process of
its own** (``bench/_node.py``), SIPp as the carrier (through Kamailio) and as the agents'
phones.  Fewer agents than callers, so callers wait on both nodes.

One run:

1. the carrier's ``--calls`` at ``--rate`` a second through the edge; once node b's Asterisk
   has ``--waiting`` callers waiting, **b's ccari is killed with SIGKILL** (its Asterisk
   lives on);
2. ``adopt_s``: from the kill until every caller who was waiting on b is waiting on a (taken
   over by the routing leader, a: ``cluster.standby_ari``) or closed; then every call runs
   to its end: ``lost_contacts`` counts the callers not served (closed as lost with their
   node, or failed), ``double_dials`` every second dial of one thing (an agent's phone rung
   more than once for one offer, a caller moved twice, a customer called back: a served
   caller must not be);
3. a third topology, the same load, and b's **Asterisk** killed with SIGKILL once it
   carries ``--waiting`` calls (its ccari lives): ``asterisk_failover_s`` is the time until Kamailio
   uses it no more (its OPTIONS probes, ``edge.probe_s``); then ``--after`` new calls, all
   of which must be served on a (``failed_after_failover``).  (Measured apart: once b's
   ccari is dead, its Asterisk refuses new calls with 503 and Kamailio has already left it.)

The baseline, in the same run: the same load and kill with a leader that does not stand in
for b (no ``standby_ari``): b's waiting callers are closed as lost (and called back where the
tenant allows it).  Calls b had connected go on in its Asterisk (served, in the figures).
Timings depend on ``--node-timeout`` (how long a node must be absent to be dead;
production's default is 10 s) and ``--probe`` (Kamailio's probe interval).

Last line: ``adopt_s=... lost_contacts=... double_dials=... asterisk_failover_s=...``
with the baseline's ``baseline_lost_contacts`` and the settings.

Measured on this box (2 cores), 2026-12-06, three default runs::

    adopt_s=2.19 lost_contacts=0 double_dials=0 asterisk_failover_s=0.72 baseline_lost_contacts=6
    adopt_s=2.18 lost_contacts=0 double_dials=0 asterisk_failover_s=0.92 baseline_lost_contacts=6
    adopt_s=2.21 lost_contacts=0 double_dials=0 asterisk_failover_s=0.67 baseline_lost_contacts=7

(``failed_after_failover=0`` in each.)

Before that day's fix, two runs of five lost 9 and 14 callers: calls b had connected and
that ended as b's ccari died (the agents hang up after ``--talk-ms``) were closed as calls
nobody could see, their agents kept not ready ("call lost") although a saw them over in b's
Asterisk; with three agents of four away, callers waited past 32 s, and the calls answered
in the seconds around the kill then ended with SIP's transaction timeout (their ACK never
seen: cause 18).  Those late ACKs are still open: a call that arrives as a node's ccari
dies may end 32 s after its answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pickle
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench._common import parser, table
from ccari.callbacks.models import Callback
from ccari.cluster.postgres import dsn_of
from ccari.config import ClusterConfig, Config, EdgeConfig
from ccari.edge.render import write
from ccari.edge.rpc import KamailioRpc
from ccari.pbx import PbxProcess, provision, start
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Contact, ContactEvent
from ccari.tenants.pbx import spec_from_db
from tests.cluster.test_calls_across_nodes import node_config, pbx_config
from tests.support.kamailio import KamailioProcess
from tests.support.pbx import carry_a_load
from tests.support.postgres import postgres_server
from tests.support.sipp import Sipp, free_port, free_tcp_port
from tests.support.waits import eventually
from tests.voice.conftest import PHONE_IP, PHONES, VoiceEnv

EDGE_IP = "127.0.0.2"  # Kamailio: the carrier address both Asterisk nodes identify
CALLER_IP = "127.0.0.1"
WAITING = ("queued", "offered")
FINAL = ("completed", "failed", "abandoned")


@dataclass
class Figures:
    adopt_s: float  # kill -> every caller waiting on b is waiting on a, or closed
    waiting_at_kill: int
    taken_over: int
    lost_contacts: int
    double_dials: int
    served: int = 0
    why_lost: Counter[tuple[str, str, str]] = field(default_factory=Counter)


@dataclass
class Node:
    name: str
    cfg: Config
    pbx: PbxProcess
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


async def _fresh_db(server: str, name: str) -> str:
    conn = await asyncpg.connect(dsn_of(server))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    url = server.rsplit("/", 1)[0] + f"/{name}"
    await upgrade_async(url)
    return url


class Run:
    def __init__(self, args: argparse.Namespace, server: str, work: Path, label: str, *,
                 standby: bool) -> None:
        self.args = args
        self.server = server
        self.work = work / label
        self.label = label
        self.standby = standby
        self.nodes: dict[str, Node] = {}
        self.url = ""
        self.sessions: async_sessionmaker[AsyncSession]

    def config(self, name: str, url: str, edge: EdgeConfig, phones: dict[str, int]) -> Config:
        pbx = replace(pbx_config(name), instance=f"{name}{self.label}{os.getpid()}",
                      app_name=f"ccari-{name}{self.label}{os.getpid()}",
                      carrier_match=(EDGE_IP,))
        env = VoiceEnv(self.work / name, phones, pbx)
        env.state_dir.mkdir(parents=True, exist_ok=True)
        cfg = node_config(env, url, name)
        return replace(cfg, edge=edge, log_level="INFO",
                       web=replace(cfg.web, internal_port=free_tcp_port(),
                                   public_port=free_tcp_port()),
                       cluster=ClusterConfig(enabled=True, reconnect_max_s=0.5,
                                             leader_check_s=self.args.check,
                                             node_timeout_s=self.args.node_timeout))

    @contextlib.asynccontextmanager
    async def topology(self) -> AsyncIterator[tuple[KamailioRpc, int]]:
        self.url = url = await _fresh_db(self.server, f"bench_{self.label}")
        engine = make_engine(url)  # the bench's own look at the database
        self.sessions = make_sessionmaker(engine)
        uas_port = free_port(PHONE_IP)
        phones = {p: free_port(PHONE_IP) for p in PHONES}
        edge = EdgeConfig(enabled=True, listen=f"udp:{EDGE_IP}:{free_port(EDGE_IP)}",
                          carriers=(f"{CALLER_IP}/32",),
                          rpc_url=f"http://127.0.0.1:{free_tcp_port()}/RPC",
                          probe_s=self.args.probe, timeout_ms=500, update_s=0.5,
                          node_capacity=40, rpc_key=secrets.token_urlsafe(18))
        configs = {name: self.config(name, url, edge, phones) for name in ("a", "b")}
        if self.standby:  # a stands in for b's Asterisk
            p = configs["b"].pbx
            configs["a"] = replace(configs["a"], cluster=replace(
                configs["a"].cluster,
                standby_ari=(f"b=http://{p.ari_user}:{p.ari_password}@{p.host}:{p.ari_port}",)))
        async with self.sessions() as s:
            await carry_a_load(s, configs["a"], self.args.agents, prefix="bench",
                               phone_host=PHONE_IP, phone_port=uas_port)
        async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession() as http:
            edge_dir = self.work / "edge"
            kamailio = KamailioProcess(write(replace(configs["a"], edge=edge), edge_dir,
                                             children=2), edge_dir / "run")
            rpc = KamailioRpc(http, edge.rpc_url, edge.rpc_key)
            await kamailio.start(rpc)
            stack.callback(kamailio.stop)
            for name in ("a", "b"):  # a first: it leads
                cfg = configs[name]
                pbx = await asyncio.to_thread(start, await spec_from_db(cfg),
                                              runtime=provision())
                stack.callback(pbx.stop)
                node = self.nodes[name] = Node(name, cfg, pbx)
                self.spawn(node)
                stack.callback(self.kill, name, signal.SIGTERM)
                await self.healthy(http, node)
                if name == "a":
                    await eventually(lambda: self.leader_is("a"), 30, "a to lead")

            async def both_active() -> bool:
                found = await rpc.destinations()
                return len(found) == 2 and all(d.flags.startswith("A") for d in found)

            await eventually(both_active, 30, "Kamailio using both Asterisk nodes")
            stack.push_async_callback(engine.dispose)
            yield rpc, uas_port

    def spawn(self, node: Node) -> None:
        path = self.work / f"{node.name}.pickle"
        path.write_bytes(pickle.dumps(node.cfg))
        path.chmod(0o600)  # it holds the node's secrets
        node.log = self.work / f"{node.name}.log"
        with open(node.log, "ab") as out:
            node.proc = subprocess.Popen([sys.executable, "-m", "bench._node", str(path)],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.nodes[name].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def healthy(self, http: aiohttp.ClientSession, node: Node) -> None:
        url = f"http://127.0.0.1:{node.cfg.web.internal_port}/healthz"

        async def up() -> bool:
            assert node.proc is not None
            if node.proc.poll() is not None:
                raise RuntimeError(f"node {node.name} exited; see {node.log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as resp:
                    return resp.status == 200
            return False

        await eventually(up, 60, f"node {node.name} serving")

    async def leader_is(self, name: str) -> bool:
        conn = await asyncpg.connect(dsn_of(self.url))
        try:
            return await conn.fetchval(
                "SELECT node FROM cluster_leadership WHERE name = 'routing'") == name
        finally:
            await conn.close()

    async def contacts(self) -> list[Contact]:
        async with self.sessions() as s:
            return list(await s.scalars(select(Contact).where(Contact.medium == "voice")))

    async def count(self, query: Any) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(query) or 0)

    async def kill_b(self) -> Figures:
        args = self.args
        async with self.topology() as (rpc, uas_port), Sipp(
                "agent_uas.xml", local_ip=PHONE_IP, local_port=uas_port, calls=None,
                params={"agent": "bench", "answer_after_ms": 0, "hangup_after_ms": args.talk_ms},
                timeout_s=600) as phones:
            edge = self.nodes["a"].cfg.edge.listen.removeprefix("udp:")
            callers = self.callers(edge, args.calls, "1202555")
            await callers.start()

            async def waiting_on_b() -> list[Contact] | None:
                rows = [c for c in await self.contacts() if c.node == "b" and c.state in WAITING]
                return rows if len(rows) >= args.waiting else None

            await eventually(waiting_on_b, 120, f"{args.waiting} callers waiting on b")
            self.kill("b")
            killed = time.monotonic()
            on_b = {c.id: c.state for c in await self.contacts() if c.node == "b"}
            at_kill = [i for i, state in on_b.items() if state in WAITING]

            async def handled() -> bool:
                rows = {c.id: c for c in await self.contacts()}
                return all(not (rows[i].node == "b" and rows[i].state in WAITING)
                           for i in at_kill)

            await eventually(handled, 120, "b's waiting callers handled")
            adopt_s = time.monotonic() - killed
            rows = await self.final(args.calls)
            await callers.stop(1)
            taken = sum(1 for c in rows if c.id in on_b and c.node == "a")
            figures = Figures(adopt_s, len(at_kill), taken,
                              lost_contacts=sum(c.state != "completed" for c in rows),
                              double_dials=0, served=sum(c.state == "completed" for c in rows))
            # Who was not served, by where the call was at the kill and how it ended.
            figures.why_lost = Counter(
                (on_b.get(c.id, "-"), c.state, c.disposition or "") for c in rows
                if c.state != "completed")
            rung = (await phones.stop(1)).requests.get("INVITE", 0)
            offers = await self.count(select(func.count()).select_from(ContactEvent)
                                      .where(ContactEvent.kind == "offered"))
            moved = await self.count(select(func.count()).select_from(ContactEvent)
                                     .where(ContactEvent.kind == "adopted"))
            # A served caller called back (one lost with her node may be: the baseline's are).
            dialled_back = await self.count(
                select(func.count()).select_from(Callback)
                .join(Contact, Contact.id == Callback.contact_id)
                .where(Contact.state == "completed"))
        # One ring per offer; one move per caller taken over.
        figures.double_dials = max(0, rung - offers) + max(0, moved - figures.taken_over) + \
            dialled_back
        return figures

    async def stop_b_asterisk(self) -> tuple[float, int]:
        """b's Asterisk is killed under load (its ccari lives): the seconds until Kamailio uses it
        no more, and how many of the ``--after`` calls placed then were not served on a."""
        args = self.args
        async with self.topology() as (rpc, uas_port), Sipp(
                "agent_uas.xml", local_ip=PHONE_IP, local_port=uas_port, calls=None,
                params={"agent": "bench", "answer_after_ms": 0, "hangup_after_ms": args.talk_ms},
                timeout_s=600):
            edge = self.nodes["a"].cfg.edge.listen.removeprefix("udp:")
            callers = self.callers(edge, args.calls, "1202555")
            await callers.start()

            async def b_carries() -> bool:
                return sum(c.node == "b" for c in await self.contacts()) >= args.waiting

            await eventually(b_carries, 120, f"{args.waiting} calls on b")
            os.kill(self.nodes["b"].pbx.pid, signal.SIGKILL)  # as a box lost: no goodbye
            stopped = time.monotonic()
            b_port = str(self.nodes["b"].cfg.pbx.sip_port)

            async def b_inactive() -> bool:
                found = {d.uri.rsplit(":", 1)[1]: d.flags for d in await rpc.destinations()}
                return found.get(b_port, "").startswith("I")

            await eventually(b_inactive, 30, "Kamailio to stop using b")
            failover_s = time.monotonic() - stopped
            await callers.stop(1)
            after = self.callers(edge, args.after, "1303555")
            await after.start()

            async def late_ended() -> list[Contact] | None:
                rows = [c for c in await self.contacts()
                        if c.caller_number and c.caller_number.startswith("1303555")]
                return rows if len(rows) >= args.after and all(
                    c.state in FINAL for c in rows) else None

            late = await eventually(late_ended, 240, "the calls after the stop ended")
            await after.stop(1)
        return failover_s, sum(c.state != "completed" or c.node != "a" for c in late)

    def callers(self, edge: str, calls: int, prefix: str) -> Sipp:
        """The carrier's callers: each presses 1 (sales) and again every 2.5 s until
        answered (one taken over mid-menu hears it again), and never gives up first."""
        return Sipp("cluster_caller.xml", edge, service="15550100", local_ip=CALLER_IP,
                    calls=calls, rate=self.args.rate, max_concurrent=calls, timeout_s=600,
                    params={"caller_prefix": prefix, "digits": "1", "dtmf_every_ms": 2500,
                            "max_presses": 72})

    async def final(self, calls: int) -> list[Contact]:
        async def done() -> list[Contact] | None:
            rows = await self.contacts()
            return rows if len(rows) >= calls and all(c.state in FINAL for c in rows) else None

        return await eventually(done, 240, "every call ended")


@contextlib.contextmanager
def _logs_kept(run: Path, where: str | None) -> Iterator[None]:
    """The run's logs (not its secrets) copied to ``where``, and to a new directory (named)
    if the run fails."""
    def keep(into: Path) -> Path:
        shutil.copytree(run, into / run.name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.pickle", "secrets*", "pbx"))
        return into

    try:
        yield
    except BaseException:
        kept = keep(Path(where) if where else Path(tempfile.mkdtemp(prefix="ccari-bench-")))
        print(f"the run failed: its nodes' logs are kept in {kept}", flush=True)
        raise
    if where:
        keep(Path(where))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ccari-bench-cluster-") as tmp, \
            postgres_server() as server:
        runs: dict[str, Figures] = {}
        for label, standby in (("baseline", False), ("ccari", True)):
            print(f"== {label}: {args.calls} calls at {args.rate}/s, {args.agents} agents, "
                  f"b's ccari killed at {args.waiting} waiting on b", flush=True)
            with _logs_kept(Path(tmp) / label, args.keep):
                runs[label] = await Run(args, server, Path(tmp), label, standby=standby).kill_b()
        print(f"== asterisk: b's Asterisk killed once it carries {args.waiting} calls", flush=True)
        with _logs_kept(Path(tmp) / "asterisk", args.keep):
            failover_s, failed_after = await Run(args, server, Path(tmp), "asterisk",
                                                 standby=True).stop_b_asterisk()
    base, ours = runs["baseline"], runs["ccari"]
    print(table(["run", "waiting on b at kill", "taken over", "handled after s", "served",
                 "lost", "double dials"],
                [[label, f.waiting_at_kill, f.taken_over, f"{f.adopt_s:.2f}", f.served,
                  f.lost_contacts, f.double_dials] for label, f in runs.items()]))
    for label, f in runs.items():
        for (at_kill, state, why), n in sorted(f.why_lost.items()):
            print(f"{label}: {n} not served: {at_kill} on b at the kill -> {state} ({why})")
    print(f"Asterisk b killed: Kamailio stopped using it after {failover_s:.2f} s"
          f" (probe_s {args.probe}); {args.after} calls after that, {failed_after} not "
          "served on a")
    print(f"adopt_s={ours.adopt_s:.2f} lost_contacts={ours.lost_contacts} "
          f"double_dials={ours.double_dials + base.double_dials} "
          f"asterisk_failover_s={failover_s:.2f} failed_after_failover={failed_after} "
          f"baseline_lost_contacts={base.lost_contacts} node_timeout_s={args.node_timeout} "
          f"probe_s={args.probe}")


def cli() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--calls", type=int, default=40, help="the carrier's calls before the kill")
    p.add_argument("--rate", type=float, default=4.0, help="calls a second")
    p.add_argument("--agents", type=int, default=4)
    p.add_argument("--talk-ms", type=int, default=3000, help="each agent's talk time")
    p.add_argument("--waiting", type=int, default=4,
                   help="callers waiting on b when its ccari is killed")
    p.add_argument("--after", type=int, default=10, help="calls after b's Asterisk stopped")
    p.add_argument("--node-timeout", type=float, default=2.0, help="cluster.node_timeout_s")
    p.add_argument("--check", type=float, default=0.25, help="cluster.leader_check_s")
    p.add_argument("--probe", type=int, default=1, help="edge.probe_s")
    p.add_argument("--keep", help="copy the nodes' and Kamailio's logs into this directory")
    asyncio.run(main(p.parse_args()))


if __name__ == "__main__":
    cli()
