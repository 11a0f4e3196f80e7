"""A tenant built from nothing through the provisioning API only reaches its agents on the
real Asterisk: the number and the phones are reloaded into it (no restart), and a SIPp call
through a two-level IVR rings the agent with the skills the digits chose."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app
from tests.support.sipp import free_port
from tests.voice.conftest import PHONE_IP, VoiceEnv
from tests.voice.provisioned import call_reaches_the_upgrade_agent

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

    # The agents are ready; the caller's 1 then 2 reaches eve (sales, upgrade) only.
    await call_reaches_the_upgrade_agent(ccari, voice_env, "initech", DID, ports)
