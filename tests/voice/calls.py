"""What the call-control tests on the real PBX share (hold, transfers, consults, conferences,
supervision of a conference): the internal listener on a real port, the agents' pages and
their commands, the legs whose tones say who hears whom, and the waits on Asterisk's
state.  One place, so that a test's set-up reads as what it sets up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, Page

from ccari.app import Runtime, internal_app
from ccari.contacts import repo
from ccari.storage.models import Agent, Contact, ContactEvent
from tests.support.agent_web import AgentPage, open_agent_page
from tests.support.browser import agent_login, chromium
from tests.support.listener import listening
from tests.support.openapi import Conformances
from tests.support.sipp import Sipp, SippResult
from tests.voice.conftest import PHONE_IP, VoiceEnv, eventually
from tests.voice.media import Leg, closed, connected_call, leg, three_legs
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

ADA = "15550199"  # the demo's customer, as the carrier presents her
Served = tuple[str, dict[str, Any]]  # the listener's base URL, the demo's secrets


@contextlib.asynccontextmanager
async def serving(rt: Runtime, env: VoiceEnv, conformance: Conformances) -> AsyncIterator[Served]:
    """The internal listener on a real port (the agent pages' websockets), every answer held
    to its OpenAPI document like the test clients' (``tests/conftest.py``)."""
    async with listening(internal_app(rt), conformance) as base:
        yield base, json.loads((env.state_dir / "demo-secrets.json").read_text())


@dataclass
class InChromium:
    """Alice's agent page in Chromium with a call connected to her phone."""
    alice: Page
    live: Contact
    served: Served
    browser: Browser


@contextlib.asynccontextmanager
async def alice_on_a_call_in_chromium(rt: Runtime, env: VoiceEnv,
                                      conformance: Conformances) -> AsyncIterator[InChromium]:
    """The listener served, alice logged in in Chromium and ready, the carrier's caller
    connected to her SIPp phone; every leg closed on the way out."""
    legs = await three_legs(env, supervisor=False)
    try:
        async with serving(rt, env, conformance) as served, chromium() as browser:
            base, secrets = served
            alice = await agent_login(await (await browser.new_context()).new_page(), base,
                                      "alice", secrets["acme.alice.web"])
            async with legs["agent"].sipp:
                live = await connected_call(rt, env, legs)
                yield InChromium(alice, live, served, browser)
    finally:
        await closed(legs)


POP = ".work-item[data-medium=voice]"  # the call on the agent page


@dataclass
class AliceCalled:
    """Alice's page in Chromium with a carrier's caller connected to her, bob ready."""
    alice: Page
    live: Contact
    caller: Sipp
    rt: Runtime

    async def in_the_call(self) -> int:
        """How many channels the call's bridge holds."""
        assert self.rt.ari is not None
        return len((await self.rt.ari.get_bridge(self.live.bridge_id or "")).channels)


@contextlib.asynccontextmanager
async def alice_called_with_bob_ready(rt: Runtime, env: VoiceEnv, conformance: Conformances,
                                      ) -> AsyncIterator[AliceCalled]:
    """Alice and bob on their SIPp phones, bob ready, alice's page in Chromium; a caller who
    pressed 1 connected to her."""
    await ready(rt, "bob")
    async with (serving(rt, env, conformance) as (base, secrets), chromium() as browser,
                phone(env, "alice"), phone(env, "bob")):
        alice = await agent_login(await (await browser.new_context()).new_page(), base,
                                  "alice", secrets["acme.alice.web"])
        call = caller(env, digits="1", hangup_after_ms=0)
        await call.start()
        await alice.wait_for_selector(f"{POP}[data-status=connected]", timeout=10000)
        live = await one_contact_in(rt, "connected")
        assert live is not None and live.bridge_id
        yield AliceCalled(alice, live, call, rt)


async def page_of(served: Served, user: str) -> AgentPage:
    base, secrets = served
    return await open_agent_page(base, "acme", user, secrets[f"acme.{user}.web"])


async def command(page: AgentPage, msg: dict[str, Any], want: str) -> dict[str, Any]:
    """Send a page command; the first reply of type ``want`` or ``error``."""
    await page.ws.send_json(msg)
    while True:
        reply = await page.ws.receive_json(timeout=10)
        if reply.get("type") in (want, "error"):
            return reply


async def csrf_of(page: AgentPage) -> str:
    html = await (await page.http.get("/agent")).text()
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


async def rest(page: AgentPage, contact_id: str, action: str, body: Any = None) -> tuple[int, Any]:
    resp = await page.http.post(f"/agent/api/calls/{contact_id}/{action}", json=body,
                                headers={"X-CSRF-Token": await csrf_of(page)})
    return resp.status, await resp.json()


async def channels_in(rt: Runtime, bridge_id: str) -> set[str]:
    assert rt.ari is not None
    return set((await rt.ari.get_bridge(bridge_id)).channels)


async def connected_to(rt: Runtime, agent_id: int) -> Contact | None:
    row = await one_contact_in(rt, "connected")
    return row if row is not None and row.agent_id == agent_id else None


async def events_of(rt: Runtime, contact: Contact) -> list[ContactEvent]:
    async with rt.sessions() as s:
        return await repo.events(s, contact.tenant_id, contact.id)


async def same(value: object, expected: object) -> bool:
    """For ``eventually``: whether ``value`` (awaited if it is a coroutine) is ``expected``."""
    if asyncio.iscoroutine(value):
        value = await value
    return value == expected


async def same_set(found: Any, expected: set[str]) -> bool:
    return set(await found) == expected


async def nothing_left(rt: Runtime) -> bool:
    assert rt.ari is not None
    return not await rt.ari.list_channels() and not await rt.ari.list_bridges()


def table(legs: dict[str, Leg], *heard: str) -> dict[tuple[str, str], bool]:
    """Who hears whom among ``legs``: ``"a<b"`` means a hears b, every other pair not."""
    yes = {tuple(h.split("<")) for h in heard}
    return {(a, b): (a, b) in yes for a in legs for b in legs if a != b}


async def redirect(rt: Runtime, it: Leg, channel_id: str) -> None:
    """The leg's phone speaks to ``channel_id`` from now on (a new call of the same phone:
    a colleague consulted again, a party added to a conference)."""
    assert rt.ari is not None
    host, _, port = (await rt.ari.get_var(channel_id, "CHANNEL(rtp,src)")).rpartition(":")
    it.sink.redirect(("127.0.0.1" if host in ("", "0.0.0.0") else host, int(port)))


@dataclass
class Scene:
    """A call connected to alice: her page, the legs (customer, agent and the extra
    phones), the call's contact and the agents made ready."""

    served: Served
    page: AgentPage
    legs: dict[str, Leg]
    live: Contact
    agents: dict[str, Agent]

    @property
    def cid(self) -> str:
        return self.live.id

    def only(self, *names: str) -> dict[str, Leg]:
        return {k: self.legs[k] for k in names}


@contextlib.asynccontextmanager
async def call_with_alice(rt: Runtime, env: VoiceEnv, conformance: Conformances, *,
                          phones: dict[str, str] | None = None,
                          ready_too: tuple[str, ...] = ()) -> AsyncIterator[Scene]:
    """Ada calls and is connected to alice, with alice's page open; ``phones``: more legs,
    by name, on these agents' phones (e.g. ``{"colleague": "bob"}``), running meanwhile;
    ``ready_too``: other agents made ready first.  Every page and leg closed at the end."""
    agents = await ready(rt, "alice", *ready_too)
    legs = await three_legs(env, supervisor=False)
    for name, user in (phones or {}).items():
        legs[name] = await leg(name, PHONE_IP, lambda u=user, **p: phone(env, u, **p))
    async with serving(rt, env, conformance) as served:
        page = await page_of(served, "alice")
        try:
            async with contextlib.AsyncExitStack() as running:
                for name in ("agent", *(phones or {})):
                    await running.enter_async_context(legs[name].sipp)
                live = await connected_call(rt, env, legs)
                yield Scene(served, page, legs, live, agents)
        finally:
            await page.close()
            await closed(legs)


@dataclass
class Answered:
    """Ada's call (SIPp with its own media) answered by alice's phone, her page open."""

    page: AgentPage
    call: Sipp
    live: Contact
    agents: dict[str, Agent]
    alice_result: SippResult | None = None  # her phone's, once the scene is over


@contextlib.asynccontextmanager
async def alice_answers(rt: Runtime, env: VoiceEnv, conformance: Conformances,
                        *others: contextlib.AbstractAsyncContextManager[Any],
                        ready_too: tuple[str, ...] = ()) -> AsyncIterator[Answered]:
    """Ada calls (pressing 1: sales) and alice's phone answers, with alice's page open;
    ``others``: more phones running meanwhile (a colleague's, the outside number's)."""
    agents = await ready(rt, "alice", *ready_too)
    async with serving(rt, env, conformance) as served:
        page = await page_of(served, "alice")
        try:
            async with phone(env, "alice") as alice_phone, contextlib.AsyncExitStack() as more:
                for it in others:
                    await more.enter_async_context(it)
                call = caller(env, digits="1", hangup_after_ms=0, caller=ADA)
                await call.start()
                live = await eventually(lambda: connected_to(rt, agents["alice"].id),
                                        what="alice")
                scene = Answered(page, call, live, agents)
                yield scene
            scene.alice_result = await alice_phone.result()
        finally:
            await page.close()
