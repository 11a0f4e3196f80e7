"""Overload control: the gate's hysteresis (pure), and a refused call on the real PBX."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from ccari.app import runtime
from ccari.config import Config
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Contact, Tenant, TrunkCall
from ccari.voice.overload import Gate, Limits, LoadMonitor
from tests.support.sipp import run_sipp
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually

L = Limits(high_ms=250, low_ms=100, samples=2)


@pytest.mark.parametrize(("delays", "closed_after"), [
    ([10, 20, 30], [False, False, False]),
    ([300, 10, 300], [False, False, False]),  # one slow sample is noise
    ([300, 300], [False, True]),  # two in a row close it
    ([300, 300, 200, 150], [False, True, True, True]),  # stays closed between low and high
    ([300, 300, 90], [False, True, False]),  # opens below low
    ([300, 300, 90, 300, 300], [False, True, False, False, True]),
])
def test_the_gate_closes_on_sustained_delay_and_opens_below_low(delays, closed_after) -> None:  # type: ignore[no-untyped-def]
    gate = Gate(L)
    seen = []
    for d in delays:
        gate.observe(d)
        seen.append(gate.closed)
    assert seen == closed_after


def test_an_infinite_high_mark_never_closes() -> None:
    gate = Gate(Limits(high_ms=float("inf"), low_ms=0))
    assert not any(gate.observe(d) for d in (1e6, 1e7, 1e8))


async def test_write_delay_is_what_writes_wait_and_nothing_when_idle(sessions) -> None:  # type: ignore[no-untyped-def]
    writes = GroupCommit(sessions)

    def slow(s) -> None:  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # a commit that takes 200 ms

    try:
        assert writes.delay_ms() == 0.0
        await writes.run(slow)
        assert writes.delay_ms() >= 150  # what the last batch took counts for a second...
        monitor = LoadMonitor(Gate(Limits(high_ms=100, low_ms=50, samples=1)), writes.delay_ms,
                              interval_s=0.05)
        monitor.start()

        async def closed() -> bool:
            return monitor.overloaded

        async def opened() -> bool:
            return not monitor.overloaded

        await eventually(closed, 5, "the gate to close")
        await eventually(opened, 5, "the gate to open once idle")  # ...then no more
        await monitor.close()
    finally:
        await writes.close()


@pytest.mark.pbx
@pytest.mark.parametrize(("policy", "status", "early_media"), [("busy", 503, 0),
                                                              ("announcement", 486, 1)])
async def test_an_overloaded_node_refuses_at_once_with_the_tenants_fallback(
        voice_cfg: Config, voice_env: VoiceEnv, policy: str, status: int, early_media: int) -> None:
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
        voice.load.start()

        async def overloaded() -> bool:
            return voice.load.overloaded

        await eventually(overloaded, 5, "the node to count as overloaded")
        result = await run_sipp("caller_status.xml", voice_env.sip_target, service="15550100",
                                local_ip=CARRIER_IP, calls=3, rate=10,
                                params={"status": status}, timeout_s=30)
        assert result.ok, result.describe()
        assert result.responses.get(status) == 3
        assert result.responses.get(183, 0) == 3 * early_media
        assert result.responses.get(200, 0) == 0  # never answered
        assert rt.voice.load.refused >= 3
        async with rt.sessions() as s:  # nothing was written for them
            assert await s.scalar(select(func.count()).select_from(Contact)) == 0
            assert await s.scalar(select(func.count()).select_from(TrunkCall)) == 0
