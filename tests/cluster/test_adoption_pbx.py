"""A ccari node dies while its Asterisk lives on: its waiting callers are taken over by the
routing leader, which stands in for that Asterisk (``cluster.standby_ari``), moved to its own
Asterisk through the dialplan and served there, in their place, on the same call (two ccari
nodes on one PostgreSQL, each beside its own real Asterisk; SIPp as the carrier's caller and
the agent's phone)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from ccari.admission.models import TrunkCall
from ccari.ari.rest import AriRest
from ccari.callbacks.models import Callback
from ccari.storage.models import Contact, ContactEvent
from tests.cluster.conftest import NODE_TIMEOUT_S, eventually_true
from tests.cluster.test_calls_across_nodes import (
    CallsNode,
    contact_row,
    next_of,
    page,
    the_contact,
)
from tests.cluster.test_calls_across_nodes import start_calls_node as start_calls_node  # a fixture
from tests.cluster.test_dead_node import crash
from tests.support.agent_web import AgentPage
from tests.support.waits import eventually
from tests.voice.conftest import pbx_counts
from tests.voice.test_voice_pbx import caller, phone

pytestmark = pytest.mark.pbx


async def kill(node: CallsNode) -> None:
    """As kill -9 of its ccari: its bus, leadership, pages and ARI websocket end, nothing of
    its shutdown runs; its Asterisk keeps its callers in Stasis."""
    await crash(node)
    assert node.rt.ari is not None
    await node.rt.ari.close()


async def watching_b(start_calls_node: Any) -> tuple[CallsNode, CallsNode, AgentPage]:
    """a, leading and standing in for b; b; alice's page on a."""
    start_node, seeded = start_calls_node
    a = await start_node("a", standby=("b",))
    await eventually_true(lambda: a.rt.leadership is not None and a.rt.leadership.leading)
    b = await start_node("b")
    return a, b, await page(a, seeded, "alice")


def ari_of(http: aiohttp.ClientSession, node: CallsNode) -> AriRest:
    """The node's Asterisk's ARI, as its standby reaches it."""
    p = node.rt.config.pbx
    return AriRest(http, f"http://{p.host}:{p.ari_port}", p.ari_user, p.ari_password, "ccari")


async def test_a_dead_nodes_waiting_caller_is_taken_over_and_served_on_the_same_call(
        start_calls_node: Any) -> None:
    start_node, seeded = start_calls_node
    a = await start_node("a", standby=("b",))
    await eventually_true(lambda: a.rt.leadership is not None and a.rt.leadership.leading)
    b = await start_node("b")
    async with phone(a.env, "alice") as alice_phone:
        # Nobody is ready: the caller waits on b's Asterisk, driven by b.
        call = caller(b.env, digits="1", hangup_after_ms=20000, caller="15550199")
        await call.start()
        waiting = await eventually(lambda: the_contact(a.rt, "queued"), what="queued on b")
        assert waiting.node == "b"

        await kill(b)
        died = time.monotonic()

        async def taken_over() -> Contact | None:
            row = await contact_row(a, waiting.id)
            return row if row is not None and row.node == "a" else None

        moved = await eventually(taken_over, what="the caller taken over by a")
        took = time.monotonic() - died
        print(f"adopt_s={took:.2f}")
        assert took < NODE_TIMEOUT_S + 5.0
        # The same contact, still waiting, in its place; its channel and trunk now a's.
        assert moved.state == "queued" and moved.queued_at == waiting.queued_at
        assert moved.channel_id != waiting.channel_id and moved.offer_count == 0
        async with a.rt.sessions() as s:
            trunks = list(await s.scalars(select(TrunkCall)))
        assert [(t.call_id, t.node) for t in trunks] == [(moved.channel_id, "a")]
        await eventually_true(lambda: a.rt.queue.view(waiting.id) is not None,
                              "routed again, by a")
        # a's Asterisk holds the caller; b's still carries her call, bridged to a's.
        assert (await asyncio.to_thread(pbx_counts, a.pbx))[0] == 1
        assert (await asyncio.to_thread(pbx_counts, b.pbx))[0] == 2

        alice_page = await page(a, seeded, "alice")
        try:
            offer = await next_of(alice_page, "offer")
            assert offer["contact"]["id"] == waiting.id
            connected = await eventually(lambda: the_contact(a.rt, "connected"),
                                         what="alice connected to the caller")
            assert connected.node == "a" and connected.wait_s is not None
            assert connected.wait_s >= took  # her wait went on through the move
            result = await call.wait()  # the caller's one call, to her own hang-up
            assert result.ok, result.describe()
            done = await eventually(lambda: the_contact(a.rt, "completed"), what="completed")
        finally:
            await alice_page.close()
    rung = await alice_phone.result()
    assert rung.requests.get("INVITE") == 1, rung.describe()
    assert done.disposition == "caller-hangup"
    async with a.rt.sessions() as s:
        events = list(await s.scalars(select(ContactEvent).where(
            ContactEvent.contact_id == waiting.id, ContactEvent.kind == "adopted")))
        assert [e.data for e in events] == [{"from_node": "b", "to_node": "a"}]
        assert not list(await s.scalars(select(Callback)))  # served: nobody called back
        assert not list(await s.scalars(select(TrunkCall)))  # its trunk freed at its end
    await eventually_true(lambda: pbx_counts(a.pbx)[0] == 0 and pbx_counts(b.pbx)[0] == 0,
                          "no channel left on either Asterisk")


