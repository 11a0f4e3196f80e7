"""The voice ACD on the real Asterisk: SIPp plays the carrier and the agents' phones."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ccari.agents import repo as agents_repo
from ccari.app import Runtime
from ccari.storage.models import Agent, Contact, ContactEvent, Queue
from tests.support.sipp import Sipp, run_sipp
from tests.voice.conftest import CARRIER_IP, PHONE_IP, VoiceEnv, eventually

pytestmark = pytest.mark.pbx


async def ready(rt: Runtime, *usernames: str) -> dict[str, Agent]:
    agents = {}
    async with rt.sessions() as s:
        for name in usernames:
            tenant = "globex" if name == "carol" else "acme"  # sam: acme supervisor
            agent = await agents_repo.by_login(s, tenant, name)
            assert agent is not None
            agents[name] = agent
    for agent in agents.values():
        assert await rt.queue.set_presence(agent, "ready") == "ready"
    return agents


def phone(env: VoiceEnv, name: str, scenario: str = "agent_uas.xml", **params: object) -> Sipp:
    full = {"alice": "acme-alice", "bob": "acme-bob", "sam": "acme-sam",
            "carol": "globex-carol"}[name]
    return Sipp(scenario, local_ip=PHONE_IP, local_port=env.phone_ports[full], calls=None,
                params={"agent": full, **params}, timeout_s=60)


def caller(env: VoiceEnv, did: str = "15550100", **params: object) -> Sipp:
    return Sipp("caller_dtmf.xml", env.sip_target, service=did, local_ip=CARRIER_IP,
                params=params, timeout_s=60, recv_timeout_ms=30000)


async def contacts(rt: Runtime) -> list[Contact]:
    async with rt.sessions() as s:
        return list(await s.scalars(select(Contact).order_by(Contact.arrived_at)))


async def one_contact_in(rt: Runtime, *states: str) -> Contact | None:
    rows = await contacts(rt)
    return rows[0] if len(rows) == 1 and rows[0].state in states else None


@pytest.mark.parametrize(("digit", "skilled", "other"), [("1", "alice", "bob"), ("2", "bob", "alice")])
async def test_ivr_choice_routes_to_the_skilled_agent_only(
    ccari: Runtime, voice_env: VoiceEnv, digit: str, skilled: str, other: str
) -> None:
    agents = await ready(ccari, "alice", "bob")
    async with phone(voice_env, skilled) as right, phone(voice_env, other) as wrong:
        call = caller(voice_env, digits=digit, dtmf_after_ms=800, hangup_after_ms=7000,
                      caller="15550199")
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed contact")
    right_result, wrong_result = await right.result(), await wrong.result()
    assert right_result.requests.get("INVITE") == 1, right_result.describe()
    assert not wrong_result.requests.get("INVITE"), wrong_result.describe()
    assert done.agent_id == agents[skilled].id
    assert done.attributes["skill"] == {"1": "sales", "2": "support"}[digit]
    assert done.disposition == "caller-hangup"
    assert done.queued_at >= done.arrived_at and done.connected_at >= done.queued_at
    assert done.ended_at > done.connected_at
    assert 0 <= done.wait_s < 5 and 2 < done.talk_s < 7.5
    assert done.customer_id is not None  # 15550199 is Ada Lovelace's number


async def test_caller_who_abandons_in_queue_leaves_no_channel(ccari: Runtime, voice_env: VoiceEnv) -> None:
    # Nobody is ready: the caller waits in the queue with music, then gives up.
    result = await run_sipp("caller_dtmf.xml", voice_env.sip_target, service="15550100",
                            local_ip=CARRIER_IP, params={"digits": "1", "hangup_after_ms": 4000},
                            timeout_s=30)
    assert result.ok, result.describe()
    gone = await eventually(lambda: one_contact_in(ccari, "abandoned"), what="abandoned contact")
    assert gone.disposition == "abandoned-in-queued"
    assert gone.agent_id is None and gone.wait_s > 1
    # The voice_cfg fixture then checks that Asterisk has no channel and no bridge left.


async def ring_timeout(rt: Runtime, seconds: int) -> None:
    """Every queue rings an agent's phone this long."""
    async with rt.sessions() as s:
        for q in await s.scalars(select(Queue)):
            q.ring_timeout_s = seconds
        await s.commit()


