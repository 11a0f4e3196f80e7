"""The managed Asterisk supervised, on the real PBX (an instance of its own, since it is
killed): kill -9 it while a caller waits in the queue; ccari starts it again, its ARI
websocket comes back and reconciles (the lost caller's contact is closed, its trunk freed),
a new caller is answered by the IVR, queued and served by an agent within a bound, and
``GET /metrics`` counts the restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from ccari.admission.models import TrunkCall
from ccari.app import Runtime, internal_app, runtime
from ccari.callbacks.models import Callback
from ccari.config import Config, PbxConfig
from ccari.pbx import provision, start
from ccari.pbx.instance import pid_of
from ccari.pbx.watch import PbxWatch
from ccari.storage.models import Contact, ContactEvent
from ccari.tenants.pbx import restart_from_db, spec_from_db
from tests.support.sipp import Sipp, free_port
from tests.support.waits import eventually
from tests.voice.conftest import CARRIER_IP, PHONE_IP, PHONES, VoiceEnv, pbx_counts, prepare_db
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = pytest.mark.pbx

# From the kill to a new caller served by an agent (measured here: Asterisk back and ARI
# reconciled in about 3 s, the new call served and ended about 10 s after the kill).
SERVED_WITHIN_S = 30.0


@dataclass
class Watched:
    cfg: Config
    env: VoiceEnv
    watch: PbxWatch


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[Watched]:
    name = f"watched{os.getpid()}"
    env = VoiceEnv(tmp_path / "state", {p: free_port(PHONE_IP) for p in PHONES}, PbxConfig(
        instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
        ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        rtp_start=12000, rtp_end=19998, carrier_match=(CARRIER_IP,), agent_qualify_s=0))
    cfg = await prepare_db(env, f"sqlite+aiosqlite:///{tmp_path}/ccari.db")
    spec = await spec_from_db(cfg)
    proc = await asyncio.to_thread(lambda: start(spec, runtime=provision()))
    watch = PbxWatch(proc, restart_from_db(cfg))
    try:
        yield Watched(cfg, env, watch)
        channels_and_bridges = await asyncio.to_thread(pbx_counts, watch.process)
        assert channels_and_bridges == (0, 0), "the test left calls on the PBX"
    finally:
        await watch.close()  # (the runtime has closed it already)
        await asyncio.to_thread(watch.process.stop)
        assert pid_of(watch.process.paths) is None, "Asterisk still running after stop()"


async def _contact(rt: Runtime, **where: object) -> Contact | None:
    async with rt.sessions() as s:
        rows = list(await s.scalars(select(Contact).filter_by(**where)))
    return rows[0] if len(rows) == 1 else None


async def _trunks(rt: Runtime) -> int:
    async with rt.sessions() as s:
        return await s.scalar(select(func.count()).select_from(TrunkCall)) or 0


async def test_killed_asterisk_is_restarted_and_serves_calls_again(
    watched: Watched, aiohttp_client
) -> None:
    watch, env = watched.watch, watched.env
    async with runtime(watched.cfg, pbx=watch) as rt:
        assert rt.ari is not None and rt.pbx is watch
        client: TestClient = await aiohttp_client(internal_app(rt))
        # Nobody is ready: this caller waits in the queue with music when Asterisk dies.
        lost = Sipp("caller_dtmf.xml", env.sip_target, service="15550100", local_ip=CARRIER_IP,
                    params={"digits": "1", "caller": "12025550147", "hangup_after_ms": 60000},
                    timeout_s=90)
        await lost.start()
        try:
            async def lost_queued() -> Contact | None:
                c = await _contact(rt, caller_number="12025550147")
                return c if c is not None and c.state == "queued" else None

            queued = await eventually(lost_queued, 20, "the first caller to be queued")
            assert await _trunks(rt) == 1
            old_pid = watch.process.pid
            killed_at = time.monotonic()
            os.kill(old_pid, signal.SIGKILL)

            async def back() -> bool:
                return watch.restarts == 1 and rt.ari is not None and rt.ari.connected

            await eventually(back, 20, "Asterisk restarted and ARI reconnected")
            back_in = time.monotonic() - killed_at
            assert watch.process.pid != old_pid and pid_of(watch.process.paths) == watch.process.pid

            # The reconnect reconciled: the caller lost with the old Asterisk is closed as
            # lost with it (not abandoned: not the caller's doing), its trunk freed, and
            # the caller is to be called back, in their place (the demo tenant allows it).
            async def lost_closed() -> Contact | None:
                c = await _contact(rt, id=queued.id)
                return c if c is not None and c.state == "failed" else None

            closed = await eventually(lost_closed, 10, "reconcile to close the lost contact")
            assert closed.disposition == "media-node-lost"
            assert await _trunks(rt) == 0
            async with rt.sessions() as s:
                callback = await s.scalar(select(Callback).where(Callback.source == "lost"))
                logged = list(await s.scalars(select(ContactEvent.data).where(
                    ContactEvent.contact_id == queued.id,
                    ContactEvent.kind == "callback-planned")))
            assert callback is not None and callback.phone == "+12025550147"
            assert callback.status == "pending" and callback.place_at == queued.queued_at
            assert logged == [{"callback": callback.id}]
        finally:
            await lost.stop(2)  # its Asterisk is gone: nothing to hang up

        # A new caller: IVR, digit 1 (sales), queued, offered to alice, talks a few seconds.
        await ready(rt, "alice")
        async with phone(env, "alice") as alice:
            call = caller(env, digits="1", dtmf_after_ms=800, hangup_after_ms=4000,
                          caller="15550199")
            await call.start()
            result = await call.wait()
            assert result.ok, result.describe()

            async def served() -> Contact | None:
                c = await _contact(rt, caller_number="15550199")
                return c if c is not None and c.state == "completed" else None

            done = await eventually(served, 10, "the new caller to be served")
        served_in = time.monotonic() - killed_at
        assert (await alice.result()).requests.get("INVITE") == 1
        assert done.agent_id is not None and done.talk_s > 1
        assert served_in < SERVED_WITHIN_S, f"served {served_in:.1f}s after the kill"

        resp = await client.get("/metrics")
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
        for line in ("ccari_pbx_restarts_total 1", "ccari_pbx_failed_starts_total 0",
                     "ccari_pbx_up 1", "ccari_ari_connected 1"):
            assert f"\n{line}\n" in text, text
        print(f"Asterisk back and ARI reconciled {back_in:.1f}s after kill -9; "
              f"a new caller served {served_in:.1f}s after it")
