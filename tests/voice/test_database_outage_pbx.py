"""Database outages on the real PBX.  SQLite locked by another process: a caller arriving
meanwhile gets the fallback (the announcement, then busy), not silence, and the next one
after it is served, without a restart; the same with the database file and its directory
made unwritable (a file system gone read-only).  An outage that cuts a call's arrival short (saved
and queued, then the write of the agent's offer fails): the caller does not wait in
silence; once the database answers, the reconcile takes the call up and the agent's phone
rings, once."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ccari.app import Runtime, runtime
from ccari.config import Config
from ccari.contacts.lifecycle import State
from tests.support.sipp import run_sipp
from tests.support.unwritable import unwritable
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
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


async def test_an_ivr_choice_whose_offer_was_not_saved_rings_the_agent_once_it_is_back(
        ccari: Runtime, voice_env: VoiceEnv) -> None:
    """The same cut short after the caller's IVR choice (acme: 1 = sales)."""
    await ready(ccari, "alice")
    failed = offer_write_fails_once(ccari)
    async with phone(voice_env, "alice", hangup_after_ms=1500) as alice:
        call = caller(voice_env, digits="1", dtmf_after_ms=800, hangup_after_ms=0)
        await call.start()
        done: Callable[[], Awaitable[Any]] = lambda: one_contact_in(ccari, State.COMPLETED)  # noqa: E731
        contact = await eventually(done, 30, "the caller to be served by alice")
        result = await call.wait()
    assert failed == ["offered"]
    assert result.ok, result.describe()
    assert (await alice.result()).requests.get("INVITE") == 1
    assert contact.disposition == "agent-hangup" and contact.attributes == {"skill": "sales"}


@contextlib.contextmanager
def write_locked(url: str) -> Iterator[None]:
    """Another process holds SQLite's write lock (e.g. a backup tool)."""
    lock = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        lock.rollback()
        lock.close()


async def fallback_then_served(cfg: Config, env: VoiceEnv,
                               outage: contextlib.AbstractContextManager[object]) -> None:
    """A caller to globex during ``outage`` hears the fallback (announcement, then 486, never
    answered); once it is over the next caller is served by carol."""
    async with runtime(cfg) as rt:
        await ready(rt, "carol")
        with outage:
            refused = await run_sipp("caller_status.xml", env.sip_target,
                                     service="15550200", local_ip=CARRIER_IP,
                                     params={"status": 486}, timeout_s=40)
        assert refused.ok, refused.describe()
        assert (refused.responses.get(183), refused.responses.get(486),
                refused.responses.get(200, 0)) == (1, 1, 0), refused.describe()
        async with phone(env, "carol", hangup_after_ms=1500) as carol:
            served = await run_sipp("caller_dtmf.xml", env.sip_target, service="15550200",
                                    local_ip=CARRIER_IP, params={"hangup_after_ms": 0},
                                    timeout_s=40, recv_timeout_ms=30000)
            assert served.ok, served.describe()
        assert (await carol.result()).requests.get("INVITE") == 1
        done = await one_contact_in(rt, State.COMPLETED)
        assert done is not None and done.disposition == "agent-hangup"


async def test_sqlite_locked_callers_get_the_fallback_and_are_served_once_it_is_free(
        voice_cfg: Config, voice_env: VoiceEnv) -> None:
    cfg = replace(voice_cfg, database=replace(voice_cfg.database, busy_timeout_s=1.0))
    await fallback_then_served(cfg, voice_env, write_locked(cfg.database.url))


async def test_sqlite_unwritable_callers_get_the_fallback_and_are_served_once_it_is_writable(
        voice_cfg: Config, voice_env: VoiceEnv) -> None:
    await fallback_then_served(voice_cfg, voice_env,
                               unwritable(Path(voice_cfg.database.url.split("///", 1)[1])))
