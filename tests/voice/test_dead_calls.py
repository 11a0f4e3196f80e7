"""Dead calls and unreachable agent phones on the real Asterisk (instances of their own).

* ``dead`` instance: ``pbx.dead_call_s = 4``.  A carrier caller sends its DTMF (RTP), then
  nothing: no media, no BYE.  Asterisk's rtp_timeout ends the call within the set time,
  the contact says ``media-timeout`` (with cause 44 in its event log, on the API too) and
  the tenant's trunk is released.
* ``qualify`` instance: ``pbx.agent_qualify_s = 1``.  Alice's phone (a static contact on a
  port where nothing listens) is unreachable: her page says so and she is offered no call
  while Bob, whose phone answers OPTIONS, is; once a phone answers on her port she is
  offered the waiting call, keeping the "ready" she chose.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from ccari.admission.models import TrunkCall
from ccari.app import Runtime, internal_app, runtime
from ccari.config import PbxConfig
from ccari.pbx import PbxProcess
from ccari.storage.models import Contact
from tests.support.pbx import start_from_db
from tests.support.sipp import Sipp, free_port
from tests.support.waits import eventually
from tests.voice.conftest import CARRIER_IP, PHONE_IP, PHONES, VoiceEnv, pbx_counts, prepare_db
from tests.voice.test_voice_pbx import phone, ready

pytestmark = pytest.mark.pbx

DEAD_CALL_S = 4


def _env(tmp_path_factory: pytest.TempPathFactory, kind: str, **pbx: int) -> VoiceEnv:
    name = f"{kind}{os.getpid()}"
    config = PbxConfig(
        instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
        ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        rtp_start=12000, rtp_end=19998, carrier_match=(CARRIER_IP,), **pbx,  # type: ignore[arg-type]
    )
    return VoiceEnv(tmp_path_factory.mktemp(f"{kind}-state"),
                    {p: free_port(PHONE_IP) for p in PHONES}, config)


def _start(env: VoiceEnv, tmp_path_factory: pytest.TempPathFactory) -> PbxProcess:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('spec-db')}/spec.db"
    return start_from_db(lambda: prepare_db(env, url))


@pytest.fixture(scope="module")
def dead_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    env = _env(tmp_path_factory, "dead", dead_call_s=DEAD_CALL_S, agent_qualify_s=0)
    proc = _start(env, tmp_path_factory)
    yield env, proc
    proc.stop()


@pytest.fixture(scope="module")
def qualify_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VoiceEnv, PbxProcess]]:
    env = _env(tmp_path_factory, "qualify", agent_qualify_s=1)
    proc = _start(env, tmp_path_factory)
    yield env, proc
    proc.stop()


async def _ccari(env: VoiceEnv, proc: PbxProcess, tmp: str) -> AsyncIterator[Runtime]:
    cfg = await prepare_db(env, f"sqlite+aiosqlite:///{tmp}/ccari.db")
    async with runtime(cfg) as rt:
        yield rt

    async def clean() -> bool:
        return await asyncio.to_thread(pbx_counts, proc) == (0, 0)

    await eventually(clean, 15, "Asterisk to have no channel and no bridge left")


@pytest.fixture
async def dead_ccari(dead_env: tuple[VoiceEnv, PbxProcess], tmp_path) -> AsyncIterator[Runtime]:  # type: ignore[no-untyped-def]
    async for rt in _ccari(*dead_env, str(tmp_path)):
        yield rt


@pytest.fixture
async def qualify_ccari(qualify_env: tuple[VoiceEnv, PbxProcess], tmp_path) -> AsyncIterator[Runtime]:  # type: ignore[no-untyped-def]
    async for rt in _ccari(*qualify_env, str(tmp_path)):
        yield rt


async def _contacts(rt: Runtime) -> list[Contact]:
    async with rt.sessions() as s:
        return list(await s.scalars(select(Contact).order_by(Contact.arrived_at)))


async def _live_trunks(rt: Runtime) -> int:
    async with rt.sessions() as s:
        return await s.scalar(select(func.count()).select_from(TrunkCall)) or 0


def _silent_caller(env: VoiceEnv, digits: str, wait_bye_ms: int) -> Sipp:
    """A carrier caller that sends its DTMF (RTP) a second in, then no media and no BYE: it
    only answers the BYE Asterisk sends (``wait_bye_ms`` at most)."""
    return Sipp("caller_dtmf.xml", env.sip_target, service="15550100", local_ip=CARRIER_IP,
                params={"digits": digits, "dtmf_after_ms": 1000, "hangup_after_ms": wait_bye_ms},
                timeout_s=60)


async def test_a_silent_carrier_call_ends_as_media_timeout_and_frees_its_trunk(
    dead_ccari: Runtime, dead_env: tuple[VoiceEnv, PbxProcess], aiohttp_client
) -> None:
    rt, env = dead_ccari, dead_env[0]
    sipp = _silent_caller(env, "1", 30_000)  # sales; nobody is ready: it waits in the queue
    await sipp.start()

    async def queued() -> Contact | None:
        rows = await _contacts(rt)
        return rows[0] if rows and rows[0].state == "queued" else None

    contact = await eventually(queued, 15, "the call to be queued")
    queued_at = time.monotonic()
    assert await _live_trunks(rt) == 1
    assert await rt.admission.outstanding(contact.tenant_id) == 1  # type: ignore[union-attr]

    async def ended() -> Contact | None:
        rows = await _contacts(rt)
        return rows[0] if rows[0].disposition == "media-timeout" else None

    done = await eventually(ended, DEAD_CALL_S + 6, "Asterisk to end the silent call")
    # The DTMF was the last RTP: the call ends DEAD_CALL_S after it, not later.
    assert time.monotonic() - queued_at <= DEAD_CALL_S + 3
    assert done.state == "abandoned"
    result = await sipp.wait()
    assert result.ok and result.requests.get("BYE") == 1, result.describe()  # Asterisk hung up

    async def released() -> bool:
        return await _live_trunks(rt) == 0

    await eventually(released, 5, "the trunk released")
    assert await rt.admission.outstanding(contact.tenant_id) == 0  # type: ignore[union-attr]
    assert rt.queue.view(contact.id) is None  # not in the queue any more

    client: TestClient = await aiohttp_client(internal_app(rt))
    token = json.loads((env.state_dir / "demo-secrets.json").read_text())["acme.token"]
    resp = await client.get(f"/api/contacts/{contact.id}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["disposition"] == "media-timeout"
    cause = [e for e in body["events"] if e["kind"] == "media-timeout"]
    assert len(cause) == 1 and cause[0]["data"]["cause"] == 44, body["events"]


async def test_a_caller_who_hangs_up_is_not_a_dead_call(
    dead_ccari: Runtime, dead_env: tuple[VoiceEnv, PbxProcess]
) -> None:
    rt, env = dead_ccari, dead_env[0]
    sipp = _silent_caller(env, "1", 1500)  # hangs up itself 1.5 s after its DTMF
    await sipp.start()
    result = await sipp.wait()
    assert result.ok and not result.requests.get("BYE"), result.describe()

    async def ended() -> Contact | None:
        rows = await _contacts(rt)
        return rows[0] if rows and rows[0].state == "abandoned" else None

    done = await eventually(ended, 10, "the contact to end")
    assert done.disposition == "abandoned-in-queued"
    assert await _live_trunks(rt) == 0


async def _page(client: TestClient, rt: Runtime, agent_id: int, tenant_id: int) -> str:
    cookie = rt.signer.dump(agent_id, tenant_id)
    resp = await client.get("/agent", cookies={"ccari_agent": cookie})
    assert resp.status == 200
    return await resp.text()


def _shows_unreachable(html: str) -> bool:
    tag = re.search(r'<span id="phone"[^>]*>', html)
    assert tag is not None, "the agent page has no phone indicator"
    return " hidden" not in tag.group(0)


async def test_unreachable_phone_gets_no_call_until_it_answers_again(
    qualify_ccari: Runtime, qualify_env: tuple[VoiceEnv, PbxProcess], aiohttp_client
) -> None:
    rt, env = qualify_ccari, qualify_env[0]
    agents = await ready(rt, "alice", "bob")
    alice, bob = agents["alice"], agents["bob"]
    client: TestClient = await aiohttp_client(internal_app(rt))
    async with phone(env, "bob", "agent_qualify.xml"):  # answers OPTIONS; alice's port is dead

        async def phones_known() -> bool:
            return not rt.queue.phone_reachable(alice.id) and rt.queue.phone_reachable(bob.id)

        await eventually(phones_known, 15, "alice unreachable and bob reachable")
        assert _shows_unreachable(await _page(client, rt, alice.id, alice.tenant_id))
        assert not _shows_unreachable(await _page(client, rt, bob.id, bob.tenant_id))
        # Her own choice is kept: she is still ready, just not offered calls.
        assert rt.queue.agent_state(alice.id) == "ready"

        # Support (2) goes to bob, whose phone answers.
        support = Sipp("caller_dtmf.xml", env.sip_target, service="15550100", local_ip=CARRIER_IP,
                       params={"digits": "2", "dtmf_after_ms": 500, "hangup_after_ms": 3000},
                       timeout_s=30)
        await support.start()

        async def bob_connected() -> Contact | None:
            rows = [c for c in await _contacts(rt) if c.agent_id == bob.id]
            return rows[0] if rows and rows[0].state == "connected" else None

        await eventually(bob_connected, 15, "the support call connected to bob")
        assert (await support.wait()).ok

        # Sales (1) is alice's only: it waits, never offered to her unreachable phone.
        sales = Sipp("caller_dtmf.xml", env.sip_target, service="15550100", local_ip=CARRIER_IP,
                     params={"digits": "1", "dtmf_after_ms": 500, "hangup_after_ms": 20_000},
                     timeout_s=40)
        await sales.start()

        async def sales_queued() -> Contact | None:
            rows = [c for c in await _contacts(rt) if c.agent_id != bob.id]
            return rows[0] if rows and rows[0].state == "queued" else None

        waiting = await eventually(sales_queued, 15, "the sales call queued")
        assert waiting.offer_count == 0
        assert rt.queue.router.snapshot().offers == ()
        assert rt.queue.agent_state(alice.id) == "ready"

        # Her phone comes back (answers OPTIONS): she is offered the call and answers it.
        async with phone(env, "alice", "agent_qualify.xml", hangup_after_ms=1000):

            async def alice_connected() -> Contact | None:
                async with rt.sessions() as s:
                    row = await s.get(Contact, waiting.id)
                return row if row is not None and row.state in ("connected", "completed") else None

            answered = await eventually(alice_connected, 15, "the sales call connected to alice")
            assert answered.agent_id == alice.id and answered.offer_count == 1
            assert rt.queue.phone_reachable(alice.id)
            assert not _shows_unreachable(await _page(client, rt, alice.id, alice.tenant_id))

            async def done() -> bool:
                async with rt.sessions() as s:
                    row = await s.get(Contact, waiting.id)
                return row is not None and row.state == "completed"

            await eventually(done, 10, "alice to end the call")
        assert (await sales.wait()).ok
