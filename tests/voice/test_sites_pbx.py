"""Sites and bandwidth on the real Asterisk: SIPp callers bridged to agents of a site with a
small WAN link, until its calls need the lower codec, then until it has no room at all.

alice and sam sit in London, bob in Leeds; all three take sales.  London's link is 120
kbit/s (G.711 costs 87.2 per call, GSM 36.4; the codec is lowered above 80%):

1. alice, alone ready, gets the first call in G.711 (87.2 <= 96);
2. London is then full for one more call (87.2 + 36.4 > 120): sam, ready, is not offered
   the next caller, who waits until bob (Leeds) is ready and gets it;
3. London's link grows to 200: the third caller goes to sam with GSM only in the INVITE's
   offer (87.2 + 87.2 > 160, 87.2 + 36.4 <= 200); Asterisk transcodes, and each side
   hears the other's tone (the agent's GSM made and read by Asterisk's own codec);
4. every caller hangs up: the loads go back to 0.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import delete, select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app, runtime
from ccari.config import Config
from ccari.pbx import PbxProcess
from ccari.sites.services import SiteBandwidth
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Agent, AgentSkill, Contact, Site
from tests.support.agent_web import AgentPage, open_agent_page
from tests.support.openapi import Conformances
from tests.support.rtp import GsmPeer, RtpPeer, amplitude_at, tone
from tests.voice.calls import call_with_alice, command, nothing_left, rest
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually
from tests.voice.media import FREQS, HEARD, Leg, media_caller, speak
from tests.voice.test_transfers_pbx import answered_consult
from tests.voice.test_voice_pbx import caller, contacts, phone, ready

pytestmark = pytest.mark.pbx


@pytest.fixture
async def ccari_sites(voice_cfg: Config) -> AsyncIterator[Runtime]:
    """The demo with alice and sam in London, bob in Leeds, all three on sales."""
    engine = make_engine(voice_cfg.database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            london = await s.scalar(select(Site).where(Site.name == "London"))
            assert london is not None
            agents = list(await s.scalars(
                select(Agent).where(Agent.username.in_(["alice", "bob", "sam"]))))
            await s.execute(delete(AgentSkill).where(
                AgentSkill.agent_id.in_([a.id for a in agents])))
            for agent in agents:
                s.add(AgentSkill(agent_id=agent.id, name="skill", value="sales", proficiency=5))
                if agent.username == "sam":
                    agent.site_id = london.id
            await s.commit()
    finally:
        await engine.dispose()
    async with runtime(voice_cfg) as rt:
        yield rt


class Pbx:
    """Asterisk's own GSM codec, through files in its instance directory."""

    def __init__(self, proc: PbxProcess) -> None:
        self.proc = proc
        # "file convert" (res_convert: a CLI command only, not in ccari's modules.conf).
        if "res_convert.so" not in proc.rx("module show like res_convert"):
            proc.rx("module load res_convert.so")

    def convert(self, data: bytes, src: str, dst: str) -> bytes:
        host, inner = Path(self.proc.paths.host), self.proc.paths.inner
        (host / f"sites-in.{src}").write_bytes(data)
        out = self.proc.rx(f"file convert {inner}/sites-in.{src} {inner}/sites-out.{dst}")
        assert "Converted" in out, out
        return (host / f"sites-out.{dst}").read_bytes()


