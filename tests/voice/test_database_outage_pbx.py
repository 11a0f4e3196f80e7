"""A database outage that cuts a call's arrival short, on the real PBX: the caller is saved
and queued, then the write of the agent's offer fails (the database went away just then).
The caller does not wait in silence: once the database answers, the reconcile takes the
call up and the agent's phone rings, once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ccari.app import Runtime
from ccari.contacts.lifecycle import State
from tests.voice.conftest import VoiceEnv, eventually
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

pytestmark = pytest.mark.pbx


def offer_write_fails_once(rt: Runtime) -> list[str]:
    """The queue's first offer write raises what a refused connection to the database
    raises; returns the names of the writes that failed."""
    writes = rt.queue.writes
    real = writes.run
    failed: list[str] = []

    async def run(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if getattr(fn, "__name__", "") == "offered" and not failed:
            failed.append("offered")
            raise ConnectionRefusedError(111, "Connect call failed (the test's outage)")
        return await real(fn, *args, **kw)

    writes.run = run  # type: ignore[method-assign]
    return failed


async def test_a_call_whose_offer_was_not_saved_rings_the_agent_once_it_is_back(
        ccari: Runtime, voice_env: VoiceEnv) -> None:
    await ready(ccari, "carol")  # globex: its number queues at once (no IVR)
    failed = offer_write_fails_once(ccari)
    async with phone(voice_env, "carol", hangup_after_ms=1500) as carol:
        call = caller(voice_env, did="15550200", hangup_after_ms=0)
        await call.start()
        done: Callable[[], Awaitable[Any]] = lambda: one_contact_in(ccari, State.COMPLETED)  # noqa: E731
        contact = await eventually(done, 30, "the caller to be served by carol")
        result = await call.wait()
    assert failed == ["offered"]
    assert result.ok, result.describe()
    assert (await carol.result()).requests.get("INVITE") == 1
    assert contact.disposition == "agent-hangup" and contact.talk_s >= 1
