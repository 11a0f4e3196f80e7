"""Overload control: the gate's hysteresis (pure), and a refused call on the real PBX."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from ccari.admission.models import TrunkCall, TrunkPool
from ccari.app import runtime
from ccari.config import Config
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Contact, Tenant
from ccari.voice.overload import Gate, Limits, LoadMonitor
from ccari.voice.shedding import DialplanShed
from tests.support.sipp import run_sipp
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually

L = Limits(high_ms=250, low_ms=100, decrease=0.5, increase=0.25, floor=0.1, samples=1, settle=0)


@pytest.mark.parametrize(("delays", "fractions"), [
    ([10, 20, 30], [1.0, 1.0, 1.0]),
    ([300], [0.5]),  # above high: halved
    ([300, 300, 300, 300], [0.5, 0.25, 0.125, 0.1]),  # ...down to the floor
    ([300, 200, 150], [0.5, 0.5, 0.5]),  # between low and high: unchanged
    ([300, 300, 90, 50, 10], [0.5, 0.25, 0.5, 0.75, 1.0]),  # below low: back step by step
])
def test_the_admitted_fraction_shrinks_fast_and_grows_back_slowly(delays, fractions) -> None:  # type: ignore[no-untyped-def]
    gate = Gate(L)
    seen = []
    for d in delays:
        gate.observe(d)
        seen.append(round(gate.fraction, 3))
    assert seen == fractions
    assert gate.overloaded == (fractions[-1] < 1.0)


def test_one_slow_sample_is_a_hiccup_two_in_a_row_are_overload() -> None:
    gate = Gate(replace(L, samples=2))
    for d, fraction in ((300, 1.0), (10, 1.0), (300, 1.0), (300, 0.5), (300, 0.25)):
        gate.observe(d)
        assert gate.fraction == fraction


def test_after_a_shrink_the_gate_waits_for_its_effect_before_shrinking_again() -> None:
    """The calls admitted before a shrink keep the delays up for a while; shrinking on
    every such sample would refuse nearly everyone (the floor) for seconds."""
    gate = Gate(replace(L, settle=3))
    seen = []
    for d in (300, 300, 300, 300, 300, 300, 300, 300, 90):
        gate.observe(d)
        seen.append(gate.fraction)
    assert seen == [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.375]  # one per 3


async def test_a_call_still_waiting_for_its_answer_counts_before_it_is_answered() -> None:
    """A backlog shows while it builds: the oldest call not yet answered is a delay as
    long as it waits, not only once it is answered late; an answered or refused call
    no longer counts."""
    monitor = LoadMonitor(Gate(Limits(high_ms=100, low_ms=50, increase=1.0, samples=1,
                                      settle=0)), lambda: 0.0, interval_s=0.02)
    monitor.start()
    monitor.arriving("ch-1")
    monitor.arriving("ch-2")
    monitor.answered("ch-2")  # the later one answered at once: the first still waits

    async def closed() -> bool:
        return monitor.overloaded

    async def opened() -> bool:
        return not monitor.overloaded

    await eventually(closed, 5, "the waiting call to shrink the admitted share")
    assert monitor.overloaded
    monitor.answered("ch-1")
    monitor.answered("ch-1")  # (twice: the second is a no-op)
    await eventually(opened, 5, "the gate to admit every call once it is answered")
    await monitor.close()


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.25, 0.1])
def test_exactly_the_fraction_is_admitted_spread_evenly(fraction: float) -> None:
    gate = Gate(L, fraction=fraction, credit=0.0)
    admitted = [gate.admit() for _ in range(100)]
    assert sum(admitted) == round(100 * fraction)
    every = round(1 / fraction)
    assert all(any(admitted[i:i + every]) for i in range(0, 100 - every))  # no long gap


def test_an_infinite_high_mark_never_refuses() -> None:
    gate = Gate(Limits(high_ms=float("inf"), low_ms=0))
    for d in (1e6, 1e7, 1e8):
        gate.observe(d)
    assert not gate.overloaded and all(gate.admit() for _ in range(10))



def test_past_the_rate_cap_the_excess_is_refused_from_the_first_samples() -> None:
    """A surge to three times the node's measured rate: as soon as enough calls came to
    tell the rate (20 here: two samples), only the cap's worth is admitted, before any
    delay shows."""
    gate = Gate(Limits(high_ms=250, low_ms=100, max_rate=100, rate_calls=20))
    for _ in range(20):
        gate.observe(5, 4, 0.05)  # 80 calls/s
    assert gate.offered == pytest.approx(80)
    assert gate.share == 1.0 and all(gate.admit() for _ in range(10))  # under the cap
    gate.observe(5, 15, 0.05)  # 300 calls/s: with the two samples before, 153/s
    assert gate.share == pytest.approx(100 / (23 / 0.15))
    gate.observe(5, 15, 0.05)
    assert gate.overloaded and gate.share == pytest.approx(1 / 3)
    assert abs(sum(gate.admit() for _ in range(300)) - 100) <= 1  # a third of those offered
    assert gate.fraction == 1.0  # the delay rule saw nothing
    for _ in range(5):
        gate.observe(5, 4, 0.05)
    assert not gate.overloaded and all(gate.admit() for _ in range(10))  # the surge is over


def test_a_low_rate_is_counted_over_enough_calls_to_be_a_rate() -> None:
    """At 6 calls/s with the PBX letting a third through, a tenth of a second mostly sees
    no call at all: the rate is counted over the last second, not guessed from that."""
    gate = Gate(Limits(high_ms=250, low_ms=100, max_rate=2))
    for i in range(20):
        gate.observe(5, 1 if i % 10 == 0 else 0, 0.05, let_through=1 / 3)
    assert gate.offered == pytest.approx(6)
    assert gate.share == pytest.approx(1 / 3)


def test_beneath_the_cap_the_delay_rule_still_holds_and_no_cap_is_none() -> None:
    gate = Gate(Limits(high_ms=250, low_ms=100, samples=1, settle=0, max_rate=100))
    gate.observe(5, 30, 0.2)
    assert gate.share == pytest.approx(2 / 3)
    gate.observe(300, 30, 0.2)  # slow as well: the smaller share wins
    assert gate.fraction == 0.5 and gate.share == 0.5
    uncapped = Gate(Limits(high_ms=250, low_ms=100))
    uncapped.observe(5, 50_000, 0.05)
    assert not uncapped.overloaded


async def test_the_rate_offered_counts_the_calls_the_dialplan_turned_away() -> None:
    """The dialplan refuses its share before ccari sees those calls: the rate offered is
    what reaches ccari over the share let through, so the cap holds at a steady share
    instead of swinging between refusing and not."""
    told: list[int] = []

    async def shed(permille: int) -> bool:
        told.append(permille)
        return True

    monitor = LoadMonitor(Gate(Limits(high_ms=float("inf"), low_ms=0, max_rate=100)),
                          lambda: 0.0, interval_s=0.02, shed=shed)
    monitor.start()
    loop = asyncio.get_running_loop()
    started = last = loop.time()
    credit, n = 0.0, 0
    while loop.time() - started < 2.0:  # 400 calls a second offered, by the clock
        await asyncio.sleep(0.005)
        now = loop.time()
        credit += 400 * (now - last) * (1 - monitor.shed_permille / 1000)  # what gets through
        last = now
        while credit >= 1:
            credit -= 1
            n += 1
            monitor.arriving(f"ch-{n}")
            monitor.answered(f"ch-{n}")
    await monitor.close()
    assert 700 <= told[-2] <= 800  # (the last: 0, on close)
    assert monitor.refused == 0  # the dialplan did the refusing


async def test_calls_reach_ccari_while_the_pbx_sheds_and_ccari_refuses_once_it_cannot() -> None:
    """While the dialplan turns the share away, the calls that still arrive were admitted by
    it; once no PBX can be told (its shedding detached), ccari refuses that share itself."""
    told: list[int] = []

    async def shed(permille: int) -> bool:
        told.append(permille)
        return True

    monitor = LoadMonitor(Gate(Limits(high_ms=1e-6, low_ms=0, floor=0.0, samples=1)),
                          lambda: 0.0, interval_s=0.01, shed=shed)
    monitor.start()

    async def shedding() -> bool:
        return monitor.shed_permille >= 990

    await eventually(shedding, 5, "the PBX to be told to shed nearly every call")
    assert monitor.admit() and monitor.refused == 0
    monitor.shed = None
    monitor.gate.credit = 0.0
    assert not any(monitor.admit() for _ in range(3)) and monitor.refused == 3
    await monitor.close()


class _Globals:
    """Asterisk's global variables, as DialplanShed sees them (every request counted)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.requests = 0
        self.order: list[str] = []  # the variables set, in order

    async def get_global(self, variable: str, *, direct: bool = False) -> str:
        assert direct  # never behind the websocket's queue
        self.requests += 1
        return self.values.get(variable, "")

    async def set_global(self, variable: str, value: str, *, direct: bool = False) -> None:
        assert direct
        self.requests += 1
        self.values[variable] = value
        self.order.append(variable)


