"""A tenant built from nothing through the provisioning API only reaches its agents on the
real Asterisk: the number and the phones are reloaded into it (no restart), and a SIPp call
through a two-level IVR rings the agent with the skills the digits chose."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app
from ccari.storage.models import Contact
from tests.support.sipp import Sipp, free_port
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually

pytestmark = pytest.mark.pbx

ADMIN = {"Authorization": "Bearer voice-admin-token"}
DID = "15550300"


async def created(resp) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = await resp.json()
    assert resp.status == 201, body
    return body  # type: ignore[no-any-return]


async def test_a_tenant_built_through_the_api_takes_a_call_through_its_two_level_ivr(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = await aiohttp_client(internal_app(ccari))
    made = await created(await client.post("/api/tenants", headers=ADMIN,
                                           json={"slug": "initech", "name": "Initech"}))
    own = {"Authorization": f"Bearer {made['api_token']}"}
    base = "/api/tenants/initech"
    # Level 2: which plan; level 1: sales (into level 2) or support.
    await created(await client.post(f"{base}/menus", headers=own, json={
        "name": "plans", "prompt": "please-hold", "options": [
            {"digit": "1", "label": "new line", "attributes": {"plan": "new"}},
            {"digit": "2", "label": "upgrade", "attributes": {"plan": "upgrade"}}]}))
    await created(await client.post(f"{base}/menus", headers=own, json={
        "name": "main", "prompt": "welcome", "options": [
            {"digit": "1", "label": "sales", "attributes": {"skill": "sales"}, "menu": "plans"},
            {"digit": "2", "label": "support", "attributes": {"skill": "support"}}]}))
    ports = {name: free_port(PHONE_IP) for name in ("dora", "eve")}
    for name, plan in (("dora", "new"), ("eve", "upgrade")):
        body = await created(await client.post(f"{base}/agents", headers=own, json={
            "username": name, "name": name.title(), "site": "Austin",
            "skills": [{"name": "skill", "value": "sales", "level": 8},
                       {"name": "plan", "value": plan, "level": 6}],
            "phone_username": f"initech-{name}", "phone_password": f"{name}-phone-secret",
            "phone_contact": f"sip:initech-{name}@{PHONE_IP}:{ports[name]}",
            "web_password": f"{name}-web-secret"}))
        assert body["pbx"].startswith("reloaded"), body  # the new phone is in Asterisk now
    number = await created(await client.post(f"{base}/numbers", headers=ADMIN,
                                             json={"did": f"+{DID}", "menu": "main"}))
    assert "dialplan reload" in number["pbx"], number

    # The agents log in (as the agent page would) and are ready.
    agents = {}
    async with ccari.sessions() as s:
        for name in ports:
            agents[name] = await agents_repo.by_login(s, "initech", name)
    for agent in agents.values():
        assert await ccari.queue.set_presence(agent, "ready") == "ready"

    def phone(name: str) -> Sipp:
        return Sipp("agent_uas.xml", local_ip=PHONE_IP, local_port=ports[name], calls=None,
                    params={"agent": f"initech-{name}"}, timeout_s=60)

    async with phone("dora") as dora, phone("eve") as eve:
        call = Sipp("caller_dtmf.xml", voice_env.sip_target, service=DID, local_ip=CARRIER_IP,
                    params={"digits": "12", "dtmf_after_ms": 800, "hangup_after_ms": 6000,
                            "caller": "15551239999"}, timeout_s=60, recv_timeout_ms=30000)
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()

        async def completed() -> Contact | None:
            async with ccari.sessions() as s:
                row = await s.scalar(select(Contact).where(Contact.caller_number == "15551239999"))
            return row if row is not None and row.state == "completed" else None

        done = await eventually(completed, what="the call completed")
    assert (await eve.result()).requests.get("INVITE") == 1
    assert not (await dora.result()).requests.get("INVITE")
    assert done.agent_id == agents["eve"].id
    assert done.attributes == {"skill": "sales", "plan": "upgrade"}
    assert done.meta["ivr"] == ["1", "2"]
