"""The whole topology on this machine: a carrier's load (SIPp) enters through Kamailio, which
spreads it over two Asterisk nodes, each beside its own ccari node; both ccari nodes share
one PostgreSQL, the routing leader decides every offer and each call is rung from the node
carrying it.  Every caller is served, both nodes carry calls, no agent ever holds two voice
offers (checked on every event of the contacts' logs) and no agent's phone is rung twice
for one offer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.config import Config
from ccari.storage.models import Contact, ContactEvent
from tests.cluster.edge_topology import CALLER_IP, Topology, running
from tests.cluster.holds import Event, double_holds
from tests.support.pbx import carry_a_load
from tests.support.sipp import Sipp, free_port
from tests.support.waits import eventually
from tests.voice.conftest import PHONE_IP

pytestmark = pytest.mark.pbx

AGENTS = 6
CALLS = 24
RATE = 4  # calls a second: more than the agents clear, so callers queue on both nodes


@pytest.fixture
async def topology(cluster_url: str, tmp_path: Path) -> AsyncIterator[Topology]:
    uas_port = free_port(PHONE_IP)

    async def agents(s: AsyncSession, cfg: Config) -> None:
        await carry_a_load(s, cfg, AGENTS, prefix="edge", phone_host=PHONE_IP,
                           phone_port=uas_port)

    async with running(cluster_url, tmp_path, agents, uas_port=uas_port) as topology:
        yield topology


async def serve(topology: Topology, calls: int, *, talk_ms: int) -> tuple[list[Contact], int]:
    """A carrier's ``calls`` at RATE a second through the edge, the agents' phones answering
    at once and hanging up after ``talk_ms``: the contacts once every caller was served,
    and how many times the phones were rung."""
    leader = topology.nodes["a"]
    async with Sipp("agent_uas.xml", local_ip=PHONE_IP, local_port=topology.uas_port,
                    calls=None, params={"agent": "edge", "answer_after_ms": 0,
                                        "hangup_after_ms": talk_ms}, timeout_s=120) as phones:
        callers = Sipp("bench_caller.xml", topology.edge, service="15550100",
                       local_ip=CALLER_IP, calls=calls, rate=RATE, max_concurrent=calls,
                       timeout_s=120, params={"caller_prefix": "1202555", "digits": "1",
                                              "dtmf_after_ms": 300, "max_wait_ms": 60000})
        await callers.start()

        async def all_served() -> list[Contact] | None:
            async with leader.sessions() as s:
                rows = list(await s.scalars(select(Contact).where(Contact.medium == "voice")))
            return rows if len(rows) == calls and all(
                c.state == "completed" for c in rows) else None

        served = await eventually(all_served, 60, "every caller served")
        # SIPp lingers half a minute on the ended calls' transactions before it exits: it
        # is stopped once the database says every caller was served.
        await callers.stop(1)
    return served, (await phones.result()).requests.get("INVITE", 0)


async def test_a_carriers_load_through_the_edge_is_served_by_both_nodes(
        topology: Topology) -> None:
    served, rung = await serve(topology, CALLS, talk_ms=2000)
    assert all(c.agent_id is not None and c.disposition == "agent-hangup" for c in served)
    by_node = {name: sum(c.node == name for c in served) for name in topology.nodes}
    assert by_node["a"] > 0 and by_node["b"] > 0, by_node
    async with topology.nodes["a"].sessions() as s:
        events = [Event(e.contact_id, e.kind, e.at, e.data or {}, e.id)
                  for e in await s.scalars(select(ContactEvent))]
    assert double_holds(events) == []
    offers = sum(e.kind == "offered" for e in events)
    assert rung == offers == CALLS  # one ring per offer, none declined
    print(f"calls per node: {by_node}")


async def test_an_asterisk_node_that_stops_gets_no_new_call_and_no_call_fails(
        topology: Topology) -> None:
    """b's Asterisk stops (b's ccari stays): Kamailio's probes find it silent within about
    two probe intervals, and every call after that is served on a."""
    await asyncio.to_thread(topology.pbxs["b"].stop)
    stopped = time.monotonic()

    async def b_inactive() -> bool:
        found = {d.uri.rsplit(":", 1)[1]: d.flags for d in await topology.rpc.destinations()}
        return found.get(str(topology.ports["b"]), "").startswith("I")

    await eventually(b_inactive, 10, "Kamailio to stop using b")
    print(f"b inactive {time.monotonic() - stopped:.2f} s after its Asterisk stopped")
    served, _ = await serve(topology, 8, talk_ms=1000)
    assert {c.node for c in served} == {"a"}