async def test_a_dead_nodes_connected_call_goes_on_and_ends_when_the_caller_hangs_up(
        start_calls_node: Any) -> None:
    """b dies while alice talks to b's caller: the call goes on in b's Asterisk, alice stays
    busy with it (not offered more), and when the caller hangs up the leader, watching
    b's bridge, hangs alice's leg up and completes the call: she wraps up then."""
    a, b, alice_page = await watching_b(start_calls_node)
    try:
        async with phone(a.env, "alice") as alice_phone:
            call = caller(b.env, digits="1", hangup_after_ms=9000, caller="15550199")
            await call.start()
            talking = await eventually(lambda: the_contact(a.rt, "connected"),
                                       what="alice talking to b's caller")
            assert talking.node == "b"
            await kill(b)

            async def watched_from_a() -> bool:  # b found dead: its call's trunk is a's now
                async with a.rt.sessions() as s:
                    trunk = await s.get(TrunkCall, talking.channel_id)
                return trunk is not None and trunk.node == "a"

            await eventually(watched_from_a, what="b's connected call watched from a")
            row = await contact_row(a, talking.id)
            assert row is not None and row.state == "connected"  # not closed under her
            assert a.rt.queue.agent_state(talking.agent_id or 0) == "busy"
            assert (await asyncio.to_thread(pbx_counts, b.pbx)) == (2, 1)  # still bridged
            result = await call.wait()  # the caller talks on, then hangs up
            assert result.ok, result.describe()
            done = await eventually(lambda: the_contact(a.rt, "completed"), what="completed")
            assert (await next_of(alice_page, "completed"))["contact_id"] == talking.id
        assert (await alice_phone.result()).requests.get("BYE") == 1  # her leg hung up
    finally:
        await alice_page.close()
    assert done.disposition == "caller-hangup" and done.talk_s is not None
    assert done.talk_s > NODE_TIMEOUT_S  # it went on past b's death
    async with a.rt.sessions() as s:
        assert not list(await s.scalars(select(TrunkCall)))  # its trunk held, then freed
    await eventually_true(lambda: pbx_counts(b.pbx) == (0, 0), "nothing left on b's Asterisk")


async def test_a_dead_nodes_call_that_ended_as_it_died_leaves_its_agent_free(
        start_calls_node: Any) -> None:
    """b dies while alice talks to b's caller, and the caller hangs up before the leader
    finds b dead: nobody on b hangs alice's leg up.  The leader sees the call over in b's
    Asterisk: it hangs her leg up, closes the call, and she is free for the next caller (not
    kept not ready, "call lost", as for a call it cannot see)."""
    a, b, alice_page = await watching_b(start_calls_node)
    async with aiohttp.ClientSession() as http:
        b_ari = ari_of(http, b)
        try:
            async with phone(a.env, "alice") as alice_phone:
                call = caller(b.env, digits="1", hangup_after_ms=60000, caller="15550199")
                await call.start()
                talking = await eventually(lambda: the_contact(a.rt, "connected"),
                                           what="alice talking to b's caller")
                # b's ccari hears its Asterisk no more; the caller hangs up; then b dies
                # (in that order: the leader finds the call over whatever the box's load).
                assert b.rt.ari is not None
                await b.rt.ari.close()
                await b_ari.hangup(talking.channel_id or "", reason="normal")
                await crash(b)
                done = await eventually(lambda: the_contact(a.rt, "completed"),
                                        what="the call closed by the leader")
                await call.wait()
            assert (await alice_phone.result()).requests.get("BYE") == 1  # her leg hung up
        finally:
            await alice_page.close()
    assert done.disposition == "media-node-lost"
    alice = talking.agent_id or 0
    assert a.rt.queue.agent_reason(alice) is None  # not "call_lost"
    await eventually_true(lambda: a.rt.queue.agent_state(alice) == "ready", "alice ready")
    await eventually_true(lambda: pbx_counts(b.pbx) == (0, 0), "nothing left on b's Asterisk")


