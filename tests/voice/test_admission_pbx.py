"""Trunk admission on real calls: a burst gets exactly the permitted number answered."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ccari.admission.models import AdmissionDecision, TrunkCall
from ccari.app import Runtime
from tests.support.sipp import Sipp, run_sipp
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
from tests.voice.test_voice_pbx import ready

pytestmark = pytest.mark.pbx


async def live_trunks(rt: Runtime) -> int:
    async with rt.sessions() as s:
        return await s.scalar(select(func.count()).select_from(TrunkCall)) or 0


async def test_burst_admits_exactly_the_permitted_calls_and_spares_other_tenants(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    # acme: 2 agents ready, R = 1.5, T = 3 -> max(2 x 1.5, 2 + 3) = 5 simultaneous calls.
    await ready(ccari, "alice", "bob")
    burst = Sipp("caller_admit.xml", voice_env.sip_target, service="15550100", local_ip=CARRIER_IP,
                 calls=12, rate=200, max_concurrent=12, params={"hold_ms": 6000}, timeout_s=60)
    await burst.start()

    async def full() -> bool:
        return await live_trunks(ccari) == 5

    await eventually(full, what="acme's 5 trunks in use")
    # globex has no agent ready but its after-hours trunks (3) still take its call.
    other = await run_sipp("caller_admit.xml", voice_env.sip_target, service="15550200",
                           local_ip=CARRIER_IP, params={"hold_ms": 500}, timeout_s=30)
    # Each answered call sees two 200s: to its INVITE and to its BYE.
    assert other.ok and other.responses.get(200) == 2 and not other.responses.get(486), other.describe()
    result = await burst.wait()
    assert result.ok, result.describe()
    assert result.responses.get(200) == 2 * 5 and result.responses.get(486) == 7, result.describe()

    async def released() -> bool:
        return await live_trunks(ccari) == 0

    await eventually(released, what="every trunk released after hang-up")
    async with ccari.sessions() as s:
        refused = list(await s.scalars(select(AdmissionDecision).where(AdmissionDecision.admit.is_(False))))
    assert len(refused) == 7
    assert {d.reason for d in refused} == {"tenant-limit-reached"}
    assert all(d.permitted == 5 for d in refused)


async def test_usage_report_matches_the_seconds_sipp_saw(
    ccari: Runtime, voice_env: VoiceEnv, aiohttp_client
) -> None:
    import datetime as dt
    import json
    import time

    from ccari.app import internal_app
    from tests.voice.test_voice_pbx import phone

    await ready(ccari, "alice")
    start = dt.datetime.now(dt.UTC)
    async with phone(voice_env, "alice"):
        t0 = time.monotonic()
        result = await run_sipp("caller_dtmf.xml", voice_env.sip_target, service="15550100",
                                local_ip=CARRIER_IP, timeout_s=30,
                                params={"digits": "1", "dtmf_after_ms": 500, "hangup_after_ms": 5000})
        seen_s = time.monotonic() - t0  # INVITE to the 200 of the BYE, plus SIPp's start
        assert result.ok, result.describe()

    async def closed() -> bool:
        return await live_trunks(ccari) == 0

    await eventually(closed, what="the call to end")
    client = await aiohttp_client(internal_app(ccari))
    token = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())["acme.token"]
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    resp = await client.get("/api/usage", params={"from": start.isoformat(), "to": end.isoformat()},
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    totals = (await resp.json())["totals"]
    acme = next(iter(totals.values()))
    assert acme["contacts"] == 1
    assert abs(acme["trunk_s"] - seen_s) <= 1.0, (acme, seen_s)
    # Talk time is the part after the agent answered: the call minus IVR and queue.
    assert 0 < acme["talk_s"] < acme["trunk_s"] and acme["talk_s"] >= 3


async def test_overflow_announcement_policy_plays_before_the_busy(
    ccari: Runtime, voice_env: VoiceEnv, aiohttp_client
) -> None:
    import json

    from ccari.app import internal_app

    token = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())["acme.token"]
    client = await aiohttp_client(internal_app(ccari))
    resp = await client.put("/api/admission/policy", json={"overflow": "announcement"},
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    await ready(ccari, "alice", "bob")  # 5 permitted, as above
    burst = Sipp("caller_admit.xml", voice_env.sip_target, service="15550100", local_ip=CARRIER_IP,
                 calls=8, rate=200, max_concurrent=8, params={"hold_ms": 4000}, timeout_s=60)
    await burst.start()
    result = await burst.wait()
    assert result.ok, result.describe()
    # 3 refused: each hears the announcement (early media, 183) and then gets busy (486).
    assert result.responses.get(486) == 3 and result.responses.get(183) == 3, result.describe()
    assert result.responses.get(200) == 2 * 5, result.describe()

    async def released() -> bool:
        return await live_trunks(ccari) == 0

    await eventually(released, what="every trunk released")


async def test_permitted_calls_follow_agents_logging_in_and_out_mid_burst(
    ccari: Runtime, voice_env: VoiceEnv
) -> None:
    agents = await ready(ccari, "alice", "bob")  # A = 2: max(2 x 1.5, 2 + 3) = 5
    held = Sipp("caller_admit.xml", voice_env.sip_target, service="15550100", local_ip=CARRIER_IP,
                calls=5, rate=200, max_concurrent=5, params={"hold_ms": 9000}, timeout_s=60)
    await held.start()

    async def five_up() -> bool:
        return await live_trunks(ccari) == 5

    await eventually(five_up, what="5 calls up")

    async def burst(n: int) -> dict[int, int]:
        result = await run_sipp("caller_admit.xml", voice_env.sip_target, service="15550100",
                                local_ip=CARRIER_IP, calls=n, rate=200, max_concurrent=n,
                                params={"hold_ms": 300}, timeout_s=30)
        assert result.ok, result.describe()
        return dict(result.responses)

    # bob logs out mid-burst: A = 1, permitted max(1, 1 + 3) = 4 < 5 up: nothing gets in.
    await ccari.queue.set_presence(agents["bob"], "logged_out")
    assert (await burst(3)).get(486) == 3
    # bob and sam come in: A = 3, permitted max(4, 6) = 6: exactly one more call.
    sam = (await ready(ccari, "sam"))["sam"]
    await ccari.queue.set_presence(agents["bob"], "ready")
    assert sam.role == "supervisor"
    responses = await burst(2)
    assert responses.get(486) == 1 and responses.get(200) == 2, responses  # 200: INVITE + BYE
    result = await held.wait()
    assert result.ok and result.responses.get(200) == 2 * 5, result.describe()

    async def released() -> bool:
        return await live_trunks(ccari) == 0

    await eventually(released, what="every trunk released")
