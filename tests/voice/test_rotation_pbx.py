"""An agent's SIP password rotated through the provisioning API on the real Asterisk: the
phone authenticates with the old password before, gets 401 with it right after (no
restart), the new one works at once, and the agent's call in progress goes on."""

from __future__ import annotations

import secrets

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app
from ccari.storage.models import Contact
from tests.support.sipp import Sipp, SippResult, free_port, run_sipp
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually

pytestmark = pytest.mark.pbx

ADMIN = {"Authorization": "Bearer voice-admin-token"}
PHONE = "acme-rota"
REGISTER_IP = "127.0.0.7"  # the phone's REGISTERs (the SIP attack guard counts per address)


async def register(env: VoiceEnv, password: str) -> SippResult:
    """One authenticated REGISTER (expires 0: nothing kept, the digest checked all the same)."""
    return await run_sipp("register_guess.xml", env.sip_target, local_ip=REGISTER_IP,
                          params={"user": PHONE, "password": password, "expires": 0},
                          timeout_s=15)


def accepted(result: SippResult) -> bool:
    return result.responses.get(200) == 1


async def call_in(rt: Runtime, state: str) -> Contact | None:
    async with rt.sessions() as s:
        row = await s.scalar(select(Contact).where(Contact.caller_number == "15551237777"))
    return row if row is not None and row.state == state else None


async def test_a_rotated_sip_password_works_at_once_the_old_one_is_refused_and_the_call_goes_on(
        ccari: Runtime, voice_env: VoiceEnv, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = await aiohttp_client(internal_app(ccari))
    first = secrets.token_urlsafe(18)
    port = free_port(PHONE_IP)
    resp = await client.post("/api/tenants/acme/agents", headers=ADMIN, json={
        "username": "rota", "name": "Rota", "site": "London",
        "skills": [{"name": "skill", "value": "sales", "level": 9}],
        "phone_username": PHONE, "phone_password": first,
        "phone_contact": f"sip:{PHONE}@{PHONE_IP}:{port}", "web_password": "rota-web-secret"})
    assert resp.status == 201 and (await resp.json())["pbx"].startswith("reloaded")
    try:
        before = await register(voice_env, first)
        assert accepted(before), before.describe()

        async with ccari.sessions() as s:
            rota = await agents_repo.by_login(s, "acme", "rota")
        assert rota is not None
        assert await ccari.queue.set_presence(rota, "ready") == "ready"
        phone = Sipp("agent_uas.xml", local_ip=PHONE_IP, local_port=port, calls=1,
                     params={"agent": PHONE}, timeout_s=60)
        async with phone:
            call = Sipp("caller_dtmf.xml", voice_env.sip_target, service="15550100",
                        local_ip=CARRIER_IP, timeout_s=60, recv_timeout_ms=30000,
                        params={"digits": "1", "dtmf_after_ms": 500, "hangup_after_ms": 9000,
                                "caller": "15551237777"})
            await call.start()
            talking = await eventually(lambda: call_in(ccari, "connected"), 20,
                                       "the caller connected to rota's phone")
            assert talking.agent_id == rota.id

            resp = await client.post("/api/tenants/acme/agents/rota/phone_password",
                                     headers=ADMIN)
            rotated = await resp.json()
            assert resp.status == 200, rotated
            assert "res_pjsip" in rotated["pbx"], rotated
            new = rotated["phone_password"]

            old = await register(voice_env, first)
            assert not accepted(old) and old.responses.get(401) == 2, old.describe()
            fresh = await register(voice_env, new)
            assert accepted(fresh), fresh.describe()
            assert await call_in(ccari, "connected") is not None  # still talking

            result = await call.wait()  # the caller hangs up after 9 s of talk
            assert result.ok, result.describe()
        done = await eventually(lambda: call_in(ccari, "completed"), 10, "the call completed")
        assert done.disposition == "caller-hangup" and done.talk_s > 6
        assert (await phone.result()).requests.get("INVITE") == 1
    finally:
        async with ccari.sessions() as s:
            rota = await agents_repo.by_login(s, "acme", "rota")
        if rota is not None:  # (its phone stays in Asterisk until the next test's sync)
            await ccari.queue.set_presence(rota, "logged_out")
