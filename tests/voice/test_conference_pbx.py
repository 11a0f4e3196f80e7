"""The conference controller and the consult's reservation on the real Asterisk: SIPp plays
the caller, the agents' phones and the outside number; each leg sends its own tone and the
tones each one receives say who hears whom (``tests/voice/media.py``).  An agent who leaves
her conference wraps up at once; a supervisor still listens and barges in."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from ccari.app import Runtime, runtime
from ccari.config import Config
from ccari.storage.models import Contact
from tests.support.openapi import Conformances
from tests.voice.calls import (
    ADA,
    alice_answers,
    call_with_alice,
    channels_in,
    command,
    connected_to,
    events_of,
    nothing_left,
    page_of,
    redirect,
    rest,
    same,
    same_set,
    serving,
    table,
)
from tests.voice.conftest import PHONE_IP, VoiceEnv, eventually
from tests.voice.media import Leg, leg, settled
from tests.voice.test_callbacks_pbx import (  # noqa: F401 - fixtures
    Customer,
    callbacks_config,
    cb,
    customer,
    settings,
)
from tests.voice.test_supervision_pbx import Supervisor, session_of
from tests.voice.test_transfers_pbx import trunk_calls
from tests.voice.test_voice_pbx import caller, one_contact_in, phone, ready

pytestmark = pytest.mark.pbx


async def joined(rt: Runtime, legs: dict[str, Leg], name: str, party: str,
                 bridge: str) -> None:
    """The party answered and is in the call's bridge; its phone speaks to that call."""
    async def in_bridge() -> bool:
        return party in await channels_in(rt, bridge)

    await eventually(in_bridge, what=f"{party} in the call's bridge")
    await redirect(rt, legs[name], party)


async def state_of(rt: Runtime, agent_id: int) -> tuple[str, str | None]:
    return rt.queue.agent_state(agent_id), rt.queue.agent_reason(agent_id)


