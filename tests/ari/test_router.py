"""The Stasis router: each event reaches its one owner (by Stasis argument, id kind or the
channels an owner holds), nobody else, and a kind or argument has one owner only."""

from __future__ import annotations

from typing import Any

import pytest

from ccari.ari import events as ari_events
from ccari.ari.events import Event, parse_event
from ccari.ari.ids import Kind, kind_of, make, rest_of
from ccari.ari.router import StasisRouter
from tests.ari.ari_samples import channel, dtmf, event, playback, stasis_start


class FakeAri:
    """Only what the router uses of the client: registration by event type."""

    def __init__(self) -> None:
        self.handlers: dict[type, list[Any]] = {}

    def on(self, event_type: type, handler: Any) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    async def emit(self, data: dict[str, Any]) -> None:
        ev = parse_event(data)
        for h in self.handlers.get(type(ev), []):
            await h(ev)


def destroyed(cid: str) -> dict[str, Any]:
    return event("ChannelDestroyed", channel=channel(cid), cause=16, cause_txt="Normal Clearing")


def stasis_end(cid: str) -> dict[str, Any]:
    return event("StasisEnd", channel=channel(cid))


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    ari = FakeAri()
    router = StasisRouter(ari)  # type: ignore[arg-type]
    held: dict[str, set[str]] = {"voice": set(), "callbacks": set()}
    seen: dict[str, list[tuple[str, str]]] = {"voice": [], "callbacks": []}
    owners = {
        "voice": router.owner("voice", stasis_args=("inbound", "agent"),
                              kinds=(Kind.AGENT_LEG, Kind.IVR_PROMPT),
                              holds=lambda c: c in held["voice"]),
        "callbacks": router.owner("callbacks", stasis_args=("callback",),
                                  kinds=(Kind.CALLBACK_LEG, Kind.CALLBACK_CONFIRM),
                                  holds=lambda c: c in held["callbacks"]),
    }
    for name, owner in owners.items():
        def record(ev: Event, name: str = name) -> None:
            seen[name].append((ev.name, getattr(getattr(ev, "channel", None), "id", "")
                               or getattr(getattr(ev, "playback", None), "id", "")))
        for t in ("StasisStart", "StasisEnd", "ChannelDestroyed", "ChannelDtmfReceived",
                  "PlaybackFinished"):
            owner.on(getattr(ari_events, t), record)
    return ari, held, seen


@pytest.mark.parametrize(("message", "owner"), [
    (stasis_start("1733.1", "inbound", "15550100"), "voice"),
    (stasis_start(make(Kind.AGENT_LEG, "c1", 1), "agent", "c1"), "voice"),
    (stasis_start(make(Kind.CALLBACK_LEG, "cb1", 1), "callback", "cb-cb1-1"), "callbacks"),
    (destroyed(make(Kind.CALLBACK_LEG, "cb1", 1)), "callbacks"),  # by the id's kind
    (destroyed(make(Kind.AGENT_LEG, "c1", 1)), "voice"),
    (event("PlaybackFinished", playback=playback(make(Kind.IVR_PROMPT, "c1", 2))), "voice"),
    (event("PlaybackFinished", playback=playback(make(Kind.CALLBACK_CONFIRM, "1733.1"))), "callbacks"),
    (stasis_start("1733.9", "nobody"), None),
    (destroyed("1733.9"), None),  # an Asterisk id nobody started or holds
    (event("PlaybackFinished", playback=playback("pb-unknown")), None),
])
async def test_each_event_reaches_its_one_owner(world, message, owner) -> None:  # type: ignore[no-untyped-def]
    ari, _, seen = world
    await ari.emit(message)
    got = [name for name, events in seen.items() if events]
    assert got == ([owner] if owner else [])


async def test_a_dialplan_channel_follows_its_stasis_start_then_whoever_holds_it(world) -> None:  # type: ignore[no-untyped-def]
    ari, held, seen = world
    await ari.emit(stasis_start("1733.1", "inbound", "15550100"))
    await ari.emit(dtmf("1733.1", "3"))
    assert [e for e, _ in seen["voice"]] == ["StasisStart", "ChannelDtmfReceived"]
    # The IVR's "call me back": the callbacks take the caller over.
    held["callbacks"].add("1733.1")
    await ari.emit(dtmf("1733.1", "1"))
    await ari.emit(stasis_end("1733.1"))
    assert [e for e, _ in seen["callbacks"]] == ["ChannelDtmfReceived", "StasisEnd"]
    assert len(seen["voice"]) == 2  # voice saw none of it


async def test_a_callback_leg_handed_to_the_voice_acd_is_the_voice_acds() -> None:
    ari = FakeAri()
    router = StasisRouter(ari)  # type: ignore[arg-type]
    voice_calls: set[str] = set()
    got: list[str] = []
    router.owner("voice", holds=voice_calls.__contains__).on(
        type(parse_event(destroyed("x"))), lambda ev: got.append("voice"))
    router.owner("callbacks", kinds=(Kind.CALLBACK_LEG,)).on(
        type(parse_event(destroyed("x"))), lambda ev: got.append("callbacks"))
    leg = make(Kind.CALLBACK_LEG, "cb1", 1)
    await ari.emit(destroyed(leg))
    voice_calls.add(leg)  # the customer pressed 1: queued as a voice call
    await ari.emit(destroyed(leg))
    assert got == ["callbacks", "voice"]


def test_an_argument_or_a_kind_has_one_owner() -> None:
    router = StasisRouter(FakeAri())  # type: ignore[arg-type]
    router.owner("voice", stasis_args=("inbound",), kinds=(Kind.BRIDGE,))
    with pytest.raises(ValueError, match="inbound"):
        router.owner("other", stasis_args=("inbound",))
    with pytest.raises(ValueError, match="bridge"):
        router.owner("other", kinds=(Kind.BRIDGE,))


@pytest.mark.parametrize(("object_id", "kind", "rest"), [
    ("agent-c1-2", Kind.AGENT_LEG, "c1-2"),
    ("cbp-cb-x-1-2", Kind.CALLBACK_PROMPT, "cb-x-1-2"),
    ("cbc-1733.5", Kind.CALLBACK_CONFIRM, "1733.5"),
    ("vm-c9", Kind.VOICEMAIL, "c9"),
    ("1733331234.56", None, ""),
    ("pb-1", None, ""),
])
def test_one_id_scheme(object_id: str, kind: Kind | None, rest: str) -> None:
    assert kind_of(object_id) is kind
    if kind is not None:
        assert rest_of(object_id, kind) == rest
        assert make(kind, *rest.split("-", 1)) == object_id