class _Policies:
    def __init__(self, **policies: str) -> None:
        self.policies = policies

    def overflow_policies(self) -> dict[int, str]:
        return {1: self.policies["acme"]}


async def test_a_share_going_on_and_off_at_the_cap_sets_the_fallbacks_once(sessions) -> None:  # type: ignore[no-untyped-def]
    """Calls arriving right at the rate cap turn the share on and off: the tenants'
    fallbacks are set once and then only checked; set again when a policy changes or a
    dialplan reload cleared them."""
    async with sessions() as s:
        s.add(Tenant(id=1, slug="acme", name="Acme"))
        await s.commit()
    ari, policies = _Globals(), _Policies(acme="announcement")
    ari.values["CCARI_ANNOUNCE_acme"] = "0"  # left by an earlier process: acme was "busy"
    shed = DialplanShed(ari, sessions, policies)  # type: ignore[arg-type]
    assert await shed.shed(30)
    assert ari.values == {"CCARI_SHED": "30", "CCARI_ANNOUNCE_acme": "1", "CCARI_ANNOUNCING": "1"}
    # No call is shed with the stale fallback: the share comes after the fallbacks.
    assert ari.order == ["CCARI_ANNOUNCE_acme", "CCARI_ANNOUNCING", "CCARI_SHED"]
    for _ in range(5):
        before = ari.requests
        assert await shed.shed(0) and ari.values["CCARI_SHED"] == "0"
        assert await shed.shed(20) and ari.values["CCARI_SHED"] == "20"
        assert ari.requests - before == 3  # the share twice, one check
    policies.policies["acme"] = "busy"
    assert await shed.shed(40) and ari.values["CCARI_ANNOUNCE_acme"] == "0"
    ari.values.clear()  # a dialplan reload
    assert await shed.shed(40)
    assert ari.values == {"CCARI_SHED": "40", "CCARI_ANNOUNCE_acme": "0", "CCARI_ANNOUNCING": "1"}


