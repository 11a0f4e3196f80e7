"""An agent's leg from the media node with the lowest load (``sites.legs_from =
"least-loaded"``), on two real Asterisk nodes driven by two ccari nodes on one PostgreSQL.

Every caller dials node a's Asterisk.  bob (Leeds, unlimited) takes the first call: both
nodes carry nothing, so his leg goes out from a itself (no hop for nothing).  alice (London,
40 kbit/s: room for GSM only) takes the second: a carries bob's leg, b nothing, so a's
Asterisk dials b's ``ccari-peer`` endpoint with b's key and b's dialplan rings her phone
with GSM alone; b transcodes, each of the caller and alice hears the other, the leg is counted
on b, her page says GSM, and both calls end cleanly on both Asterisks.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import update

from ccari.config import SitesConfig
from ccari.sites.models import MediaLeg, MediaNode
from ccari.storage.models import Contact
from tests.cluster.conftest import eventually_true
from tests.cluster.test_calls_across_nodes import (
    CallsNode,
    contact_row,
    next_of,
    page,
    start_calls_node,
)
from tests.support.rtp import GsmPeer, RtpPeer, tone
from tests.support.waits import eventually
from tests.voice.conftest import CARRIER_IP, PHONE_IP, pbx_counts
from tests.voice.media import FREQS, Leg, media_caller, speak
from tests.voice.test_sites_pbx import Pbx, _hears
from tests.voice.test_voice_pbx import caller, phone

pytestmark = pytest.mark.pbx
__all__ = ["start_calls_node"]  # the fixture, used here


async def two_nodes(start_calls_node: Any) -> tuple[CallsNode, CallsNode]:
    """Nodes a (the leader) and b, both placing legs from the least loaded node; London's
    link with room for GSM only."""
    start_node, seeded = start_calls_node
    least = {"sites": replace(SitesConfig(), legs_from="least-loaded")}
    a = await start_node("a", **least)
    await eventually_true(lambda: a.rt.leadership is not None and a.rt.leadership.leading)
    b = await start_node("b", **least)
    acme = {"Authorization": f"Bearer {seeded['acme.token']}"}
    resp = await a.web.put("/api/tenants/acme/sites/London", json={"wan_kbps": 40}, headers=acme)
    assert resp.status == 200, await resp.text()
    assert a.rt.ari is not None and b.rt.ari is not None and a.rt.sites is not None
    return a, b


async def test_the_second_agent_leg_goes_out_from_the_other_node_with_the_lower_codec(
        start_calls_node: Any) -> None:
    _, seeded = start_calls_node
    a, b = await two_nodes(start_calls_node)
    node_a, node_b = a.rt.config.pbx.instance, b.rt.config.pbx.instance
    assert a.rt.ari is not None and b.rt.ari is not None and a.rt.sites is not None

    bob_page = await page(a, seeded, "bob")
    # alice's phone answers what b offers (GSM) and speaks its tone in GSM (Asterisk's own
    # encoder); the caller speaks hers in G.711 to a.
    codec = Pbx(b.pbx)
    alice_sink = await GsmPeer.open(PHONE_IP, await asyncio.to_thread(
        codec.convert, tone(1.0, FREQS["agent"]), "ul", "gsm"))
    alice_phone = phone(a.env, "alice", pt=3, codec="GSM", sdp_port=alice_sink.port)
    alice_phone.keep = ("offers.log",)
    alice_phone.extra_args = ("-trace_logs", "-log_file", "offers.log")
    customer = await RtpPeer.open(CARRIER_IP, tone(1.0, FREQS["customer"]))
    first = caller(a.env, digits="2", hangup_after_ms=0, caller="15550101")
    second = media_caller(a.env, sdp_port=customer.port, hangup_after_ms=0)
    alice_page = None
    try:
        async with phone(a.env, "bob") as bob, alice_phone:
            # 1. Nothing anywhere: bob's leg from a, the caller's own Asterisk.
            await first.start()
            bobs = (await next_of(bob_page, "connected"))["contact_id"]
            bob_call = await contact_row(a, bobs)
            assert bob_call is not None and bob_call.agent_channel_id is not None
            leg = a.rt.sites.loads.get(bob_call.agent_channel_id)
            assert leg is not None and leg.node == node_a
            # 2. a carries one leg, b none: alice's leg goes out from b, in GSM.
            alice_page = await page(a, seeded, "alice")
            await second.start()
            await eventually(lambda: _true(customer.remote), what="the IVR's first words")
            customer.press("1")  # sales: alice
            offer = await next_of(alice_page, "offer")
            assert offer["contact"]["codec"] == {"name": "gsm", "label": "GSM 06.10", "kbps": 36.4}
            alices = (await next_of(alice_page, "connected"))["contact_id"]
            alice_call = await contact_row(a, alices)
            assert alice_call is not None and alice_call.agent_channel_id is not None
            leg = a.rt.sites.loads.get(alice_call.agent_channel_id)
            assert leg is not None and (leg.node, leg.codec) == (node_b, "gsm")
            async with a.rt.sessions() as s:  # shared with the other nodes as b's
                row = await s.get(MediaLeg, alice_call.agent_channel_id)
            assert row is not None and row.node == node_b
            on_a = {c.id: c.name for c in await a.rt.ari.list_channels()}
            on_b = {c.name: c.id for c in await b.rt.ari.list_channels()}
            # a's side of her leg is its call to b; b rings her phone and transcodes.
            assert on_a[alice_call.agent_channel_id].startswith("PJSIP/ccari-peer-")
            assert not any(n.startswith("PJSIP/acme-alice-") for n in on_a.values())
            hers = [i for n, i in on_b.items() if n.startswith("PJSIP/acme-alice-")]
            assert len(hers) == 1 and any(n.startswith("PJSIP/ccari-peer-") for n in on_b)
            assert await b.rt.ari.get_var(hers[0], "CHANNEL(audionativeformat)") == "(gsm)"
            assert await a.rt.ari.get_var(alice_call.agent_channel_id,
                                          "CHANNEL(audionativeformat)") in ("(ulaw)", "(alaw)")
            await speak(b.rt, Leg(alice_phone, alice_sink), hers[0])
            await eventually(lambda: _hears(customer, codec, alice_sink), 10, "both sides' tones")
            # 3. Both calls end: both complete, nothing left on either Asterisk.
            assert a.rt.voice is not None
            for call in (alice_call, bob_call):
                assert call.channel_id is not None
                await a.rt.voice.hangup(call.channel_id)
            for sipp in (second, first):
                result = await sipp.wait()
                assert result.ok, result.describe()
            for contact_id in (alices, bobs):
                done = await eventually(lambda c=contact_id: _completed(a, c), what="completed")
                assert done.agent_id is not None
            await eventually(lambda: _empty(a, b), what="no channel left on either node")
            assert a.rt.sites.site_load(leg.site_id) == 0.0
    finally:
        customer.close()
        alice_sink.close()
        if alice_page is not None:
            await alice_page.close()
        await bob_page.close()
        for sipp in (first, second):
            if sipp.pid is not None:
                await sipp.stop()
    alice = await alice_phone.result()
    assert alice.requests.get("INVITE") == 1, alice.describe()
    offers = [ln for ln in alice.kept["offers.log"].splitlines() if ln.startswith("OFFER ")]
    assert len(offers) == 1 and offers[0].split("RTP/AVP")[1].split() == ["3", "101"], offers
    assert (await bob.result()).requests.get("INVITE") == 1


async def test_a_hop_that_fails_before_her_phone_rings_is_not_her_miss(
        start_calls_node: Any) -> None:
    """b's Asterisk refuses a's leg (its key changed: b restarted with a new ARI secret,
    say): alice is not made not ready for it; the call comes back to her at once, rung from
    a, and b is not tried again meanwhile."""
    _, seeded = start_calls_node
    a, b = await two_nodes(start_calls_node)
    node_a, node_b = a.rt.config.pbx.instance, b.rt.config.pbx.instance
    assert a.rt.sites is not None
    async with a.rt.sessions() as s:
        assert await s.get(MediaNode, node_b) is not None  # b offered itself at its ARI connect
        await s.execute(update(MediaNode).where(MediaNode.name == node_b)
                        .values(peer_key="0" * 40))
        await s.commit()
    bob_page = await page(a, seeded, "bob")
    first = caller(a.env, digits="2", hangup_after_ms=0, caller="15550101")
    second = caller(a.env, digits="1", hangup_after_ms=0, caller="15550102")
    alice_page = None
    try:
        async with phone(a.env, "bob"), phone(a.env, "alice", pt=3, codec="GSM") as alice:
            await first.start()
            bobs = (await next_of(bob_page, "connected"))["contact_id"]
            alice_page = await page(a, seeded, "alice")
            await second.start()
            told = []
            while not told or told[-1]["type"] != "connected":
                msg = await alice_page.ws.receive_json(timeout=20)
                if msg.get("type") in ("offer", "withdrawn", "connected", "state"):
                    told.append(msg)
            kinds = [m["type"] for m in told]
            # Offered, withdrawn (the hop failed), offered again, connected: never not ready.
            assert kinds.count("offer") == 2 and "withdrawn" in kinds, kinds
            assert all(m.get("state") != "not_ready" for m in told if m["type"] == "state")
            alices = told[-1]["contact_id"]
            call = await contact_row(a, alices)
            assert call is not None and call.agent_channel_id is not None
            leg = a.rt.sites.loads.get(call.agent_channel_id)
            assert leg is not None and (leg.node, leg.codec) == (node_a, "gsm")
            assert call.agent_id is not None
            assert a.rt.queue.agent_state(call.agent_id) == "busy"
            assert a.rt.voice is not None
            for contact_id in (alices, bobs):
                row = await contact_row(a, contact_id)
                assert row is not None and row.channel_id is not None
                await a.rt.voice.hangup(row.channel_id)
            for sipp in (second, first):
                result = await sipp.wait()
                assert result.ok, result.describe()
            await eventually(lambda: _empty(a, b), what="no channel left on either node")
    finally:
        if alice_page is not None:
            await alice_page.close()
        await bob_page.close()
        for sipp in (first, second):
            if sipp.pid is not None:
                await sipp.stop()
    assert (await alice.result()).requests.get("INVITE") == 1  # from a, once


async def _true(value: object) -> bool:
    return bool(value)


async def _completed(node: CallsNode, contact_id: str) -> Contact | None:
    row = await contact_row(node, contact_id)
    return row if row is not None and row.state == "completed" else None


async def _empty(a: CallsNode, b: CallsNode) -> bool:
    return pbx_counts(a.pbx) == (0, 0) and pbx_counts(b.pbx) == (0, 0)
