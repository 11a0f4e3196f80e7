"""Callbacks on the real Asterisk: SIPp plays the customer's phone behind the carrier (it
logs the attempt id of every INVITE it gets) and the agents' phones."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from ccari.admission.models import AdmissionDecision, TrunkCall
from ccari.agents import repo as agents_repo
from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.callbacks.demo import seed_callbacks
from ccari.callbacks.models import Callback, CallbackAttempt, CallbackSettings
from ccari.callbacks.services import CallbackService
from ccari.config import Config
from ccari.pbx import PbxProcess
from ccari.public.tokens import CustomerTokens
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Contact, ContactEvent, Queue
from tests.support.agent_web import AgentPage, open_agent_page
from tests.support.sipp import Sipp, free_port, free_tcp_port
from tests.voice.conftest import CARRIER_IP, VoiceEnv, eventually
from tests.voice.test_restart import CcariProcess
from tests.voice.test_voice_pbx import caller, phone, ready

pytestmark = pytest.mark.pbx

ADA = "+12015550199"  # Ada Lovelace's number (demo), a fictitious US range
ORIGIN = "http://127.0.0.1:8081"
ACME = 1  # the demo's first tenant


@dataclass
class Customer:
    """The customer's phone: a SIPp UAS on the carrier's address."""

    port: int
    log: Path

    def phone(self, **params: object) -> Sipp:
        return Sipp("customer_phone.xml", local_ip=CARRIER_IP, local_port=self.port, calls=None,
                    params=params, timeout_s=90,
                    extra_args=["-trace_logs", "-log_file", str(self.log)])

    def invites(self) -> list[str]:
        """The attempt id of every INVITE the phone got, in order."""
        if not self.log.exists():
            return []
        return [line.split()[1] for line in self.log.read_text().splitlines() if line.startswith("INVITE ")]


async def prepare(cfg: Config, **settings: Any) -> None:
    """The demo's callback data, plus test settings for acme (short backoffs...)."""
    engine = make_engine(cfg.database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            await seed_callbacks(s)
            await s.commit()
            if settings:
                await s.execute(update(CallbackSettings).values(**settings))
                await s.commit()
    finally:
        await engine.dispose()


@pytest.fixture
def customer(tmp_path: Path) -> Customer:
    return Customer(free_port(CARRIER_IP), tmp_path / "customer-invites.log")


def callbacks_section(customer: Customer) -> dict[str, Any]:
    """The tests' ``[callbacks]`` config: calls go to the customer's phone; short waits."""
    return {"carrier_outbound": f"{CARRIER_IP}:{customer.port}", "ivr_gap_s": 1.0,
            "confirm_timeout_s": 1.0, "prompt_plays": 1}


@pytest.fixture
def callbacks_config(customer: Customer, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The tests' section, with a test's own settings (indirect parametrization)."""
    return {**callbacks_section(customer), **getattr(request, "param", {})}


@pytest.fixture
def settings() -> dict[str, Any]:
    return {"retry_after_s": 2.0, "retry_factor": 1.0, "ring_timeout_s": 20}


@pytest.fixture
async def cb(voice_cfg: Config, callbacks_config: dict[str, Any],
             settings: dict[str, Any]) -> AsyncIterator[Runtime]:
    await prepare(voice_cfg, **settings)
    cfg = replace(voice_cfg, callbacks=replace(voice_cfg.callbacks, **callbacks_config))
    async with runtime(cfg) as rt:
        service = rt.ivr_callbacks  # the voice ACD's "call me back", with the dialer attached
        assert rt.voice is not None and isinstance(service, CallbackService) \
            and service.dialer is not None, \
            "the composition root must run rt.pbx_setups (see ccari.callbacks.plugin.attach)"
        yield rt


def token(rt: Runtime) -> dict[str, str]:
    value, _ = rt.tokens.issue(ACME)
    return {"Authorization": f"Bearer {value}", "Origin": ORIGIN}


class Watcher:
    """alice's agent page (a real websocket): collects what is pushed to it."""

    def __init__(self, page: AgentPage) -> None:
        self.page = page
        self.messages: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.page.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(msg.json())

    async def offer(self) -> dict[str, Any] | None:
        return next((m["contact"] for m in self.messages if m.get("type") == "offer"), None)

    async def close(self) -> None:
        await self.page.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def watch(rt: Runtime, aiohttp_client: Any, name: str = "alice") -> Watcher:
    client: TestClient = await aiohttp_client(internal_app(rt))
    secrets = __import__("json").loads((Path(rt.config.state_dir) / "demo-secrets.json").read_text())
    page = await open_agent_page(str(client.make_url("")).rstrip("/"), "acme", name,
                                 secrets[f"acme.{name}.web"])
    assert (await page.presence("ready"))["state"] == "ready"
    return Watcher(page)


async def rows(rt: Runtime, model: Any, *where: Any) -> list[Any]:
    async with rt.sessions() as s:
        return list(await s.scalars(select(model).where(*where)))


async def callback_in(rt: Runtime, *statuses: str) -> Callback | None:
    found = await rows(rt, Callback)
    return found[0] if len(found) == 1 and found[0].status in statuses else None


async def contact_of(rt: Runtime, cb: Callback) -> Contact:
    return (await rows(rt, Contact, Contact.id == cb.contact_id))[0]


async def attempts(rt: Runtime, cb: Callback) -> list[CallbackAttempt]:
    return sorted(await rows(rt, CallbackAttempt, CallbackAttempt.callback_id == cb.id), key=lambda a: a.n)


async def completed(rt: Runtime, cb_id: str) -> Contact | None:
    cb = (await rows(rt, Callback, Callback.id == cb_id))[0]
    contact = await contact_of(rt, cb)
    return contact if contact.state == "completed" else None


async def test_click_to_call_rings_the_customer_first_then_queues_them_for_an_agent(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer, aiohttp_client: Any
) -> None:
    public = await aiohttp_client(public_app(cb))
    alice = await watch(cb, aiohttp_client)
    try:
        async with phone(voice_env, "alice", hangup_after_ms=2000) as alice_phone, \
                customer.phone(dtmf_after_ms=1500) as cust:
            resp = await public.post("/v1/callbacks", headers=token(cb), json={
                "phone": "+1 201 555 0199", "when": "now", "skill": "sales",
                "page_url": "https://www.acme.example/broadband/upgrade"})
            assert resp.status == 201, await resp.text()
            cb_id = (await resp.json())["id"]
            done = await eventually(lambda: completed(cb, cb_id), 40, "the callback to be served")
            pop = await eventually(alice.offer, 5, "alice's screen pop")
            cust_result = await cust.stop()
        alice_result = await alice_phone.result()
    finally:
        await alice.close()
    assert customer.invites() == [f"cb-{cb_id}-1"], cust_result.describe()
    assert alice_result.requests.get("INVITE") == 1, alice_result.describe()
    row = (await rows(cb, Callback, Callback.id == cb_id))[0]
    (attempt,) = await attempts(cb, row)
    assert (row.status, row.tries, row.mode, attempt.result) == ("done", 1, "customer_first", "answered")
    # The customer joined the voice queue at the callback's place, then reached alice.
    assert done.medium == "voice" and done.channel_id == attempt.id
    assert done.queued_at == row.place_at and done.agent_id is not None
    assert attempt.answered_at < done.connected_at < done.ended_at
    assert done.disposition == "agent-hangup" and 1.5 <= done.talk_s < 6
    assert pop["page_url"] == "https://www.acme.example/broadband/upgrade"
    assert pop["customer"]["name"] == "Ada Lovelace" and pop["caller_number"] == ADA[1:]
    assert await rows(cb, TrunkCall) == []  # the outbound trunk was released


@pytest.mark.parametrize("settings", [{"mode": "agent_first", "ring_timeout_s": 20}])
async def test_agent_first_reserves_the_agent_pops_the_record_then_dials_the_customer(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer, aiohttp_client: Any
) -> None:
    public = await aiohttp_client(public_app(cb))
    alice = await watch(cb, aiohttp_client)
    try:
        async with phone(voice_env, "alice") as alice_phone, \
                customer.phone(answer_after_ms=800, hangup_after_ms=2500) as cust:
            when = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
            resp = await public.post("/v1/callbacks", headers=token(cb), json={
                "phone": ADA, "when": when, "skill": "sales", "page_url": "https://www.acme.example/"})
            assert resp.status == 201, await resp.text()
            cb_id = (await resp.json())["id"]
            done = await eventually(lambda: completed(cb, cb_id), 40, "the callback to be served")
            pop = await eventually(alice.offer, 5, "alice's screen pop")
            cust_result = await cust.stop()
        alice_result = await alice_phone.result()
    finally:
        await alice.close()
    assert customer.invites() == [f"cb-{cb_id}-1"], cust_result.describe()
    assert alice_result.requests.get("INVITE") == 1, alice_result.describe()
    row = (await rows(cb, Callback, Callback.id == cb_id))[0]
    (attempt,) = await attempts(cb, row)
    assert (row.status, row.mode, attempt.result) == ("done", "agent_first", "answered")
    events = await rows(cb, ContactEvent, ContactEvent.contact_id == done.id)
    offered = next(e.at for e in events if e.kind == "offered")
    assert offered < attempt.started_at  # the agent was reserved before the customer rang
    assert pop["customer"]["name"] == "Ada Lovelace" and pop["callback"] is True
    assert pop["page_url"] == "https://www.acme.example/"
    assert done.state == "completed" and done.disposition == "caller-hangup"
    assert attempt.answered_at <= done.connected_at and 2 <= done.talk_s < 6


@pytest.mark.parametrize("settings", [{"mode": "agent_first"}])
async def test_agent_first_never_dials_the_customer_while_no_agent_answers(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer, aiohttp_client: Any
) -> None:
    async with cb.sessions() as s:
        await s.execute(update(Queue).values(ring_timeout_s=3))
        await s.commit()
    agents = await ready(cb, "alice")
    public = await aiohttp_client(public_app(cb))
    async with phone(voice_env, "alice", "agent_noanswer.xml") as alice_phone, customer.phone() as cust:
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
        resp = await public.post("/v1/callbacks", headers=token(cb),
                                 json={"phone": ADA, "when": when, "skill": "sales"})
        assert resp.status == 201
        row = await eventually(lambda: callback_in(cb, "queued"), 10, "the callback to be routed")
        await eventually(lambda: _contact_in(cb, row, "offered"), 10, "the offer to alice")
        back = await eventually(lambda: _contact_in(cb, row, "queued"), 15, "the ring timeout")
        assert cb.queue.agent_state(agents["alice"].id) == "not_ready"
        assert back.agent_id is None and back.offer_count == 1
        result = await cust.stop()
    assert (await alice_phone.result()).requests.get("INVITE") == 1
    assert not result.requests.get("INVITE") and customer.invites() == []
    assert await attempts(cb, row) == []


async def _contact_in(rt: Runtime, cb: Callback, state: str) -> Contact | None:
    contact = await contact_of(rt, cb)
    return contact if contact.state == state else None


@pytest.mark.parametrize("settings", [{"retry_after_s": 1.0, "retry_factor": 1.0, "max_tries": 2}])
async def test_nobody_presses_1_then_retried_until_max_tries(
    cb: Runtime, customer: Customer, aiohttp_client: Any
) -> None:
    public = await aiohttp_client(public_app(cb))
    # An answering machine, say: it answers and never presses 1 (it sends a 2).
    async with customer.phone(digit=2, dtmf_after_ms=500) as cust:
        resp = await public.post("/v1/callbacks", headers=token(cb), json={"phone": ADA})
        cb_id = (await resp.json())["id"]
        row = await eventually(lambda: callback_in(cb, "failed"), 60, "the callback to give up")
        result = await cust.stop()
    assert customer.invites() == [f"cb-{cb_id}-1", f"cb-{cb_id}-2"]
    assert result.requests.get("BYE") == 2  # ccari hung up both after its prompt
    assert [a.result for a in await attempts(cb, row)] == ["not-confirmed", "not-confirmed"]
    assert (row.tries, row.last_result) == (2, "callback-max-tries")
    contact = await contact_of(cb, row)
    assert contact.state == "failed" and contact.disposition == "callback-max-tries"


async def test_ivr_callback_to_a_number_the_tenant_does_not_call_queues_the_caller_instead(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer
) -> None:
    await ready(cb, "bob")
    async with phone(voice_env, "bob", hangup_after_ms=1500) as bob_phone, customer.phone() as cust:
        # A caller ID in a premium range (spoofed, say) presses 3: no callback is made.
        call = caller(voice_env, digits="3", dtmf_after_ms=800, hangup_after_ms=0, caller="19005550100")
        await call.start()
        result = await call.wait()
        assert result.ok, result.describe()
        cust_result = await cust.stop()
    assert (await bob_phone.result()).requests.get("INVITE") == 1
    assert not cust_result.requests.get("INVITE") and await rows(cb, Callback) == []
    (served,) = await rows(cb, Contact)
    assert served.state == "completed" and served.attributes == {"skill": "support"}


async def test_refused_numbers_never_reach_asterisk(
    cb: Runtime, customer: Customer, aiohttp_client: Any
) -> None:
    public = await aiohttp_client(public_app(cb))
    async with customer.phone() as cust:
        for number, status, error in (("+19005550100", 403, "number-not-allowed"),
                                      ("+18765550100", 403, "number-not-allowed"),
                                      ("+882345678901", 422, "invalid-number"),
                                      ("+44 909 879 0000", 403, "number-not-allowed")):
            resp = await public.post("/v1/callbacks", headers=token(cb), json={"phone": number})
            assert (resp.status, (await resp.json())["error"]) == (status, error)
        assert cb.ari is not None
        assert await cb.ari.list_channels() == []
        result = await cust.stop()
    assert not result.requests.get("INVITE") and customer.invites() == []
    assert await rows(cb, Callback) == []
    # No trunk was asked for: the outbound decisions are the refusals, kept for the admin.
    assert cb.outward is not None
    await cb.outward.settled()
    kept = await rows(cb, AdmissionDecision, AdmissionDecision.direction == "outbound")
    assert sorted((d.admit, d.action, d.reason) for d in kept) == sorted(
        [(False, "refuse", "number-not-allowed")] * 3 + [(False, "refuse", "invalid-number")])


async def test_busy_then_answered_on_the_retry_after_the_backoff(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer, aiohttp_client: Any
) -> None:
    await ready(cb, "alice")
    public = await aiohttp_client(public_app(cb))
    async with phone(voice_env, "alice", hangup_after_ms=1500) as alice_phone, \
            customer.phone(busy_first=1, dtmf_after_ms=1000) as cust:
        resp = await public.post("/v1/callbacks", headers=token(cb), json={"phone": ADA, "skill": "sales"})
        cb_id = (await resp.json())["id"]
        await eventually(lambda: completed(cb, cb_id), 40, "the callback to be served")
        await cust.stop()
    assert (await alice_phone.result()).requests.get("INVITE") == 1
    assert customer.invites() == [f"cb-{cb_id}-1", f"cb-{cb_id}-2"]
    row = (await rows(cb, Callback, Callback.id == cb_id))[0]
    first, second = await attempts(cb, row)
    assert (first.result, first.cause, second.result) == ("busy", 17, "answered")
    assert (second.started_at - first.ended_at).total_seconds() >= 2.0  # retry_after_s
    assert row.status == "done" and row.tries == 2


@pytest.mark.parametrize("callbacks_config", [{"defer_s": 1.0}], indirect=True)
async def test_a_callback_whose_trunk_admission_fails_is_tried_again_not_left_dialing(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer, aiohttp_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trunk admission fails (its database away) as the callback is placed: nothing was
    dialled, so the same try goes a little later (callbacks.defer_s), as when admission says
    "not now"; it is not left "dialing" until the next ARI connect."""
    assert cb.admission is not None
    admit = cb.admission.admit_outbound
    failed: list[str] = []

    async def away_once(tenant_id: int, call_id: str) -> Any:
        if not failed:
            failed.append(call_id)
            raise ConnectionRefusedError("the database is away")
        return await admit(tenant_id, call_id)

    monkeypatch.setattr(cb.admission, "admit_outbound", away_once)
    await ready(cb, "alice")
    public = await aiohttp_client(public_app(cb))
    async with phone(voice_env, "alice", hangup_after_ms=1500) as alice_phone, \
            customer.phone(dtmf_after_ms=1000) as cust:
        resp = await public.post("/v1/callbacks", headers=token(cb), json={"phone": ADA, "skill": "sales"})
        cb_id = (await resp.json())["id"]
        await eventually(lambda: completed(cb, cb_id), 40, "the callback to be served")
        await cust.stop()
    assert failed and (await alice_phone.result()).requests.get("INVITE") == 1
    assert customer.invites() == [f"cb-{cb_id}-1"]  # the try that failed was never placed
    row = (await rows(cb, Callback, Callback.id == cb_id))[0]
    assert row.status == "done" and row.tries == 1


@pytest.mark.parametrize("settings", [{"retry_after_s": 2.0, "retry_factor": 1.0, "max_tries": 3}])
async def test_cancelling_stops_further_attempts(
    cb: Runtime, customer: Customer, aiohttp_client: Any
) -> None:
    public = await aiohttp_client(public_app(cb))
    me = token(cb)
    async with customer.phone(busy_first=99) as cust:
        resp = await public.post("/v1/callbacks", headers=me, json={"phone": ADA})
        cb_id = (await resp.json())["id"]
        pending = await eventually(lambda: _tried(cb, cb_id, 1), 20, "the first (busy) attempt")
        assert pending.status == "pending" and pending.next_attempt_at is not None
        assert (await public.delete(f"/v1/callbacks/{cb_id}", headers=me)).status == 204
        # Let the time of the retry that was planned pass (with a margin): nothing is placed.
        wait = (pending.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds() + 2.0
        await asyncio.sleep(max(wait, 0))
        result = await cust.stop()
    assert customer.invites() == [f"cb-{cb_id}-1"] and result.requests.get("INVITE") == 1
    row = (await rows(cb, Callback, Callback.id == cb_id))[0]
    assert (row.status, row.tries, row.next_attempt_at) == ("cancelled", 1, None)
    contact = await contact_of(cb, row)
    assert contact.state == "abandoned" and contact.disposition == "cancelled-by-customer"


async def _tried(rt: Runtime, cb_id: str, n: int) -> Callback | None:
    row = (await rows(rt, Callback, Callback.id == cb_id))[0]
    return row if row.tries == n and row.status == "pending" else None


async def test_ivr_caller_asks_for_a_callback_and_keeps_their_place(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer
) -> None:
    await ready(cb, "bob")
    async with phone(voice_env, "bob", hangup_after_ms=1500) as bob_phone, \
            customer.phone(dtmf_after_ms=1000) as cust:
        # Ada calls acme, presses 3 ("call me back"), hears the confirmation, is hung up.
        call = caller(voice_env, digits="3", dtmf_after_ms=800, hangup_after_ms=0, caller=ADA[1:])
        await call.start()
        result = await call.wait()
        assert result.ok and result.requests.get("BYE") == 1, result.describe()
        row = await eventually(lambda: callback_in(cb, "pending", "dialing", "answered", "done"), 10,
                               "the callback")
        cb_id = row.id
        await eventually(lambda: completed(cb, cb_id), 40, "the callback to be served")
        await cust.stop()
    assert customer.invites() == [f"cb-{cb_id}-1"]
    assert (await bob_phone.result()).requests.get("INVITE") == 1
    voice = (await rows(cb, Contact, Contact.disposition == "callback-requested"))[0]
    row = (await rows(cb, Callback, Callback.id == cb_id))[0]
    assert (row.source, row.phone, row.status) == ("ivr", ADA, "done")
    assert row.place_at == voice.arrived_at  # the place of the first call
    served = await contact_of(cb, row)
    assert served.queued_at == voice.arrived_at and served.attributes["skill"] == "support"
    (attempt,) = await attempts(cb, row)
    assert attempt.started_at > voice.ended_at  # not while the caller was still on the line
    assert [t.call_id for t in await rows(cb, TrunkCall)] == []  # both calls' trunks released


# ---- kill -9 during an originate ----------------------------------------------------------------
class Outside:
    """The database and Asterisk as seen by the test while ccari runs as its own process."""

    def __init__(self, cfg: Config, pbx: PbxProcess) -> None:
        self.engine = make_engine(cfg.database.url)
        self.sessions = make_sessionmaker(self.engine)
        self.pbx = pbx

    async def one(self, model: Any, *where: Any) -> Any:
        async with self.sessions() as s:
            found = list(await s.scalars(select(model).where(*where)))
        return found[0] if len(found) == 1 else None

    async def all(self, model: Any, *where: Any) -> list[Any]:
        async with self.sessions() as s:
            return list(await s.scalars(select(model).where(*where)))

    async def channel_state(self, channel_id: str) -> str | None:
        """The state of a channel in Asterisk (concise: name!context!exten!prio!state!...)."""
        out = await asyncio.to_thread(self.pbx.rx, "core show channels concise")
        for line in out.splitlines():
            if channel_id in line.split("!"):
                return line.split("!")[4]
        return None

    async def ringing(self, channel_id: str) -> bool:
        return await self.channel_state(channel_id) in ("Ring", "Ringing", "Down")

    async def gone(self, channel_id: str) -> bool:
        return await self.channel_state(channel_id) is None

    async def served(self, cb_id: str) -> Contact | None:
        cb = await self.one(Callback, Callback.id == cb_id)
        contact = await self.one(Contact, Contact.id == cb.contact_id)
        return contact if contact.state == "completed" else None


@pytest.fixture
async def outside(voice_cfg: Config, voice_pbx: PbxProcess, customer: Customer) -> AsyncIterator[Outside]:
    await prepare(voice_cfg, retry_after_s=3.0, retry_factor=1.0, ring_timeout_s=30)
    o = Outside(voice_cfg, voice_pbx)
    async with o.sessions() as s:  # alice was ready: the restarted ccari restores that
        alice = await agents_repo.by_login(s, "acme", "alice")
        assert alice is not None
        await agents_repo.set_presence(s, alice.tenant_id, alice.id, "ready")
        await s.commit()
    yield o
    await o.engine.dispose()


@pytest.fixture
async def ccari_proc(voice_cfg: Config, customer: Customer) -> AsyncIterator[CcariProcess]:
    proc = CcariProcess(voice_cfg, free_tcp_port())
    # The process reads its config from the environment: the tests' [callbacks] section.
    proc.env.update({f"CCARI_CALLBACKS_{k.upper()}": str(v)
                     for k, v in callbacks_section(customer).items()})
    yield proc
    await proc.stop()


async def ask(proc: CcariProcess, cfg: Config, body: dict[str, Any]) -> str:
    token, _ = CustomerTokens(cfg.web.secret_key).issue(ACME)
    url = f"http://127.0.0.1:{proc.env['CCARI_WEB_PUBLIC_PORT']}/v1/callbacks"
    async with aiohttp.ClientSession() as http, http.post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def test_kill_9_while_the_customer_rings_the_restarted_ccari_adopts_that_attempt(
    voice_cfg: Config, voice_env: VoiceEnv, outside: Outside, customer: Customer,
    ccari_proc: CcariProcess
) -> None:
    async with phone(voice_env, "alice", hangup_after_ms=2000) as alice_phone, \
            customer.phone(answer_after_ms=12000, dtmf_after_ms=1000) as cust:
        await ccari_proc.start()
        cb_id = await ask(ccari_proc, voice_cfg, {"phone": ADA, "skill": "sales"})
        attempt_id = f"cb-{cb_id}-1"
        await eventually(lambda: outside.ringing(attempt_id), 15, "the customer's phone to ring")
        assert await outside.one(CallbackAttempt, CallbackAttempt.id == attempt_id) is not None

        await ccari_proc.kill()  # mid-originate: the phone rings, nobody is there
        assert await outside.ringing(attempt_id)
        await ccari_proc.start()
        done = await eventually(lambda: outside.served(cb_id), 45, "the customer to be served")
        await cust.stop()
    assert customer.invites() == [attempt_id]  # rang exactly once for that attempt
    assert (await alice_phone.result()).requests.get("INVITE") == 1
    (attempt,) = await outside.all(CallbackAttempt, CallbackAttempt.callback_id == cb_id)
    assert attempt.result == "answered" and attempt.n == 1
    row = await outside.one(Callback, Callback.id == cb_id)
    assert (row.status, row.tries) == ("done", 1)
    assert done.channel_id == attempt_id and done.disposition == "agent-hangup"


async def test_kill_9_and_the_phone_answered_meanwhile_the_next_attempt_has_a_new_id_after_the_backoff(
    voice_cfg: Config, voice_env: VoiceEnv, outside: Outside, customer: Customer,
    ccari_proc: CcariProcess
) -> None:
    async with phone(voice_env, "alice", hangup_after_ms=2000) as alice_phone, \
            customer.phone(answer_after_ms=1500, dtmf_after_ms=1000) as cust:
        await ccari_proc.start()
        cb_id = await ask(ccari_proc, voice_cfg, {"phone": ADA, "skill": "sales"})
        first = f"cb-{cb_id}-1"
        await eventually(lambda: outside.ringing(first), 15, "the customer's phone to ring")
        await ccari_proc.kill()
        # The customer answers while ccari is gone: Asterisk has no app to give the call to
        # and hangs up.  Whether the phone was answered, ccari cannot know.
        await eventually(lambda: outside.gone(first), 15, "the first attempt to end")
        await ccari_proc.start()
        done = await eventually(lambda: outside.served(cb_id), 45, "the customer to be served")
        await cust.stop()
    second = f"cb-{cb_id}-2"
    assert customer.invites() == [first, second]  # never the same attempt twice
    assert (await alice_phone.result()).requests.get("INVITE") == 1
    one, two = sorted(await outside.all(CallbackAttempt, CallbackAttempt.callback_id == cb_id),
                      key=lambda a: a.n)
    assert (one.id, one.result, two.id, two.result) == (first, "unknown", second, "answered")
    assert (two.started_at - one.ended_at).total_seconds() >= 3.0  # the backoff
    assert done.channel_id == second


@pytest.mark.parametrize("settings", [{"mode": "agent_first"}])
async def test_agent_first_cancelled_while_the_agent_rings_stops_her_phone_and_frees_her(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer, aiohttp_client: Any
) -> None:
    """The lifecycle's commands of a cancel while offered: withdraw (her phone stops ringing,
    her page drops the offer), dequeue (she is free at once, not held as missed)."""
    public = await aiohttp_client(public_app(cb))
    me = token(cb)
    alice = await watch(cb, aiohttp_client)
    try:
        async with phone(voice_env, "alice", "agent_noanswer.xml") as alice_phone, \
                customer.phone() as cust:
            when = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
            resp = await public.post("/v1/callbacks", headers=me,
                                     json={"phone": ADA, "when": when, "skill": "sales"})
            assert resp.status == 201, await resp.text()
            cb_id = (await resp.json())["id"]
            row = await eventually(lambda: callback_in(cb, "queued"), 10, "the callback to be routed")
            await eventually(lambda: _ringing(cb, row), 10, "alice's phone to ring")
            assert (await public.delete(f"/v1/callbacks/{cb_id}", headers=me)).status == 204
            await eventually(lambda: _withdrawn(alice, row.contact_id), 10,
                             "the offer withdrawn from alice's page")
            await eventually(lambda: _no_channels(cb), 10, "alice's leg to end")
            async with cb.sessions() as s:
                agent = await agents_repo.by_login(s, "acme", "alice")
            assert agent is not None
            alice_state = cb.queue.agent_state(agent.id)
            cust_result = await cust.stop()
        alice_result = await alice_phone.result()
    finally:
        await alice.close()
    assert alice_result.requests.get("CANCEL") == 1, alice_result.describe()
    assert alice_state == "ready"  # not reserved any more, and not "missed offer"
    assert customer.invites() == [] and not cust_result.requests.get("INVITE")
    contact = await contact_of(cb, row)
    assert (contact.state, contact.disposition) == ("abandoned", "cancelled-by-customer")
    assert cb.queue.view(contact.id) is None


async def _ringing(rt: Runtime, cb: Callback) -> Contact | None:
    contact = await contact_of(rt, cb)
    return contact if contact.state == "offered" and contact.agent_channel_id else None


async def _withdrawn(watcher: Watcher, contact_id: str) -> bool:
    return any(m.get("type") == "withdrawn" and m.get("contact_id") == contact_id
               for m in watcher.messages)


async def _no_channels(rt: Runtime) -> bool:
    assert rt.ari is not None
    return not await rt.ari.list_channels()