async def sites(client: Any, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    resp = await client.get("/api/sites", headers=headers)
    assert resp.status == 200, await resp.text()
    return {s["name"]: s for s in (await resp.json())["sites"]}


async def capacity(client: Any, headers: dict[str, str], kbps: int) -> None:
    resp = await client.put("/api/tenants/acme/sites/London", json={"wan_kbps": kbps}, headers=headers)
    assert resp.status == 200, await resp.text()


async def connected_to(rt: Runtime, agent: Agent) -> Contact | None:
    rows = [c for c in await contacts(rt) if c.state == "connected" and c.agent_id == agent.id]
    return rows[0] if rows else None


async def test_a_full_site_gets_the_lower_codec_then_no_call_and_its_load_returns_to_zero(
        ccari_sites: Runtime, voice_env: VoiceEnv, voice_pbx: PbxProcess, aiohttp_client: Any) -> None:
    rt = ccari_sites
    assert rt.ari is not None and rt.voice is not None
    client = await aiohttp_client(internal_app(rt))
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    acme = {"Authorization": f"Bearer {secrets['acme.token']}"}
    await capacity(client, acme, 120)
    codec = Pbx(voice_pbx)
    # sam's phone answers with GSM and speaks its tone in GSM (Asterisk's encoder).
    sam_sink = await GsmPeer.open(PHONE_IP, await asyncio.to_thread(
        codec.convert, tone(1.0, FREQS["agent"]), "ul", "gsm"))
    sam_phone = phone(voice_env, "sam", pt=3, codec="GSM", sdp_port=sam_sink.port)
    sam_phone.keep, sam_phone.extra_args = ("offers.log",), ("-trace_logs", "-log_file", "offers.log")
    customer = await RtpPeer.open(CARRIER_IP, tone(1.0, FREQS["customer"]))
    third = media_caller(voice_env, sdp_port=customer.port, hangup_after_ms=0)
    first, second = (caller(voice_env, digits="1", hangup_after_ms=0, caller=f"1555010{n}")
                     for n in (1, 2))
    # sam's agent page: the screen pop of her call says its codec.
    page = await open_agent_page(str(client.make_url("")).rstrip("/"), "acme", "sam",
                                 secrets["acme.sam.web"])
    try:
        async with phone(voice_env, "alice") as alice, sam_phone, phone(voice_env, "bob") as bob:
            agents = await ready(rt, "alice")
            # 1. A site with room: G.711.
            await first.start()
            one = await eventually(lambda: connected_to(rt, agents["alice"]), what="alice's call")
            assert one.agent_channel_id is not None
            assert await rt.ari.get_var(one.agent_channel_id, "CHANNEL(audionativeformat)") == "(ulaw)"
            assert (await sites(client, acme))["London"]["load_kbps"] == 87.2

            # 2. London has no room for another call: sam is passed over, bob gets it.
            agents.update(await ready(rt, "sam"))
            await second.start()
            waiting = await eventually(lambda: _waiting(rt), what="the second caller queued")
            assert rt.queue.agent_state(agents["sam"].id) == "ready"  # ready, yet not offered
            async with rt.sessions() as s:
                bob_row = await agents_repo.by_login(s, "acme", "bob")
            assert bob_row is not None
            agents["bob"] = bob_row
            # Offered the waiting caller at once.
            assert await rt.queue.set_presence(bob_row, "ready") == "reserved"
            two = await eventually(lambda: connected_to(rt, agents["bob"]), what="bob's call")
            assert two.id == waiting.id
            assert two.agent_channel_id is not None
            assert await rt.ari.get_var(two.agent_channel_id, "CHANNEL(audionativeformat)") == "(ulaw)"
            now = await sites(client, acme)
            assert (now["London"]["load_kbps"], now["Leeds"]["load_kbps"]) == (87.2, 87.2)

            # 3. A bigger link: room for GSM, not for G.711 under 80%.
            await capacity(client, acme, 200)
            await third.start()
            await eventually(lambda: _true(customer.remote), what="the IVR's first words")
            customer.press("1")
            three = await eventually(lambda: connected_to(rt, agents["sam"]), what="sam's call")
            assert three.agent_channel_id is not None
            assert await rt.ari.get_var(three.agent_channel_id,
                                        "CHANNEL(audionativeformat)") == "(gsm)"
            await speak(rt, Leg(sam_phone, sam_sink), three.agent_channel_id)
            now = await sites(client, acme)
            assert (now["London"]["load_kbps"], now["London"]["calls"]) == (123.6, 2)
            pop = await _first_offer(page)
            assert pop["id"] == three.id
            assert pop["codec"] == {"name": "gsm", "label": "GSM 06.10", "kbps": 36.4}
            # Both hear each other through Asterisk's transcoding.
            await eventually(lambda: _hears(customer, codec, sam_sink), 10, "both sides' tones")

            # 4. Everyone hangs up: nothing counted any more.
            for c in (one, two, three):
                assert c.channel_id is not None
                await rt.voice.hangup(c.channel_id)
            await eventually(lambda: _all_completed(rt), what="three completed calls")
            await eventually(lambda: _no_load(rt, client, acme), what="the loads back to 0")
    finally:
        customer.close()
        sam_sink.close()
        await page.close()
        for sipp in (first, second, third):
            if sipp.pid is not None:
                await sipp.stop()
    sam = await sam_phone.result()
    assert sam.requests.get("INVITE") == 1, sam.describe()  # the GSM call only
    offers = [line for line in sam.kept["offers.log"].splitlines() if line.startswith("OFFER ")]
    assert len(offers) == 1 and offers[0].split("RTP/AVP")[1].split() == ["3", "101"], offers
    for result in (await alice.result(), await bob.result()):
        assert result.requests.get("INVITE") == 1, result.describe()


async def _first_offer(page: AgentPage) -> dict[str, Any]:
    while True:
        msg = await page.ws.receive_json(timeout=10)
        if msg.get("type") == "offer":
            contact: dict[str, Any] = msg["contact"]
            return contact


async def _true(value: object) -> bool:
    return bool(value)


async def _waiting(rt: Runtime) -> Contact | None:
    rows = [c for c in await contacts(rt) if c.state == "queued"]
    # In the router's queue (a position): its offer was decided, and there was none.
    return rows[0] if rows and rt.queue.view(rows[0].id) is not None else None


async def _hears(customer: RtpPeer, codec: Pbx, agent: GsmPeer) -> bool:
    until = time.monotonic()
    since = until - 0.6
    heard_agent = customer.tones(since, until, [FREQS["agent"]])[FREQS["agent"]]
    frames = b"".join(p for at, p in agent.packets if since <= at < until and len(p) == 33)
    if len(frames) < 25 * 33:  # the agent's stream is not half a second old yet
        return False
    pcm = await asyncio.to_thread(codec.convert, frames, "gsm", "sln")
    samples = list(struct.unpack(f"<{len(pcm) // 2}h", pcm[:len(pcm) // 2 * 2]))
    heard_customer = amplitude_at(samples, FREQS["customer"])
    return heard_agent >= HEARD and heard_customer >= HEARD


async def _all_completed(rt: Runtime) -> bool:
    rows = await contacts(rt)
    return len(rows) == 3 and all(c.state == "completed" for c in rows)


async def _no_load(rt: Runtime, client: Any, headers: dict[str, str]) -> bool:
    now = await sites(client, headers)
    assert isinstance(rt.legs, SiteBandwidth)
    return len(rt.legs.loads) == 0 and all(s["load_kbps"] == 0 for s in now.values())



async def test_a_restarted_ccari_counts_the_legs_asterisk_still_has(
        voice_cfg: Config, voice_env: VoiceEnv, aiohttp_client: Any) -> None:
    """The loads live in memory: a new process rebuilds them from the live channels (each
    counted leg carries its tenant, site and codec), and they end as the calls end."""
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    acme = {"Authorization": f"Bearer {secrets['acme.token']}"}
    call = caller(voice_env, digits="1", hangup_after_ms=0)
    async with phone(voice_env, "alice"):
        try:
            async with runtime(voice_cfg) as first:
                client = await aiohttp_client(internal_app(first))
                await capacity(client, acme, 500)
                agents = await ready(first, "alice")
                await call.start()
                live = await eventually(lambda: connected_to(first, agents["alice"]),
                                        what="alice's call")
                assert (await sites(client, acme))["London"]["load_kbps"] == 87.2
            # That ccari is gone; the call goes on in Asterisk.
            async with runtime(voice_cfg) as second:
                client = await aiohttp_client(internal_app(second))
                now = (await sites(client, acme))["London"]
                assert (now["load_kbps"], now["calls"]) == (87.2, 1)
                assert second.voice is not None and live.channel_id is not None
                await second.voice.hangup(live.channel_id)
                await eventually(lambda: _no_load(second, client, acme), what="the load back to 0")
        finally:
            if call.pid is not None:
                await call.stop()


async def test_a_consulted_colleagues_leg_counts_on_her_site_while_it_lasts(
        ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances) -> None:
    """alice (London) consults bob (Leeds): bob's leg counts on Leeds and on the media node
    while it rings and talks, and is given back when the consult is cancelled."""
    async with call_with_alice(ccari, voice_env, openapi_conformance, ready_too=("bob",),
                               phones={"colleague": "bob"}) as scene:
        acme = {"Authorization": f"Bearer {scene.served[1]['acme.token']}"}
        async with aiohttp.ClientSession(scene.served[0]) as client:
            before = await sites(client, acme)
            assert (before["London"]["load_kbps"], before["Leeds"]["load_kbps"]) == (87.2, 0)
            assert await rest(scene.page, scene.cid, "consult", {"agent": "bob"}) == (
                200, {"type": "consulting", "contact_id": scene.cid})
            await answered_consult(ccari, scene.legs, scene.cid, 1)
            now = await sites(client, acme)
            assert (now["London"]["load_kbps"], now["Leeds"]["load_kbps"]) == (87.2, 87.2)
            assert (now["Leeds"]["calls"], now["London"]["calls"]) == (1, 1)
            assert isinstance(ccari.legs, SiteBandwidth)
            node = ccari.config.pbx.instance
            assert ccari.legs.loads.nodes([node]) == {node: 174.4}
            # Its channel shows what it was counted as (a restarted ccari counts it again).
            assert ccari.ari is not None
            media = await ccari.ari.get_var(f"cns-{scene.cid}-1", "CCARI_LEG_MEDIA")
            assert media == f"{scene.agents['bob'].tenant_id}:{scene.agents['bob'].site_id}:ulaw"
            cancelled = await command(scene.page, {"type": "call.consult_cancel",
                                                   "contact_id": scene.cid}, "consult-cancelled")
            assert cancelled["type"] == "consult-cancelled"
            await eventually(lambda: _leeds_empty(client, acme), what="Leeds' load back to 0")
            assert ccari.legs.loads.nodes([node]) == {node: 87.2}
            assert scene.live.channel_id is not None and ccari.voice is not None
            await ccari.voice.hangup(scene.live.channel_id)
            await eventually(lambda: nothing_left(ccari), what="no channel, no bridge")
            await eventually(lambda: _no_load(ccari, client, acme), what="no load")


async def _leeds_empty(client: Any, headers: dict[str, str]) -> bool:
    now = await sites(client, headers)
    return bool(now["Leeds"]["load_kbps"] == 0 and now["Leeds"]["calls"] == 0)
