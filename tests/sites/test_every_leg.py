"""Every leg a person asks for counts too (consults, conference members, supervisors'
phones, transfers to a number, an agent rung first for a callback), on the site of the
phone it rings and on its media node, from the moment it is dialled till its channel ends;
rebuilt after a restart from the channels Asterisk still has.  The core's rule as a table,
then the executor on the demo tenants with a fake ARI (only its channel list and
variables: what the reconcile reads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from ccari.config import SitesConfig
from ccari.demo.seed import seed
from ccari.sites.bandwidth import Placement, Refusal, Site, choose_asked, phone_codecs, phone_of
from ccari.sites.services import MEDIA_VAR, SiteBandwidth
from ccari.storage.models import Agent
from ccari.storage.models import Site as SiteRow

SIP, BROWSER = phone_codecs("sip"), phone_codecs("browser")
ONE = {"pbx1": 0.0}


@pytest.mark.parametrize(("capacity", "load", "allowed", "expected"), [
    (None, 5000.0, SIP, Placement("pbx1", "ulaw", 87.2)),  # unlimited
    (500.0, 0.0, SIP, Placement("pbx1", "ulaw", 87.2)),  # room under 80%
    (200.0, 87.2, SIP, Placement("pbx1", "gsm", 36.4)),  # lowered, as an offer's leg
    # Full: an offer's leg would be refused (site-full); one a person asked for goes, with
    # the phone's cheapest codec, over the capacity.
    (100.0, 87.2, SIP, Placement("pbx1", "gsm", 36.4)),
    (100.0, 87.2, BROWSER, Placement("pbx1", "ulaw", 87.2)),  # a browser has nothing lower
    (100.0, 87.2, (), Refusal("no-codec")),
])
def test_a_leg_a_person_asked_for_is_never_refused_for_bandwidth(
        capacity: float | None, load: float, allowed: tuple[str, ...],
        expected: Placement | Refusal) -> None:
    assert choose_asked(Site(capacity), load, ONE, allowed) == expected


def test_a_leg_a_person_asked_for_needs_a_media_node() -> None:
    assert choose_asked(Site(100.0), 87.2, {}, SIP) == Refusal("no-media-node")


@pytest.mark.parametrize(("endpoint", "phone"), [
    ("PJSIP/acme-bob", "acme-bob"),
    ("PJSIP/carrier/sip:15550123@127.0.0.2", None),  # an outside number through a trunk
    ("PJSIP/15550123@carrier", None),
    ("Local/123@ctx", None),
    ("PJSIP/", None),
])
def test_the_phone_an_endpoint_rings(endpoint: str, phone: str | None) -> None:
    assert phone_of(endpoint) == phone


@dataclass
class FakeChannel:
    id: str


class FakeAri:
    """What the reconcile reads: the live channels and their variables."""

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables

    async def list_channels(self) -> list[FakeChannel]:
        return [FakeChannel(i) for i in self.variables]

    async def get_var(self, channel_id: str, name: str) -> str:
        assert name == MEDIA_VAR
        return self.variables[channel_id]


@pytest.fixture
async def demo(cfg: Any, sessions: Any) -> tuple[Any, dict[str, Agent], dict[str, int]]:
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
        agents = {a.username: a for a in await s.scalars(select(Agent))}
        site_ids = {row.name: row.id for row in await s.scalars(select(SiteRow))}
    return sessions, agents, site_ids


async def test_every_leg_counts_on_its_phones_site_and_node_and_is_rebuilt_after_a_restart(
        demo: tuple[Any, dict[str, Agent], dict[str, int]]) -> None:
    sessions, agents, site_ids = demo
    london, leeds = site_ids["London"], site_ids["Leeds"]
    acme = agents["alice"].tenant_id
    sites = SiteBandwidth(sessions, SitesConfig(), nodes=("pbx1",))
    await sites.start()
    told: list[set[int | None]] = []

    async def tell(ids: set[int | None]) -> None:
        told.append(ids)

    sites.room_changed.append(tell)
    # alice's call (an offer's leg), then a consult of bob, sam supervising, a number added.
    offer = await sites.place(acme, agents["alice"].id, london, "sip", "agent-c1-1")
    consult = await sites.dial(acme, f"PJSIP/{agents['bob'].phone_username}", "cns-c1-1")
    supervisor = await sites.dial(acme, f"PJSIP/{agents['sam'].phone_username}", "sup-s1")
    outside = await sites.dial(acme, "PJSIP/carrier/sip:15550123@127.0.0.2", "cnf-c1-2")
    # ... and bob rung first for a callback (agent first, then the customer).
    callback = await sites.dial(acme, f"PJSIP/{agents['bob'].phone_username}", "cba-c2-1")
    assert offer is not None
    assert [p.codec for p in (offer, consult, supervisor, outside, callback)] == ["ulaw"] * 5
    assert consult.variables == {MEDIA_VAR: f"{acme}:{leeds}:ulaw"}
    assert outside.variables == {MEDIA_VAR: f"{acme}:-:ulaw"}  # no site: the carrier's side
    assert (sites.loads.site(london), sites.loads.site(leeds), sites.loads.site(None)) == (
        174.4, 174.4, 87.2)
    assert sites.loads.nodes(["pbx1"]) == {"pbx1": 436.0}
    # Another tenant's phone is nobody's here: counted on no site of this tenant.
    stranger = await sites.dial(acme, f"PJSIP/{agents['carol'].phone_username}", "cns-c1-2")
    assert stranger.variables == {MEDIA_VAR: f"{acme}:-:ulaw"}
    await sites.release("cns-c1-2")

    # A restarted ccari: nothing in memory, the same channels in Asterisk (and a stray one).
    again = SiteBandwidth(sessions, SitesConfig(), nodes=("pbx1",))
    await again.start()
    live = {leg: plan.variables[MEDIA_VAR] for leg, plan in (
        ("agent-c1-1", offer), ("cns-c1-1", consult), ("sup-s1", supervisor),
        ("cnf-c1-2", outside), ("cba-c2-1", callback))}
    live["snoop-s1-1"] = "not a counted leg"
    await again.reconcile(FakeAri(live), "pbx1")  # type: ignore[arg-type]
    assert (again.loads.site(london), again.loads.site(leeds), again.loads.site(None)) == (
        174.4, 174.4, 87.2)
    assert len(again.loads) == 5

    # Each channel's end gives its bandwidth back, once.
    for leg in ("cns-c1-1", "sup-s1", "cns-c1-1", "cba-c2-1"):
        await again.release(leg)
    assert (again.loads.site(london), again.loads.site(leeds)) == (87.2, 0.0)
    await again.release("agent-c1-1")
    await again.release("cnf-c1-2")
    assert len(again.loads) == 0 and again.loads.nodes(["pbx1"]) == {"pbx1": 0.0}


async def test_a_consult_to_a_full_site_goes_with_the_lower_codec(
        demo: tuple[Any, dict[str, Agent], dict[str, int]]) -> None:
    sessions, agents, site_ids = demo
    acme = agents["alice"].tenant_id
    sites = SiteBandwidth(sessions, SitesConfig(), nodes=("pbx1",))
    await sites.start()
    await sites.set_capacity(acme, "Leeds", 120, "admin")
    first = await sites.place(acme, agents["bob"].id, site_ids["Leeds"], "sip", "agent-c1-1")
    assert first is not None and first.codec == "ulaw"
    # Leeds has no room for another offer; bob's colleague consulting him still reaches
    # his phone, with GSM alone in the INVITE.
    assert await sites.place(acme, agents["bob"].id, site_ids["Leeds"], "sip", "agent-c2-1") is None
    consult = await sites.dial(acme, f"PJSIP/{agents['bob'].phone_username}", "cns-c3-1")
    assert (consult.codec, consult.formats) == ("gsm", ("gsm",))
    assert sites.loads.site(site_ids["Leeds"]) == 123.6
    # A browser phone has no GSM: its leg goes in G.711 (either law), counted as such.
    async with sessions() as s:
        bob = await s.get(Agent, agents["bob"].id)
        assert bob is not None
        bob.device = "browser"
        await s.commit()
    web = await sites.dial(acme, f"PJSIP/{agents['bob'].phone_username}", "sup-s2")
    assert (web.codec, web.formats) == ("ulaw", ("ulaw", "alaw"))
    assert sites.loads.site(site_ids["Leeds"]) == 210.8
    await sites.release("sup-s2")
    assert sites.loads.site(site_ids["Leeds"]) == 123.6
