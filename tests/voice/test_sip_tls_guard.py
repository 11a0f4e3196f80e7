"""A TLS phone's credentials over plain UDP, on the real Asterisk (an instance with the TLS
transport, alice's phone a ``sip-tls`` device): Asterisk 22 accepts them (no per-endpoint
inbound transport), ccari's guard sees the ``SuccessfulAuth`` over UDP, blocks the source at
once and removes the registration it made; the phone over TLS and an ordinary UDP phone go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from ccari.app import Runtime, runtime
from ccari.config import SecurityConfig
from ccari.pbx import PbxProcess
from ccari.security.models import SecurityBlock
from ccari.storage.models import Agent
from tests.support.sipp import SippResult, free_tcp_port, run_sipp
from tests.support.waits import eventually
from tests.voice.conftest import PHONE_IP
from tests.voice.test_sip_attacks import refused
from tests.voice.test_sip_tls_pbx import TLS_ARGS, TlsEnv, tls_pbx, tls_sipp  # noqa: F401 - fixture

pytestmark = pytest.mark.pbx

LEAK_IP = "127.0.0.9"  # someone with alice's TLS phone's password, over UDP
UDP_PHONE_IP = "127.0.0.10"  # bob's ordinary UDP phone
GUESSER_IP = "127.0.0.11"


@pytest.fixture
async def guard(tls_pbx: tuple[TlsEnv, PbxProcess],  # noqa: F811
                tmp_path: Path) -> AsyncIterator[Runtime]:
    env, _ = tls_pbx
    cfg = await env.prepare(f"sqlite+aiosqlite:///{tmp_path}/ccari.db")
    async with runtime(replace(cfg, security=SecurityConfig(block_s=60.0))) as rt:
        assert rt.security is not None
        await asyncio.wait_for(rt.security.ready.wait(), 15)
        yield rt


async def password(rt: Runtime, phone: str) -> str:
    async with rt.sessions() as s:
        return str(await s.scalar(select(Agent.phone_password).where(
            Agent.phone_username == phone)))


async def register_udp(env: TlsEnv, ip: str, user: str, secret: str) -> SippResult:
    return await run_sipp("register_guess.xml", env.env.sip_target, local_ip=ip, timeout_s=15,
                          params={"user": user, "password": secret, "expires": 120})


def contacts(proc: PbxProcess) -> str:
    """Asterisk's registrations (the CLI reads them as a call would: expired ones pruned)."""
    return proc.rx("pjsip show contacts")


async def test_a_tls_phones_password_over_udp_is_blocked_and_its_registration_removed(
        guard: Runtime, tls_pbx: tuple[TlsEnv, PbxProcess]) -> None:  # noqa: F811
    env, proc = tls_pbx
    assert guard.security is not None
    alice = await password(guard, "acme-alice")

    # Asterisk accepts the right password over UDP: it cannot tie an endpoint to TLS...
    leaked = await register_udp(env, LEAK_IP, "acme-alice", alice)
    assert leaked.responses == {401: 1, 200: 1}, leaked.describe()
    # ...ccari blocks the source at once (one offence) and removes what it registered
    await eventually(lambda: refused(env.env, LEAK_IP), 10,
                     "the UDP leg's source to be refused by Asterisk's ACL")

    async def unregistered() -> bool:
        return LEAK_IP not in await asyncio.to_thread(contacts, proc)

    await eventually(unregistered, 10, "the registration made over UDP to be removed")
    stored = await asyncio.to_thread(proc.rx, "database show registrar")
    assert LEAK_IP not in stored  # deleted by Asterisk, not only hidden
    assert "acme-alice" in await asyncio.to_thread(contacts, proc)  # her static TLS contact
    again = await register_udp(env, LEAK_IP, "acme-alice", alice)
    assert again.responses == {403: 1}, again.describe()
    async with guard.sessions() as s:
        [block] = await s.scalars(select(SecurityBlock))
    assert (block.address, block.reason) == (LEAK_IP, "TLS phone over UDP (acme-alice)")
    assert guard.security.breaches_total == 1

    # the phone itself, over TLS, registers as before
    tls = await run_sipp(
        "register_guess.xml", f"127.0.0.1:{env.tls_port}", local_ip=PHONE_IP, timeout_s=15,
        local_port=free_tcp_port(PHONE_IP), binary=tls_sipp(),
        params={"user": "acme-alice", "password": alice, "expires": 0},
        files=env.pem_files(), extra_args=["-t", "l1", *TLS_ARGS])
    assert tls.responses == {401: 1, 200: 1}, tls.describe()
    # an ordinary UDP phone registers over UDP, and stays registered
    bob = await register_udp(env, UDP_PHONE_IP, "acme-bob", await password(guard, "acme-bob"))
    assert bob.responses == {401: 1, 200: 1}, bob.describe()

    # One wrong password after them: the guard handles Asterisk's security events in order,
    # so once it has counted this failure it has judged both authentications above.
    failures = guard.security.failures_total
    await register_udp(env, GUESSER_IP, "acme-bob", "a-wrong-password")

    async def counted() -> bool:
        assert guard.security is not None
        return guard.security.failures_total > failures

    await eventually(counted, 10, "the guard to count the wrong password")
    assert guard.security.breaches_total == 1
    assert list(guard.security.tracker.blocked(block.until.timestamp() - 1)) == [LEAK_IP]
    assert f"acme-bob@{UDP_PHONE_IP}" in await asyncio.to_thread(contacts, proc)


CALLER_IP = "127.0.0.12"


async def test_a_call_placed_with_a_tls_phones_password_over_udp_is_refused_and_blocked(
        guard: Runtime, tls_pbx: tuple[TlsEnv, PbxProcess]) -> None:  # noqa: F811
    env, _ = tls_pbx
    assert guard.security is not None
    params = {"user": "acme-alice", "password": await password(guard, "acme-alice")}
    call = await run_sipp("invite_as_phone.xml", env.env.sip_target, local_ip=CALLER_IP,
                          params=params, timeout_s=15)
    # authenticated, then refused, never answered: 488 for its plain RTP offer (the phone is
    # SDES-only), 403 from from-phones with an SRTP one (agents' phones cannot dial)
    assert call.ok and call.responses.get(401) == 1, call.describe()
    assert call.responses.keys() & {403, 488} and 200 not in call.responses, call.describe()
    await eventually(lambda: refused(env.env, CALLER_IP), 10, "the caller's source blocked")
    again = await run_sipp("invite_as_phone.xml", env.env.sip_target, local_ip=CALLER_IP,
                           params=params, timeout_s=15)
    assert again.responses == {403: 1}, again.describe()
    assert guard.security.breaches_total == 1
