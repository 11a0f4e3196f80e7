"""SIP attacks on the real PBX: ccari watches Asterisk's security events and blocks the
source in a PJSIP ACL, while the carrier is served; blocks expire and survive a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from ccari.app import Runtime, internal_app, runtime
from ccari.config import Config, SecurityConfig
from ccari.pbx import PbxProcess
from ccari.security.models import SecurityBlock
from ccari.storage.models import Contact
from tests.support.sipp import Sipp, SippResult, run_sipp
from tests.support.waits import eventually
from tests.voice.conftest import CARRIER_IP, VoiceEnv

ATTACKER_IP = "127.0.0.5"
SCANNER_IP = "127.0.0.6"
STRANGER_IP = "127.0.0.7"
ADMIN = {"Authorization": "Bearer voice-admin-token"}


def guarded(cfg: Config, block_s: float = 30.0) -> Config:
    return replace(cfg, security=SecurityConfig(max_failures=3, window_s=30.0, block_s=block_s))


@pytest.fixture
async def guard(voice_cfg: Config) -> AsyncIterator[Runtime]:
    async with runtime(guarded(voice_cfg)) as rt:
        assert rt.security is not None
        await asyncio.wait_for(rt.security.ready.wait(), 15)
        yield rt


def acl_file(pbx: PbxProcess) -> str:
    return (pbx.paths.etc / "ccari-acl.conf").read_text()


async def refused(env: VoiceEnv, ip: str) -> bool:
    """A REGISTER from ``ip`` is answered 403 at once (Asterisk's ACL), not challenged."""
    result = await guess(env, ip, 1)
    return result.responses == {403: 1}


async def guess(env: VoiceEnv, ip: str, calls: int) -> SippResult:
    return await run_sipp("register_guess.xml", env.sip_target, local_ip=ip, calls=calls,
                          rate=20, timeout_s=20)


async def test_password_guessing_blocks_the_source_while_the_carrier_is_served(
    guard: Runtime, voice_env: VoiceEnv, voice_pbx: PbxProcess, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    carrier = Sipp("caller_abandon.xml", voice_env.sip_target, service="15550200",
                   local_ip=CARRIER_IP, params={"hangup_after_ms": 5000}, timeout_s=20)
    await carrier.start()

    async def carrier_in_queue() -> bool:
        async with guard.sessions() as s:
            return (await s.scalar(select(Contact).where(Contact.state == "queued"))) is not None

    await eventually(carrier_in_queue, 10, "the carrier's call to be queued")
    first = await guess(voice_env, ATTACKER_IP, 6)
    assert first.responses.get(401), first.describe()  # the guesses were challenged/refused

    await eventually(lambda: refused(voice_env, ATTACKER_IP), 10,
                     "the attacker's REGISTER to be refused by Asterisk's ACL")
    after = await guess(voice_env, ATTACKER_IP, 3)
    assert after.responses == {403: 3}, after.describe()
    assert await carrier_in_queue()  # the carrier's call went on through the ACL reload

    served = await carrier.wait()
    assert served.ok, served.describe()  # answered, queued, hung up by the caller

    client = await aiohttp_client(internal_app(guard))
    resp = await client.get("/api/security/blocks?active=1", headers=ADMIN)
    blocks = (await resp.json())["blocks"]
    assert [b["address"] for b in blocks] == [ATTACKER_IP]
    assert blocks[0]["reason"].startswith("ChallengeResponseFailed")
    assert f"deny = {ATTACKER_IP}/32" in acl_file(voice_pbx)
    assert CARRIER_IP not in acl_file(voice_pbx)


async def sweep(env: VoiceEnv, scenario: str, ip: str, users: list[str],
                rate: float = 20) -> SippResult:
    return await run_sipp(scenario, env.sip_target, local_ip=ip, calls=len(users), rate=rate,
                          inject=[[u] for u in users], timeout_s=20)


SWEEP = [f"{n}" for n in range(100, 112)]


@pytest.mark.parametrize(("scenario", "users"), [
    ("scanner.xml", SWEEP),  # OPTIONS to guessed users
    ("scanner_invite.xml", SWEEP),  # INVITEs to guessed users
    ("scanner_invite.xml", ["15550100"] * 12),  # an INVITE flood to a tenant's number
], ids=["options-sweep", "invite-sweep", "invite-flood"])
async def test_a_scanners_sweep_is_blocked_and_the_block_expires(
    voice_cfg: Config, voice_env: VoiceEnv, scenario: str, users: list[str]
) -> None:
    async with runtime(guarded(voice_cfg, block_s=3.0)) as rt:
        assert rt.security is not None
        await asyncio.wait_for(rt.security.ready.wait(), 15)
        swept = await sweep(voice_env, scenario, SCANNER_IP, users)
        assert swept.ok, swept.describe()
        assert 403 in swept.responses, swept.describe()  # blocked within the sweep
        assert list(rt.security.tracker.blocked(time.time())) == [SCANNER_IP]
        async with rt.sessions() as s:
            [block] = await s.scalars(select(SecurityBlock))
        assert block.reason.startswith("InvalidAccountID")  # unknown users, unauthenticated
        assert await refused(voice_env, SCANNER_IP)
        # the block ends by itself: challenged again, like anyone
        await eventually(lambda: challenged(voice_env, SCANNER_IP), 15,
                         "the scanner's block to expire")


async def challenged(env: VoiceEnv, ip: str) -> bool:
    result = await guess(env, ip, 1)
    return 401 in result.responses


async def test_a_block_survives_a_restart_of_ccari_and_the_admin_lifts_it(
    voice_cfg: Config, voice_env: VoiceEnv, voice_pbx: PbxProcess, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    cfg = guarded(voice_cfg)
    async with runtime(cfg) as rt:
        assert rt.security is not None
        await asyncio.wait_for(rt.security.ready.wait(), 15)
        await guess(voice_env, ATTACKER_IP, 4)
        await eventually(lambda: refused(voice_env, ATTACKER_IP), 10, "the attacker blocked")
    # Asterisk forgets the block (its ACL file emptied and reloaded) while ccari is away...
    (voice_pbx.paths.etc / "ccari-acl.conf").write_text("; emptied by the test\n")
    await asyncio.to_thread(voice_pbx.rx, "module reload res_pjsip.so")
    assert await challenged(voice_env, ATTACKER_IP)
    # ...and ccari puts it back from its database when it starts again
    async with runtime(cfg) as rt:
        assert rt.security is not None
        await asyncio.wait_for(rt.security.ready.wait(), 15)
        assert await refused(voice_env, ATTACKER_IP)
        client = await aiohttp_client(internal_app(rt))
        resp = await client.delete(f"/api/security/blocks/{ATTACKER_IP}", headers=ADMIN)
        assert resp.status == 200, await resp.text()
        assert await challenged(voice_env, ATTACKER_IP)


async def test_nothing_unauthenticated_reaches_stasis_but_the_carrier(
    ccari: Runtime, voice_env: VoiceEnv, voice_pbx: PbxProcess
) -> None:
    for ip in (STRANGER_IP, "127.0.0.1"):  # anyone, and the agents' phones' own address
        result = await sweep(voice_env, "scanner_invite.xml", ip, ["15550100", "15550200"])
        assert result.ok and result.responses == {401: 2}, result.describe()
    async with ccari.sessions() as s:
        assert list(await s.scalars(select(Contact))) == []
    carrier = await run_sipp("caller_abandon.xml", voice_env.sip_target, service="15550100",
                             local_ip=CARRIER_IP, params={"hangup_after_ms": 500}, timeout_s=15)
    assert carrier.ok, carrier.describe()
    async with ccari.sessions() as s:
        assert len(list(await s.scalars(select(Contact)))) == 1


async def test_a_slow_scanner_is_counted_request_by_request(
    guard: Runtime, voice_env: VoiceEnv
) -> None:
    """Asterisk reports each unauthenticated request to an unknown user, not only bursts
    (PJSIP's unidentified_request_count, 5 in 5 s): ccari's window alone decides."""
    swept = await sweep(voice_env, "scanner.xml", SCANNER_IP, ["200", "201", "202", "203"],
                        rate=1)
    assert swept.ok and 403 in swept.responses, swept.describe()