async def test_write_delay_is_what_writes_wait_and_nothing_when_idle(sessions) -> None:  # type: ignore[no-untyped-def]
    writes = GroupCommit(sessions)

    def slow(s) -> None:  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # a commit that takes 200 ms

    try:
        assert writes.delay_ms() == 0.0
        await writes.run(slow)
        assert writes.delay_ms() >= 150  # what the last batch took counts for a second...
        monitor = LoadMonitor(Gate(Limits(high_ms=100, low_ms=50, increase=1.0, samples=1)),
                              writes.delay_ms, interval_s=0.05)
        monitor.start()

        async def closed() -> bool:
            return monitor.overloaded

        async def opened() -> bool:
            return not monitor.overloaded

        await eventually(closed, 5, "the gate to admit fewer calls")
        await eventually(opened, 5, "the gate to admit every call once idle")  # ...then no more
        await monitor.close()
    finally:
        await writes.close()


@pytest.mark.pbx
@pytest.mark.parametrize("where", ["dialplan", "ccari"])
@pytest.mark.parametrize(("policy", "status", "early_media"), [("busy", 503, 0),
                                                              ("announcement", 486, 1)])
async def test_an_overloaded_node_refuses_at_once_with_the_tenants_fallback(
        voice_cfg: Config, voice_env: VoiceEnv, policy: str, status: int, early_media: int,
        where: str) -> None:
    """Turned away by Asterisk's dialplan before Stasis (``CCARI_SHED``); or, when the
    dialplan cannot be told, by ccari itself as the call arrives."""
    # A threshold every delay exceeds: the node counts as overloaded from its first samples.
    cfg = replace(voice_cfg, voice=replace(voice_cfg.voice, overload_delay_ms=1e-6))
    async with runtime(cfg) as rt:
        assert rt.voice is not None and rt.admission is not None
        async with rt.sessions() as s:
            acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
            assert acme is not None
            acme.overflow_policy = policy
            await s.commit()
        await rt.admission.would_admit_outbound(acme.id)  # reads the tenants' policies
        voice = rt.voice
        if where == "ccari":  # (the PBX may have been told to shed already: no longer)
            voice.load.shed = None
        voice.load.start()
        voice.load.gate.limits = replace(voice.load.gate.limits, floor=0.0)  # refuse them all

        async def overloaded() -> bool:  # every sample above the mark: it admits ~nothing
            # (the dialplan below is then waited for at a whole 1000 per mille: at 992 one
            # call in 125 would still get through)
            return voice.load.gate.fraction < 0.01

        await eventually(overloaded, 10, "the node to count as overloaded")
        if where == "dialplan":
            async def told() -> bool:
                return voice.load.shed_permille == 1000
            await eventually(told, 10, "the dialplan to turn calls away")
        voice.load.gate.credit = 0.0  # (the first calls after a change would still be taken)
        result = await run_sipp("caller_status.xml", voice_env.sip_target, service="15550100",
                                local_ip=CARRIER_IP, calls=3, rate=10,
                                params={"status": status}, timeout_s=30)
        assert result.ok, result.describe()
        assert result.responses.get(status) == 3
        assert result.responses.get(183, 0) == 3 * early_media
        assert result.responses.get(200, 0) == 0  # never answered
        # refused by ccari, or never seen by it at all
        assert rt.voice.load.refused == (3 if where == "ccari" else 0)
        async with rt.sessions() as s:  # nothing was written for them
            assert await s.scalar(select(func.count()).select_from(Contact)) == 0
            assert await s.scalar(select(func.count()).select_from(TrunkCall)) == 0


