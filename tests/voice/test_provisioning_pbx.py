"""A tenant built from nothing through the provisioning API only reaches its agents on the
real Asterisk: the number and the phones are reloaded into it (no restart), and a SIPp call
through a two-level IVR rings the agent with the skills the digits chose."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app
from ccari.pbx import PbxProcess
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


async def test_deleting_a_tenant_takes_its_number_and_phones_out_of_asterisk_only(
        ccari: Runtime, voice_pbx: PbxProcess, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """No restart: the same Asterisk loses the tenant's endpoint and DID and keeps acme's."""
    client: TestClient = await aiohttp_client(internal_app(ccari))
    await created(await client.post("/api/tenants", headers=ADMIN,
                                    json={"slug": "initech", "name": "Initech"}))
    base = "/api/tenants/initech"
    await created(await client.post(f"{base}/agents", headers=ADMIN, json={
        "username": "dora", "name": "Dora", "phone_username": "initech-dora",
        "phone_password": "dora-phone-secret", "web_password": "dora-web-secret",
        "phone_contact": f"sip:initech-dora@{PHONE_IP}:{free_port(PHONE_IP)}"}))
    await created(await client.post(f"{base}/numbers", headers=ADMIN, json={"did": f"+{DID}"}))
    started = voice_pbx.rx("core show uptime seconds")

    def endpoints() -> set[str]:
        return set(re.findall(r"Endpoint:\s+(\S+?)(?:/\S+)?\s", voice_pbx.rx("pjsip show endpoints")))

    assert {"initech-dora", "acme-alice", "globex-carol"} <= endpoints()
    assert f"'{DID}' =>" in voice_pbx.rx("dialplan show from-carrier")

    resp = await client.delete(base, headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200 and body["deleted"] == "initech", body
    assert body["pbx"].startswith("reloaded"), body
    now = endpoints()
    assert "initech-dora" not in now and {"acme-alice", "globex-carol"} <= now
    plan = voice_pbx.rx("dialplan show from-carrier")
    assert f"'{DID}' =>" not in plan and "'15550100' =>" in plan  # acme's stays
    system_uptime = re.search(r"System uptime:\s*(\d+)", started)
    later = re.search(r"System uptime:\s*(\d+)", voice_pbx.rx("core show uptime seconds"))
    assert system_uptime and later and int(later[1]) >= int(system_uptime[1])  # not restarted