async def test_unanswered_offer_requeues_caller_and_sets_agent_not_ready(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    await ring_timeout(ccari, 3)
    agents = await ready(ccari, "alice")
    async with phone(voice_env, "alice", "agent_noanswer.xml") as alice:
        call = caller(voice_env, digits="1", hangup_after_ms=0)
        await call.start()
        offered = await eventually(lambda: one_contact_in(ccari, "offered"), what="offer to alice")
        assert offered.agent_id == agents["alice"].id
        back = await eventually(lambda: one_contact_in(ccari, "queued"), what="re-queue", timeout=10)
        assert back.agent_id is None and back.offer_count == 1
        assert ccari.queue.agent_state(agents["alice"].id) == "not_ready"
        assert ccari.queue.view(back.id).position == 1  # still at the front
        # The caller is still there, on hold; now bob... is support. Hang up the caller.
        assert ccari.voice is not None
        await ccari.voice._hangup(back.channel_id, "normal")
        result = await call.wait()
    assert (await alice.result()).requests.get("INVITE") == 1
    assert result.requests.get("BYE") == 1
    await eventually(lambda: one_contact_in(ccari, "abandoned"), what="abandon after requeue")


async def test_an_agent_logging_out_while_her_phone_rings_ends_the_ring(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    """She logs out while a call rings her phone: the ring stops (her phone gets the
    CANCEL), the caller goes back to the front of the queue at once, and it is not counted
    as her miss; nobody is left reserved by the call."""
    await ring_timeout(ccari, 30)
    agents = await ready(ccari, "alice")
    async with phone(voice_env, "alice", "agent_noanswer.xml") as alice:
        call = caller(voice_env, digits="1", hangup_after_ms=0)
        await call.start()
        offered = await eventually(lambda: one_contact_in(ccari, "offered"), what="offer to alice")
        assert offered.agent_id == agents["alice"].id
        await ccari.queue.set_presence(agents["alice"], "logged_out")  # as her logout does
        back = await eventually(lambda: one_contact_in(ccari, "queued"), what="back in the queue",
                                timeout=5)
        assert back.agent_id is None and back.offer_count == 1
        assert ccari.queue.view(back.id).position == 1
        async with ccari.sessions() as s:
            declined = [e for e in await s.scalars(select(ContactEvent).where(
                ContactEvent.contact_id == back.id, ContactEvent.kind == "queued"))
                if e.data.get("fact") == "declined"]
        assert [(e.data["declined_by"], e.data["missed"]) for e in declined] == [
            (agents["alice"].id, False)]
        assert ccari.queue.agent_state(agents["alice"].id) == "logged_out"
        assert ccari.queue.agent_reason(agents["alice"].id) is None
        assert ccari.voice is not None
        await ccari.voice._hangup(back.channel_id, "normal")
        await call.wait()
    ringing = await alice.result()  # her phone's ring was cancelled, not let ring out
    assert ringing.requests.get("CANCEL") == 1 and ringing.successful == 1, ringing.describe()
    await eventually(lambda: one_contact_in(ccari, "abandoned"), what="the caller's hang-up")


async def test_a_ring_asterisk_cannot_place_is_not_the_agents_miss(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    """Asterisk refuses to ring her phone (here: a phone it does not know; as when it is
    down or restarting): her phone never rang, so she stays ready; the caller waits."""
    async with ccari.sessions() as s:
        alice = await agents_repo.by_login(s, "acme", "alice")
        assert alice is not None
        alice.phone_username = "acme-nobody"  # no such endpoint in Asterisk
        await s.commit()
    await ready(ccari, "alice")
    call = caller(voice_env, digits="1", hangup_after_ms=5000)
    await call.start()

    async def declined() -> list[ContactEvent]:
        async with ccari.sessions() as s:
            return [e for e in await s.scalars(select(ContactEvent).where(
                ContactEvent.kind == "queued")) if e.data.get("fact") == "declined"]

    first = (await eventually(declined, what="the failed ring"))[0]
    assert first.data["declined_by"] == alice.id and first.data["missed"] is False
    assert ccari.queue.agent_state(alice.id) == "ready"
    assert (await call.wait()).ok
    await eventually(lambda: one_contact_in(ccari, "abandoned"), what="the caller hung up")
    assert ccari.queue.agent_state(alice.id) == "ready"


async def test_invalid_digit_reprompts_then_the_next_digit_routes(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    agents = await ready(ccari, "alice", "bob")
    async with phone(voice_env, "alice") as alice, phone(voice_env, "bob") as bob:
        # "9" is no option: the caller hears "invalid option" and the menu again, and "1"
        # (sent while that re-prompt plays) is taken.
        call = caller(voice_env, digits="91", dtmf_after_ms=800, hangup_after_ms=4000)
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()
        done = await eventually(lambda: one_contact_in(ccari, "completed"), what="completed contact")
    assert done.agent_id == agents["alice"].id
    assert done.attributes == {"skill": "sales"} and done.meta["ivr"] == ["9", "1"]
    assert (await alice.result()).requests.get("INVITE") == 1
    assert not (await bob.result()).requests.get("INVITE")


async def test_after_wrap_up_the_agent_is_offered_the_next_caller(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    async with ccari.sessions() as s:
        for q in await s.scalars(select(Queue)):
            q.wrap_up_s = 1.0
        await s.commit()
    agents = await ready(ccari, "alice")
    # alice's phone hangs up each call after 1.5 s; two callers for sales, one agent.
    async with phone(voice_env, "alice", hangup_after_ms=1500) as alice:
        first = caller(voice_env, digits="1", hangup_after_ms=0, caller="15551230001")
        second = caller(voice_env, digits="1", hangup_after_ms=0, caller="15551230002")
        await first.start()
        await eventually(lambda: _state_of(ccari, "15551230001", "connected"), what="first connected")
        await second.start()
        waiting = await eventually(lambda: _state_of(ccari, "15551230002", "queued"), what="second queued")
        assert waiting.agent_id is None
        done = await eventually(lambda: _state_of(ccari, "15551230002", "completed"), 30, "second served")
        for call in (first, second):
            result = await call.wait()
            assert result.ok, result.describe()
    first_row = await _state_of(ccari, "15551230001", "completed")
    assert first_row is not None and done.agent_id == first_row.agent_id == agents["alice"].id
    # The second caller was offered only after the first call ended and the wrap-up passed.
    assert (done.connected_at - first_row.ended_at).total_seconds() >= 1.0
    assert done.disposition == first_row.disposition == "agent-hangup"
    assert (await alice.result()).requests.get("INVITE") == 2


async def _state_of(rt: Runtime, caller_number: str, state: str) -> Contact | None:
    async with rt.sessions() as s:
        row = await s.scalar(select(Contact).where(Contact.caller_number == caller_number))
    return row if row is not None and row.state == state else None