async def test_a_conference_of_four_who_hears_whom_mute_remove_and_the_agent_leaves(
    voice_cfg: Config, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    cfg = replace(voice_cfg, voice=replace(voice_cfg.voice, conference_max_parties=4))
    async with runtime(cfg) as rt, call_with_alice(
            rt, voice_env, openapi_conformance, ready_too=("bob", "sam"),
            phones={"colleague": "bob", "guest": "sam"}) as scene:
        page, legs, live, cid = scene.page, scene.legs, scene.live, scene.cid
        alice, bob, sam = (scene.agents[a] for a in ("alice", "bob", "sam"))
        bridge = live.bridge_id or ""
        # Refused, each with its id.
        for action, body, want in [
            ("conference_add", {"skill": "support"}, (400, "bad-transfer")),
            ("conference_add", {"agent": "alice"}, (400, "bad-transfer")),
            ("conference_add", {"agent": "carol"}, (404, "agent-not-found")),
            ("conference_mute", {"party": f"cnf-{cid}-9"}, (404, "party-not-found")),
            ("conference_remove", {}, (400, "bad-party")),
            ("conference_leave", None, (409, "conference-empty")),
            ("wrap_up", {"disposition": "resolved"}, (409, "call-not-ended")),  # still hers
        ]:
            status, reply = await rest(page, cid, action, body)
            assert (status, reply["error"]) == want, (action, body)

        added = await command(page, {"type": "call.conference_add", "contact_id": cid,
                                     "agent": "bob"}, "conference-dialling")
        assert added == {"type": "conference-dialling", "contact_id": cid,
                         "party": f"cnf-{cid}-1"}
        colleague, guest = f"cnf-{cid}-1", f"cnf-{cid}-2"
        # Bob is kept out of the queue's offers from the moment his phone rings.
        assert await state_of(rt, bob.id) == ("not_ready", "in_call")
        await joined(rt, legs, "colleague", colleague, bridge)
        assert await rest(page, cid, "conference_add", {"agent": "sam"}) == (
            200, {"type": "conference-dialling", "contact_id": cid, "party": guest})
        await joined(rt, legs, "guest", guest, bridge)
        status, reply = await rest(page, cid, "conference_add", {"agent": "bob"})
        assert (status, reply["error"]) == (409, "conference-full")

        everyone = table(legs, *(f"{a}<{b}" for a in legs for b in legs if a != b))
        assert await settled(legs, everyone) == everyone
        status, listed = await rest(page, cid, "conference_list")
        assert status == 200 and listed["limit"] == 4
        assert [(p["id"], p["who"], p["state"], p["muted"]) for p in listed["parties"]] == [
            (colleague, {"agent": "bob"}, "joined", False),
            (guest, {"agent": "sam"}, "joined", False)]

        # Sam muted: nobody hears her, she hears everyone.
        assert await rest(page, cid, "conference_mute", {"party": guest}) == (
            200, {"type": "conference-muted", "contact_id": cid, "party": guest})
        status, reply = await rest(page, cid, "conference_mute", {"party": guest})
        assert (status, reply["error"]) == (409, "party-muted")
        muted = {(a, b): b != "guest" for a, b in everyone}
        assert await settled(legs, muted) == muted

        # Bob removed: hung up, free for queued work again; the others go on.
        removed = await command(page, {"type": "call.conference_remove", "contact_id": cid,
                                       "party": colleague}, "conference-removed")
        assert removed["party"] == colleague
        await eventually(lambda: same(state_of(rt, bob.id), ("ready", None)),
                         what="bob ready again")
        await eventually(lambda: same_set(channels_in(rt, bridge),
                                          {live.channel_id or "", live.agent_channel_id or "",
                                           guest}), what="bob out of the bridge")
        three = scene.only("customer", "agent", "guest")
        want = table(three, "customer<agent", "agent<customer", "guest<customer",
                     "guest<agent")
        assert await settled(three, want) == want

        # Sam unmuted, then alice leaves: the customer and sam talk on.
        await rest(page, cid, "conference_unmute", {"party": guest})
        assert await rest(page, cid, "conference_leave") == (
            200, {"type": "conference-left", "contact_id": cid})
        await eventually(lambda: same(state_of(rt, alice.id), ("wrap_up", None)),
                         what="alice in wrap-up")
        two = scene.only("customer", "guest")
        want = table(two, "customer<guest", "guest<customer")
        assert await settled(two, want) == want
        # She gives her disposition now, once; the call goes on.
        status, reply = await rest(page, cid, "wrap_up", {"disposition": "nope"})
        assert (status, reply["error"]) == (400, "bad-disposition")
        assert await rest(page, cid, "wrap_up", {"disposition": "escalated",
                                                 "note": "sam takes it from here"}) == (
            200, {"type": "wrapped-up", "contact_id": cid, "disposition": "escalated"})
        status, reply = await rest(page, cid, "wrap_up", {"disposition": "resolved"})
        assert (status, reply["error"]) == (409, "already-wrapped-up")
        await eventually(lambda: same(state_of(rt, alice.id), ("ready", None)),
                         what="alice ready again")
        still = await one_contact_in(rt, "connected")
        assert still is not None and still.disposition is None
        # Sam hangs up, the last added party: the call is over.
        assert rt.ari is not None
        await rt.ari.hangup(guest)
        ended = await eventually(lambda: one_contact_in(rt, "completed"), what="completed")
        await eventually(lambda: nothing_left(rt), what="no channel, no bridge")
        await eventually(lambda: same(state_of(rt, sam.id), ("ready", None)),
                         what="sam ready again")
        events = await events_of(rt, ended)
    # Her code is the call's, as if she had given it after its end.
    assert (ended.disposition, ended.agent_id) == ("escalated", alice.id)
    assert ended.meta["ended_by"] == "conference-over"
    assert ended.meta["note"] == "sam takes it from here" and "wrap_up" not in ended.meta
    assert [p["leg"] for p in ended.meta["conference"]] == [colleague, guest]
    kinds = [e.kind for e in events]
    assert kinds.count("conference-dialling") == 2 and kinds.count("conference-joined") == 2
    for earlier, later in [("conference-dialling", "conference-joined"),
                           ("conference-joined", "conference-muted"),
                           ("conference-muted", "conference-removed"),
                           ("conference-removed", "conference-unmuted"),
                           ("conference-unmuted", "conference-agent-left"),
                           ("conference-agent-left", "wrap-up"),
                           ("wrap-up", "conference-left"),
                           ("conference-left", "completed")]:
        assert kinds.index(earlier) < kinds.index(later), (earlier, later, kinds)
    left = next(e for e in events if e.kind == "conference-agent-left")
    assert left.data == {"agent_id": alice.id, "by": "command"}
    wrap = next(e for e in events if e.kind == "wrap-up")
    assert (wrap.data["agent_id"], wrap.data["disposition"], wrap.data["live"]) == (
        alice.id, "escalated", True)
    assert [e.data["error"] for e in events if e.kind == "conference-refused"] == [
        "bad-transfer", "agent-not-found", "conference-full"]  # a skill: not a party at all


async def test_an_outside_party_stays_with_the_caller_when_the_agent_hangs_up(
    cb: Runtime, voice_env: VoiceEnv, customer: Customer,  # noqa: F811 - fixtures
    openapi_conformance: Conformances
) -> None:
    async with alice_answers(cb, voice_env, openapi_conformance,
                             customer.phone(answer_after_ms=300, dtmf_after_ms=10000)) as scene:
        page, call, live, alice = scene.page, scene.call, scene.live, scene.agents["alice"]
        cid = live.id
        status, body = await rest(page, cid, "conference_add", {"number": "+1 2"})
        assert (status, body["error"]) == (422, "invalid-number")
        status, body = await rest(page, cid, "conference_add",
                                  {"number": "+33 1 42 68 53 00"})
        assert (status, body["error"]) == (403, "number-not-allowed")
        assert customer.invites() == []
        party = f"cnf-{cid}-1"
        assert await rest(page, cid, "conference_add", {"number": "+1 201 555 0142"}) \
            == (200, {"type": "conference-dialling", "contact_id": cid, "party": party})
        assert party in await trunk_calls(cb)  # admitted before it was dialled
        three = {live.channel_id or "", live.agent_channel_id or "", party}
        await eventually(lambda: same_set(channels_in(cb, live.bridge_id or ""), three),
                         what="the number in the call's bridge")
        # Alice's phone hangs up: she goes to wrap-up, the caller and the number
        # talk on.
        assert cb.ari is not None
        await cb.ari.hangup(live.agent_channel_id or "")
        await eventually(lambda: same(state_of(cb, alice.id),
                                     ("wrap_up", None)), what="alice in wrap-up")
        await eventually(lambda: same_set(channels_in(cb, live.bridge_id or ""),
                                         {live.channel_id or "", party}),
                         what="the caller and the number")
        assert await one_contact_in(cb, "connected") is not None
        # The caller hangs up: every leg ends, every trunk is given back.
        await cb.ari.hangup(live.channel_id or "")
        ended = await eventually(lambda: one_contact_in(cb, "completed"),
                                 what="completed")
        await eventually(lambda: nothing_left(cb), what="no channel, no bridge")
        await eventually(lambda: same(trunk_calls(cb), []), what="every trunk released")
        await call.wait()
    assert customer.invites() == [party]  # dialled once, under the leg's stable id
    assert ended.disposition == "caller-hangup"
    kinds = [e.kind for e in await events_of(cb, ended)]
    assert kinds.index("conference-dialling") < kinds.index("conference-joined") \
        < kinds.index("conference-agent-left") < kinds.index("completed")


async def contact_where(rt: Runtime, **where: Any) -> Contact | None:
    async with rt.sessions() as s:
        rows = list(await s.scalars(select(Contact).filter_by(**where)))
    return rows[0] if len(rows) == 1 else None


async def test_a_consulted_colleague_gets_no_queued_call_and_hold_waits_for_the_consult(
    ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    agents = await ready(ccari, "alice", "bob")
    alice, bob = agents["alice"], agents["bob"]
    async with serving(ccari, voice_env, openapi_conformance) as served:
        page = await page_of(served, "alice")
        try:
            async with phone(voice_env, "alice"), phone(voice_env, "bob"):
                first = caller(voice_env, digits="1", hangup_after_ms=0, caller=ADA)
                await first.start()
                live = await eventually(lambda: connected_to(ccari, alice.id), what="alice")
                cid = live.id
                await command(page, {"type": "call.consult", "contact_id": cid,
                                     "agent": "bob"}, "consulting")
                assert await state_of(ccari, bob.id) == ("not_ready", "in_call")
                await eventually(lambda: same_set(channels_in(ccari, f"cnb-{cid}-1"),
                                                 {live.agent_channel_id or "",
                                                  f"cns-{cid}-1"}),
                                 what="alice and bob talking")
                # The consult holds the caller and gives her back: no hold or resume now.
                for action in ("hold", "resume"):
                    status, body = await rest(page, cid, action)
                    assert (status, body["error"]) == (409, "consult-in-progress"), action
                # A call for bob's skill waits: the router did not offer it to him.
                second = caller(voice_env, digits="2", hangup_after_ms=0, caller="15550123")
                await second.start()
                waiting = await eventually(lambda: contact_where(ccari, state="queued"),
                                           what="the second call queued")
                assert ccari.queue.view(waiting.id) is not None  # still waiting in the router
                assert await state_of(ccari, bob.id) == ("not_ready", "in_call")
                # The consult ends: bob is free and gets the waiting call at once.
                await command(page, {"type": "call.consult_cancel", "contact_id": cid},
                              "consult-cancelled")
                taken = await eventually(
                    lambda: contact_where(ccari, id=waiting.id, state="connected",
                                          agent_id=bob.id), what="bob takes the waiting call")
                assert ccari.ari is not None
                for contact in (live, taken):
                    await ccari.ari.hangup(contact.channel_id or "")
                await eventually(lambda: nothing_left(ccari), what="no channel, no bridge")
                await first.wait()
                await second.wait()
        finally:
            await page.close()
    kinds = [e.kind for e in await events_of(ccari, live)]
    assert kinds.index("consult-dialling") < kinds.index("consult-ended")


async def test_a_supervisor_listens_to_and_barges_into_a_call_its_agent_left(
    ccari: Runtime, voice_env: VoiceEnv, openapi_conformance: Conformances
) -> None:
    """Alice adds bob and leaves the call to him and the customer: sam, listening since
    before, hears them on (her snoop went with alice's leg); whisper and take over are
    refused, barge joins them; a new session listens at once."""
    sup = await leg("supervisor", PHONE_IP, lambda **p: phone(voice_env, "sam", **p))
    async with call_with_alice(ccari, voice_env, openapi_conformance, ready_too=("bob",),
                               phones={"colleague": "bob"}) as scene, sup.sipp:
        page, legs, live, cid = scene.page, scene.legs, scene.live, scene.cid
        legs["supervisor"] = sup
        sam = Supervisor(await page_of(scene.served, "sam"))
        try:
            await command(page, {"type": "call.conference_add", "contact_id": cid,
                                 "agent": "bob"}, "conference-dialling")
            await joined(ccari, legs, "colleague", f"cnf-{cid}-1", live.bridge_id or "")
            assert (await sam.monitor(cid, "listen"))[0] == 200
            await eventually(lambda: session_of(sam, cid), what="sam's phone answered")
            assert await rest(page, cid, "conference_leave") == (
                200, {"type": "conference-left", "contact_id": cid})
            rest_of = scene.only("customer", "colleague", "supervisor")
            listen = table(rest_of, "customer<colleague", "colleague<customer",
                           "supervisor<customer", "supervisor<colleague")
            assert await settled(rest_of, listen) == listen
            for mode in ("whisper", "take_over"):  # to nobody, from nobody
                status, body = await sam.monitor(cid, mode)
                assert (status, body["error"]) == (409, "agent-not-in-call"), mode
            assert (await sam.monitor(cid, "barge"))[0] == 200
            barge = table(rest_of, *(f"{a}<{b}" for a in rest_of for b in rest_of if a != b))
            assert await settled(rest_of, barge) == barge
            # Her session ends; a new one listens from the start.
            status, body = await sam.call("DELETE", f"/supervisor/api/calls/{cid}/monitor")
            assert (status, body["state"]) == (200, "stopped")
            assert (await sam.monitor(cid, "listen"))[0] == 200
            await eventually(lambda: session_of(sam, cid), what="sam's phone answered again")
            assert await settled(rest_of, listen) == listen
            assert ccari.ari is not None
            await ccari.ari.hangup(live.channel_id or "")
            ended = await eventually(lambda: one_contact_in(ccari, "completed"),
                                     what="completed")
            await eventually(lambda: nothing_left(ccari), what="no channel, no bridge")
        finally:
            await sam.page.close()
    log = [(e.kind, e.data.get("mode"), e.data.get("reason"))
           for e in await events_of(ccari, ended)
           if e.kind.startswith("monitor-") or e.kind == "conference-agent-left"]
    assert log == [("monitor-started", "listen", None), ("conference-agent-left", None, None),
                   ("monitor-mode", "barge", None), ("monitor-stopped", None, "stopped"),
                   ("monitor-started", "listen", None),
                   ("monitor-stopped", None, "call-ended")]