@pytest.mark.pbx
async def test_a_dialplan_reload_while_shedding_keeps_the_tenants_announcement(
        voice_cfg: Config, voice_env: VoiceEnv) -> None:
    """A reload (a number provisioned) clears the dialplan's globals; the shed calls still
    get the tenant's "lines busy" announcement, not a bare 503."""
    cfg = replace(voice_cfg, voice=replace(voice_cfg.voice, overload_delay_ms=1e-6))
    async with runtime(cfg) as rt:
        assert rt.voice is not None and rt.admission is not None and rt.ari is not None
        async with rt.sessions() as s:
            acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
            assert acme is not None
            acme.overflow_policy = "announcement"
            await s.commit()
        await rt.admission.would_admit_outbound(acme.id)
        voice, ari = rt.voice, rt.ari
        voice.load.start()
        voice.load.gate.limits = replace(voice.load.gate.limits, floor=0.0)

        async def told() -> bool:
            return voice.load.shed_permille == 1000

        await eventually(told, 10, "the dialplan to turn calls away")
        await ari.reload_module("pbx_config.so")
        assert await ari.get_global("CCARI_ANNOUNCE_acme") in ("", None)  # cleared...

        async def restored() -> bool:  # ...and set again with the share, within a second or so
            return (await ari.get_global("CCARI_ANNOUNCE_acme") == "1"
                    and int(await ari.get_global("CCARI_SHED") or 0) == 1000)

        await eventually(restored, 10, "the fallbacks to be set again after the reload")
        result = await run_sipp("caller_status.xml", voice_env.sip_target, service="15550100",
                                local_ip=CARRIER_IP, calls=2, rate=10,
                                params={"status": 486}, timeout_s=30)
        assert result.ok, result.describe()
        assert result.responses.get(486) == 2 and result.responses.get(183) == 2


