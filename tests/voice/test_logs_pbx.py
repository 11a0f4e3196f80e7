"""Structured logs on the real Asterisk: with the JSON format every line is one JSON object,
and the lines of a call's work (its arrival, IVR, queue, agent, hang-up) carry its contact id
and tenant without any call site passing them."""

from __future__ import annotations

import io
import json
import logging

import pytest

from ccari import logs
from ccari.app import Runtime
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_business_hours_pbx import call_of
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = pytest.mark.pbx


async def test_a_calls_log_lines_carry_its_contact_id(ccari: Runtime, voice_env: VoiceEnv) -> None:
    out = io.StringIO()
    handler = logs.handler("json", out)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        agents = await ready(ccari, "alice")
        async with phone(voice_env, "alice") as alice:
            call = caller(voice_env, digits="1", dtmf_after_ms=800, hangup_after_ms=3000,
                          caller="15550196")
            await call.start()
            result = await call.wait()
            assert result.ok, result.describe()
            done = await eventually(lambda: call_of(ccari, "15550196", "completed"),
                                    what="the call completed")
        assert (await alice.result()).requests.get("INVITE") == 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["time"].endswith("Z") for line in lines)
    mine = [line for line in lines if line.get("contact_id") == done.id]
    assert all(line["tenant_id"] == done.tenant_id for line in mine)
    # Every line of the voice ACD that names the call's contact is marked with it, from its
    # arrival to its end; so is the work its events and tasks do (IVR, queue, agent, end).
    naming = [line for line in lines if done.id in line["message"]
              and line["logger"].startswith("ccari.voice")]
    assert naming and all(line.get("contact_id") == done.id for line in naming), naming
    loggers = {line["logger"] for line in mine}
    assert "ccari.voice.arrivals" in loggers  # the call's arrival
    assert len(mine) >= 3, mine
    assert done.agent_id == agents["alice"].id
    # No other call was logged as this one.
    assert all(line.get("contact_id") in (None, done.id) for line in lines)