async def command(opened: AgentPage, kind: str, contact_id: str, reply: str,
                  **fields: Any) -> dict[str, Any]:
    """The page's command about the call, and the reply it gets (its error, if any)."""
    await opened.ws.send_json({"type": kind, "contact_id": contact_id, **fields})
    while True:
        msg = await opened.ws.receive_json(timeout=20)
        if msg.get("type") == reply or (msg.get("type") == "error" and msg.get("request") == kind):
            return msg


async def test_a_dead_nodes_connected_call_is_held_muted_and_hung_up_from_the_agents_page(
        start_calls_node: Any) -> None:
    """b dies while alice talks to b's caller: a, watching the call, answers for it. From her
    page alice holds it (the caller out of b's bridge, hearing music), resumes it, mutes
    and unmutes herself, is told a transfer needs the call's node, hangs up (the call
    completes as her hang-up) and wraps up: nothing waits for b."""
    a, b, alice_page = await watching_b(start_calls_node)
    async with aiohttp.ClientSession() as http:
        b_ari = ari_of(http, b)
        try:
            async with phone(a.env, "alice"):
                call = caller(b.env, digits="1", hangup_after_ms=60000, caller="15550199")
                await call.start()
                talking = await eventually(lambda: the_contact(a.rt, "connected"),
                                           what="alice talking to b's caller")
                await kill(b)

                async def watched_by_a() -> bool:
                    row = await contact_row(a, talking.id)
                    return row is not None and row.meta.get("watched_by") == "a"

                await eventually(watched_by_a, what="b's connected call watched from a")

                async def in_bridge() -> set[str]:
                    return set((await b_ari.get_bridge(talking.bridge_id or "")).channels)

                both = {talking.channel_id, talking.agent_channel_id}
                assert await command(alice_page, "call.hold", talking.id, "held") == {
                    "type": "held", "contact_id": talking.id}
                assert await in_bridge() == {talking.agent_channel_id}  # the caller held
                assert (await command(alice_page, "call.hold", talking.id, "held"))["error"] \
                    == "call-on-hold"
                await command(alice_page, "call.resume", talking.id, "resumed")
                assert await in_bridge() == both
                await command(alice_page, "call.mute", talking.id, "muted")
                await command(alice_page, "call.unmute", talking.id, "unmuted")
                refused = await command(alice_page, "call.transfer", talking.id, "transferred",
                                        to={"skill": "support"})
                assert refused["error"] == "call-node-lost", refused
                await command(alice_page, "call.hangup", talking.id, "hung-up")
                done = await eventually(lambda: the_contact(a.rt, "completed"),
                                        what="the call completed")
                wrapped = await command(alice_page, "call.wrap_up", talking.id, "wrapped-up",
                                        disposition="resolved", note="b went away")
                assert wrapped["type"] == "wrapped-up", wrapped
            await call.wait()
        finally:
            await alice_page.close()
    assert done.disposition == "agent-hangup"
    async with a.rt.sessions() as s:
        kinds = [e.kind for e in await s.scalars(
            select(ContactEvent).where(ContactEvent.contact_id == talking.id)
            .order_by(ContactEvent.id))]
        assert not list(await s.scalars(select(TrunkCall)))
    for kind in ("held", "resumed", "muted", "unmuted", "completed", "wrap-up"):
        assert kind in kinds, (kind, kinds)
    await eventually_true(lambda: pbx_counts(b.pbx) == (0, 0), "nothing left on b's Asterisk")