@pytest.mark.pbx
async def test_a_share_left_in_the_dialplan_by_a_dead_process_is_cleared_on_connect(
        voice_cfg: Config, voice_env: VoiceEnv) -> None:
    async with runtime(voice_cfg) as rt:
        assert rt.ari is not None
        ari = rt.ari

        async def connected() -> bool:
            return ari.connected

        await eventually(connected, 10, "ARI to connect")
        # What a ccari killed while shedding everything leaves in Asterisk's dialplan.
        await ari.set_global("CCARI_SHED", "1000")
    async with runtime(voice_cfg) as rt:
        assert rt.ari is not None
        again = rt.ari

        async def cleared() -> bool:
            return again.connected and await again.get_global("CCARI_SHED") == "0"

        await eventually(cleared, 10, "the new process to tell the dialplan to take calls")


@pytest.mark.pbx
async def test_past_its_measured_rate_a_node_refuses_the_excess_and_serves_the_rest(
        voice_cfg: Config, voice_env: VoiceEnv) -> None:
    """``voice.max_calls_per_s``: a surge to five times it is held to about it from its
    first calls, the rest turned away by the dialplan with the tenant's 503; each call it
    admits is answered and gets its contact; once the surge is over every call is taken."""
    cfg = replace(voice_cfg, voice=replace(voice_cfg.voice, overload_delay_ms=0.0,
                                           max_calls_per_s=4.0))
    async with runtime(cfg) as rt:
        assert rt.voice is not None and rt.admission is not None
        async with rt.sessions() as s:  # room for every caller: trunks are not the point here
            acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
            pool = await s.get(TrunkPool, 1)
            assert acme is not None and pool is not None
            acme.trunk_ratio, acme.after_hours_trunks, pool.total_trunks = 10, 1000, 1000
            await s.commit()
        await rt.admission.would_admit_outbound(acme.id)  # reads the tenants' settings
        voice = rt.voice
        voice.load.start()
        surge = await run_sipp("caller_admitted_or_refused.xml", voice_env.sip_target,
                               service="15550100", local_ip=CARRIER_IP, calls=60, rate=20,
                               timeout_s=60)
        assert surge.ok, surge.describe()
        answered, refused = surge.responses.get(200, 0), surge.responses.get(503, 0)
        # BYE's 200s counted too: an answered call shows two.
        assert answered % 2 == 0 and answered // 2 + refused == 60
        admitted = answered // 2
        # 3 s at 4/s is 12, and more in the first second: at 20 calls/s it takes that long
        # to count the 20 calls the rate is told from.  Without the cap: all 60.
        assert 6 <= admitted <= 30, surge.describe()
        assert voice.load.refused == 0  # the dialplan turned them away, not ccari
        async with rt.sessions() as s:  # one contact per admitted call, none for the others
            assert await s.scalar(select(func.count()).select_from(Contact)) == admitted

        async def calm() -> bool:
            return not voice.load.overloaded and voice.load.shed_permille == 0

        await eventually(calm, 10, "the node to take every call again")
        after = await run_sipp("caller_admitted_or_refused.xml", voice_env.sip_target,
                               service="15550100", local_ip=CARRIER_IP, calls=2, rate=1,
                               timeout_s=30)
        assert after.ok and after.responses.get(503, 0) == 0, after.describe()
