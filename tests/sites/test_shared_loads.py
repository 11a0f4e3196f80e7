"""Several nodes share a site's WAN link: each node's routing gate and codec choice count
the legs every node placed to the site's agents (saved in the database, told over the bus),
and a dead node's legs are counted no more."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from ccari.cluster.bus import LocalBus
from ccari.cluster.nodes import app_name
from ccari.config import SitesConfig
from ccari.demo.seed import seed
from ccari.sites.models import MediaLeg
from ccari.sites.services import AVOID_S, MEDIA_VAR, SiteBandwidth
from ccari.sites.shared import SharedLegs
from ccari.storage.models import Agent
from ccari.storage.models import Site as SiteRow
from ccari.voice.ports import Via


async def test_a_site_is_full_for_every_node_once_its_link_is_used_by_any(
        cfg: Any, sessions: Any) -> None:
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
        agents = {a.username: a for a in await s.scalars(select(Agent))}
        london = await s.scalar(select(SiteRow.id).where(SiteRow.name == "London"))
        # Room for one call (GSM: 36.4 kbit/s, the link being short) and not for two.
        await s.execute(update(SiteRow).where(SiteRow.id == london).values(wan_kbps=60))
        await s.commit()
    alice, sam = agents["alice"], agents["sam"]
    assert alice.site_id == sam.site_id == london
    peers: list[LocalBus] = []
    a = SiteBandwidth(sessions, SitesConfig(), nodes=("pbx-a",),
                      shared=SharedLegs(sessions, LocalBus("a", peers)))
    b = SiteBandwidth(sessions, SitesConfig(), nodes=("pbx-b",),
                      shared=SharedLegs(sessions, LocalBus("b", peers)))
    told: list[set[int | None]] = []

    async def tell(ids: set[int | None]) -> None:
        told.append(ids)

    b.room_changed.append(tell)
    await a.start()
    await b.start()
    assert a.has_room(sam) and b.has_room(sam)

    plan = await a.place(alice.tenant_id, alice.id, london, "sip", "agent-c1-1")
    assert plan is not None and plan.codec == "gsm"
    # b, told over the bus, offers sam nothing more: the link is a's call's.
    assert told == [{london}] and not b.has_room(sam)
    assert await b.place(sam.tenant_id, sam.id, london, "sip", "agent-c2-1") is None
    view = await b.sites(alice.tenant_id)
    assert {v["name"]: (v["load_kbps"], v["calls"]) for v in view}["London"] == (36.4, 1)

    await a.release("agent-c1-1")
    assert b.has_room(sam)
    plan = await b.place(sam.tenant_id, sam.id, london, "sip", "agent-c2-2")
    assert plan is not None and plan.codec == "gsm"
    assert not a.has_room(alice)

    # b's node dies with its leg up: the leader (a) counts it no more.
    await a.release_node("b")
    assert a.has_room(alice)
    async with sessions() as s:
        assert [r.placed_by for r in await s.scalars(select(MediaLeg))] == []


@contextlib.asynccontextmanager
async def alive(db_url: str, node: str) -> AsyncIterator[None]:
    """On PostgreSQL a node is alive while its connection named ``ccari:<node>`` is open
    (SQLite has no such view: every registered node counts)."""
    if not db_url.startswith("postgresql"):
        yield
        return
    engine = create_async_engine(db_url, connect_args={
        "server_settings": {"application_name": app_name(node)}})
    try:
        async with engine.connect():
            yield
    finally:
        await engine.dispose()


async def test_a_leg_goes_out_from_the_least_loaded_live_node(
        cfg: Any, sessions: Any, db_url: str) -> None:
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
        agents = {a.username: a for a in await s.scalars(select(Agent))}
    alice, bob = agents["alice"], agents["bob"]
    least = replace(SitesConfig(), legs_from="least-loaded")
    peers: list[LocalBus] = []
    shared_a, shared_b = SharedLegs(sessions, LocalBus("a", peers)), \
        SharedLegs(sessions, LocalBus("b", peers))
    now = [1000.0]
    a = SiteBandwidth(sessions, least, nodes=("pbx-a",), shared=shared_a, clock=lambda: now[0])
    b = SiteBandwidth(sessions, least, nodes=("pbx-b",), shared=shared_b)
    await a.start()
    await b.start()
    await shared_a.register("pbx-a", "sip:127.0.0.1:5060", "key-of-a")
    await shared_b.register("pbx-b", "sip:127.0.0.9:5070", "key-of-b")

    async with alive(db_url, "b"):
        # Nothing anywhere: the caller's own node, no hop for nothing.
        first = await a.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c1-1")
        assert first is not None and (first.node, first.via) == ("pbx-a", None)
        # pbx-a carries a leg, pbx-b none: the next goes out from b's Asterisk.
        second = await a.place(alice.tenant_id, alice.id, alice.site_id, "sip", "agent-c2-1")
        assert second is not None and second.node == "pbx-b"
        assert second.via == Via("sip:127.0.0.9:5070", "key-of-b")
        assert second.variables[MEDIA_VAR].endswith(":ulaw:pbx-b")
        # b counts the leg a placed from its Asterisk: one each, a tie, its own.
        third = await b.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c3-1")
        assert third is not None and (third.node, third.via) == ("pbx-b", None)
        # A video call's leg stays where the caller is, whatever the loads.
        video = await a.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c4-1", here=True)
        assert video is not None and video.node == "pbx-a"
        await a.release("agent-c2-1")  # now pbx-a carries two legs, pbx-b one
        # b's ccari lost its Asterisk: that Asterisk is offered no more.
        await shared_b.unregister("pbx-b")
        lost = await a.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c5-1")
        assert lost is not None and lost.node == "pbx-a"
        await a.release("agent-c5-1")
        await shared_b.register("pbx-b", "sip:127.0.0.9:5070", "key-of-b")
        back = await a.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c6-1")
        assert back is not None and back.node == "pbx-b"
        await a.release("agent-c6-1")
        # A leg through b failed before it rang: none goes there for AVOID_S.
        a.unreachable("pbx-b")
        now[0] += AVOID_S - 1
        avoided = await a.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c8-1")
        assert avoided is not None and avoided.node == "pbx-a"
        await a.release("agent-c8-1")
        now[0] += 2
        tried = await a.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c9-1")
        assert tried is not None and tried.node == "pbx-b"
        await a.release("agent-c9-1")
    if db_url.startswith("postgresql"):
        # b's ccari gone: its Asterisk takes no more of a's legs, though less loaded.
        again = await a.place(bob.tenant_id, bob.id, bob.site_id, "sip", "agent-c7-1")
        assert again is not None and again.node == "pbx-a"
