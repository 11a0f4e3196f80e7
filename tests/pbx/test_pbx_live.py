"""Integration tests against the real Asterisk started by the ``pbx`` fixture, with SIPp peers."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from ccari.pbx import Number, PbxProcess, ari_probe, is_running, provision, reload, start
from tests.pbx.conftest import AGENT_IP, CARRIER_IP, pbx_spec
from tests.pbx.pbx_ari import ari_app
from tests.support.sipp import Sipp, run_sipp

pytestmark = pytest.mark.pbx


def sip_target(pbx: PbxProcess) -> str:
    return f"{pbx.spec.bind}:{pbx.spec.ports.sip}"


def test_provision_is_cached() -> None:
    import time

    started = time.monotonic()
    provision()
    assert time.monotonic() - started < 2.0


def test_start_again_adopts_the_running_instance(live_pbx: PbxProcess) -> None:
    again = start(live_pbx.spec, runtime=live_pbx.paths.runtime)
    assert again.pid == live_pbx.pid and again.popen is None
    assert is_running(live_pbx.spec.instance, live_pbx.paths.runtime)


def test_ari_accepts_generated_password_and_refuses_a_wrong_one(live_pbx: PbxProcess) -> None:
    assert ari_probe(live_pbx.spec) == 200
    assert ari_probe(live_pbx.spec, password="not-the-password") == 401


def test_start_is_quiet(live_pbx: PbxProcess) -> None:
    """No warning or error outside calls (calls to Stasis while no app is up do warn)."""
    log = (live_pbx.paths.host / "log" / "messages.log").read_text()
    bad = [ln for ln in log.splitlines() if (" ERROR[" in ln or " WARNING[" in ln) and "][C-" not in ln]
    assert bad == []


async def ami_login(port: int, user: str, secret: str) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        await asyncio.wait_for(reader.readline(), 5)  # "Asterisk Call Manager/..."
        writer.write(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\n\r\n".encode())
        await writer.drain()
        reply = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return reply.decode()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_ami_accepts_generated_secret_only(live_pbx: PbxProcess) -> None:
    spec = live_pbx.spec
    assert "Response: Success" in await ami_login(spec.ports.ami, spec.ami_user, spec.ami_secret)
    assert "Response: Error" in await ami_login(spec.ports.ami, spec.ami_user, "wrong-secret")


def test_ami_listens_on_loopback_only(live_pbx: PbxProcess) -> None:
    out = live_pbx.rx("manager show settings")
    assert f"127.0.0.1:{live_pbx.spec.ports.ami}" in out.replace(" ", "")


async def test_carrier_call_while_ccari_is_down_gets_announcement_then_busy(
    live_pbx: PbxProcess,
) -> None:
    result = await run_sipp(
        "caller_busy.xml", sip_target(live_pbx), service="15550100", local_ip=CARRIER_IP,
        recv_timeout_ms=15000, timeout_s=30,
    )  # fmt: skip
    assert result.ok, result.describe()
    assert result.responses.get(183) == 1 and result.responses.get(486) == 1


async def test_carrier_call_with_plus_prefix_also_reaches_the_fallback(
    live_pbx: PbxProcess,
) -> None:
    result = await run_sipp(
        "caller_busy.xml", sip_target(live_pbx), service="+15550200", local_ip=CARRIER_IP,
        recv_timeout_ms=15000, timeout_s=30,
    )  # fmt: skip
    assert result.ok, result.describe()


async def test_unknown_number_gets_404(live_pbx: PbxProcess) -> None:
    result = await run_sipp(
        "caller_status.xml", sip_target(live_pbx), service="15559999", local_ip=CARRIER_IP,
        params={"status": 404}, recv_timeout_ms=5000, timeout_s=15,
    )  # fmt: skip
    assert result.ok, result.describe()
    assert result.responses.get(404) == 1


async def test_unidentified_source_cannot_call_in(live_pbx: PbxProcess) -> None:
    # 127.0.0.3 matches no trunk and has no credentials: challenged, never routed.
    result = await run_sipp(
        "caller_status.xml", sip_target(live_pbx), service="15550100", local_ip="127.0.0.3",
        params={"status": 401}, recv_timeout_ms=5000, timeout_s=15,
    )  # fmt: skip
    assert result.ok, result.describe()


async def test_agent_with_static_contact_is_reached_by_ari_originate(
    live_pbx: PbxProcess, agent_port: int
) -> None:
    params: dict[str, str | int] = {"agent": "agent1", "answer_after_ms": 100, "hangup_after_ms": 0}
    agent = Sipp("agent_uas.xml", local_ip=AGENT_IP, local_port=agent_port, params=params)
    async with agent, ari_app(live_pbx) as ari:
        channel = await ari.request(
            "POST", "/channels", endpoint="PJSIP/agent1", app=live_pbx.spec.app_name,
            appArgs="outbound,agent1", timeout="10",
        )  # fmt: skip
        started = await ari.next_event("StasisStart")
        assert started["channel"]["id"] == channel["id"]
        assert started["args"] == ["outbound", "agent1"]
        await ari.request("DELETE", f"/channels/{channel['id']}")
        await ari.next_event("StasisEnd")
        result = await agent.wait(10)
    assert result.ok, result.describe()
    assert result.requests == {"INVITE": 1, "ACK": 1, "BYE": 1}


async def test_agent_that_does_not_answer_gets_cancel(live_pbx: PbxProcess, agent_port: int) -> None:
    agent = Sipp("agent_noanswer.xml", local_ip=AGENT_IP, local_port=agent_port)
    async with agent, ari_app(live_pbx) as ari:
        await ari.request(
            "POST", "/channels", endpoint="PJSIP/agent1", app=live_pbx.spec.app_name,
            timeout="1",
        )  # fmt: skip
        result = await agent.wait(15)
    assert result.ok, result.describe()
    assert result.requests == {"INVITE": 1, "CANCEL": 1, "ACK": 1}


async def test_inbound_call_reaches_stasis_with_did_tenant_and_dtmf(
    live_pbx: PbxProcess,
) -> None:
    caller = Sipp(
        "caller_dtmf.xml", sip_target(live_pbx), service="+15550200", local_ip=CARRIER_IP,
        params={"digits": "2", "dtmf_after_ms": 500, "hangup_after_ms": 0},
        recv_timeout_ms=15000, timeout_s=30,
    )  # fmt: skip
    async with ari_app(live_pbx) as ari, caller:
        started = await ari.next_event("StasisStart")
        channel = started["channel"]["id"]
        assert started["args"] == ["inbound", "15550200", "globex"]
        await ari.request("POST", f"/channels/{channel}/answer")
        await ari.request("POST", f"/channels/{channel}/play", media="sound:ccari/minutes")
        got = await ari.collect("ChannelDtmfReceived", "PlaybackFinished")
        assert got["ChannelDtmfReceived"]["digit"] == "2"
        finished = got["PlaybackFinished"]["playback"]
        assert finished["state"] == "done", finished  # "failed" if the prompt were missing
        await ari.request("DELETE", f"/channels/{channel}")
        result = await caller.wait(20)
    assert result.ok, result.describe()
    assert result.requests == {"BYE": 1}


async def test_caller_abandons_while_on_hold_music(live_pbx: PbxProcess) -> None:
    caller = Sipp(
        "caller_abandon.xml", sip_target(live_pbx), service="15550100", local_ip=CARRIER_IP,
        params={"hangup_after_ms": 1500}, recv_timeout_ms=10000, timeout_s=30,
    )  # fmt: skip
    async with ari_app(live_pbx) as ari, caller:
        channel = (await ari.next_event("StasisStart"))["channel"]["id"]
        await ari.request("POST", f"/channels/{channel}/answer")
        await ari.request("POST", f"/channels/{channel}/moh", mohClass="default")
        ended = await ari.next_event("StasisEnd")
        assert ended["channel"]["id"] == channel
        result = await caller.wait(20)
    assert result.ok, result.describe()
    log = (live_pbx.paths.host / "log" / "messages.log").read_text()
    assert "musiconhold" not in log.lower(), "music on hold complained"


async def test_reload_adds_a_number(live_pbx: PbxProcess, pbx_state_dir: Path, agent_port: int) -> None:
    spec = live_pbx.spec
    extra = dataclasses.replace(spec, numbers=(*spec.numbers, Number("15550300", "initech")))
    try:
        assert reload(extra, runtime=live_pbx.paths.runtime) == ["dialplan reload"]
        result = await run_sipp(
            "caller_busy.xml", sip_target(live_pbx), service="15550300", local_ip=CARRIER_IP,
            recv_timeout_ms=15000, timeout_s=30,
        )  # fmt: skip
        assert result.ok, result.describe()
    finally:
        reload(pbx_spec(pbx_state_dir, agent_port), runtime=live_pbx.paths.runtime)
    result = await run_sipp(
        "caller_status.xml", sip_target(live_pbx), service="15550300", local_ip=CARRIER_IP,
        params={"status": 404}, recv_timeout_ms=5000, timeout_s=15,
    )  # fmt: skip
    assert result.ok, result.describe()


async def test_several_carrier_calls_at_a_rate(live_pbx: PbxProcess) -> None:
    result = await run_sipp(
        "caller_busy.xml", sip_target(live_pbx), service="15550100", local_ip=CARRIER_IP,
        calls=6, rate=6, recv_timeout_ms=15000, timeout_s=30,
    )  # fmt: skip
    assert result.ok, result.describe()
    assert result.successful == 6 and result.responses[486] == 6


async def test_agent_phone_takes_calls_until_stopped(live_pbx: PbxProcess, agent_port: int) -> None:
    params: dict[str, str | int] = {"agent": "agent1", "answer_after_ms": 0, "hangup_after_ms": 200}
    agent = Sipp("agent_uas.xml", local_ip=AGENT_IP, local_port=agent_port, calls=None, params=params)
    async with agent, ari_app(live_pbx) as ari:
        for _ in range(2):
            await ari.request("POST", "/channels", endpoint="PJSIP/agent1", app=live_pbx.spec.app_name)
            await ari.next_event("StasisStart")
            await ari.next_event("StasisEnd")  # the agent hung up after 200 ms
    result = await agent.result()
    assert result.successful == 2 and result.failed == 0, result.describe()
    assert result.responses == {200: 2}  # for its BYEs
