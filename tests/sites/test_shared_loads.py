"""Several nodes share a site's WAN link: each node's routing gate and codec choice count
the legs every node placed to the site's agents (saved in the database, told over the bus),
and a dead node's legs are counted no more."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ccari.cluster.bus import LocalBus
from ccari.config import SitesConfig
from ccari.demo.seed import seed
from ccari.sites.models import MediaLeg
from ccari.sites.services import SiteBandwidth
from ccari.sites.shared import SharedLegs
from ccari.storage.models import Agent
from ccari.storage.models import Site as SiteRow


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
