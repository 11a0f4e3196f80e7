from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccari.ari.backoff import Backoff, ReconnectPolicy
from ccari.ari.events import (
    ApplicationReplaced,
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    event_key,
    parse_event,
)
from ccari.ari.models import AsteriskInfo, Bridge, Channel
from tests.ari.ari_samples import APP, bridge, channel, event, playback, stasis_start

CID = "1718872502.17"


def test_channel_fields() -> None:
    ch = Channel.from_json(channel(CID))
    assert ch.id == CID
    assert ch.name == "PJSIP/trunk-0000000b"
    assert ch.state == "Ring"
    assert (ch.caller.name, ch.caller.number) == ("Jeanne Martin", "+33612345678")
    assert (ch.dialplan.context, ch.dialplan.exten, ch.dialplan.priority) == (
        "from-trunk",
        "0170000001",
        3,
    )
    assert ch.creationtime == datetime(2026, 6, 20, 10, 15, 1, 904000, tzinfo=UTC)
    assert ch.channelvars["CCARI_TENANT"] == "7"
    assert ch.connected.number == ""


def test_channel_minimal_json_uses_defaults() -> None:
    ch = Channel.from_json({"id": "x"})
    assert (ch.name, ch.state, ch.creationtime, dict(ch.channelvars)) == ("", "", None, {})


def test_bridge_and_info() -> None:
    b = Bridge.from_json(bridge("b1", ("c1", "c2")))
    assert (b.id, b.technology, b.bridge_type, b.channels) == (
        "b1",
        "simple_bridge",
        "mixing",
        ("c1", "c2"),
    )
    info = AsteriskInfo.from_json(
        {
            "system": {"version": "22.10.1", "entity_id": "52:54:00:12:34:56"},
            "status": {"startup_time": "2026-06-20T09:00:00.000+0000"},
        }
    )
    assert info.version == "22.10.1"
    assert info.startup_time is not None and info.last_reload_time is None


TABLE: list[tuple[dict[str, Any], type, dict[str, Any]]] = [
    (
        stasis_start(CID, "inbound", "tenant-7"),
        StasisStart,
        {"args": ("inbound", "tenant-7"), "replace_channel": None},
    ),
    (event("StasisEnd", channel=channel(CID)), StasisEnd, {}),
    (
        event("ChannelDestroyed", cause=16, cause_txt="Normal Clearing", channel=channel(CID)),
        ChannelDestroyed,
        {"cause": 16, "cause_txt": "Normal Clearing"},
    ),
    (
        event("ChannelHangupRequest", cause=17, soft=True, channel=channel(CID)),
        ChannelHangupRequest,
        {"cause": 17, "soft": True},
    ),
    (
        event("ChannelHangupRequest", channel=channel(CID)),
        ChannelHangupRequest,
        {"cause": None, "soft": False},
    ),
    (event("ChannelStateChange", channel=channel(CID, state="Up")), ChannelStateChange, {}),
    (
        event("ChannelDtmfReceived", digit="#", duration_ms=100, channel=channel(CID)),
        ChannelDtmfReceived,
        {"digit": "#", "duration_ms": 100},
    ),
    (
        event("ChannelEnteredBridge", bridge=bridge("b1", (CID,)), channel=channel(CID)),
        ChannelEnteredBridge,
        {},
    ),
    (
        event("ChannelLeftBridge", bridge=bridge("b1"), channel=channel(CID)),
        ChannelLeftBridge,
        {},
    ),
    (event("BridgeDestroyed", bridge=bridge("b1")), BridgeDestroyed, {}),
    (event("PlaybackStarted", playback=playback("pb-9")), PlaybackStarted, {}),
    (
        event("PlaybackFinished", playback=dict(playback("pb-9"), state="done")),
        PlaybackFinished,
        {},
    ),
    (
        event(
            "Dial",
            peer=channel("agent-1", name="PJSIP/agent-1-0000000c"),
            dialstatus="ANSWER",
            dialstring="agent-1",
        ),
        Dial,
        {"dialstatus": "ANSWER", "dialstring": "agent-1", "caller": None},
    ),
    (
        event("ChannelVarset", variable="CDR(ccari)", value="x", channel=channel(CID)),
        ChannelVarset,
        {"variable": "CDR(ccari)", "value": "x"},
    ),
    (event("ChannelVarset", variable="GLOBAL_X", value="1"), ChannelVarset, {"channel": None}),
    (event("ApplicationReplaced"), ApplicationReplaced, {}),
]


@pytest.mark.parametrize(("raw", "cls", "fields"), TABLE, ids=[t[0]["type"] for t in TABLE])
def test_event_table(raw: dict[str, Any], cls: type, fields: dict[str, Any]) -> None:
    ev = parse_event(raw)
    assert type(ev) is cls
    assert ev.application == APP
    assert ev.asterisk_id == "52:54:00:12:34:56"
    assert ev.timestamp == datetime(2026, 6, 20, 10, 15, 2, 118000, tzinfo=UTC)
    assert ev.name == raw["type"]
    for key, value in fields.items():
        assert getattr(ev, key) == value, key


def test_stasis_start_carries_channel_and_replace_channel() -> None:
    raw = stasis_start(CID)
    raw["replace_channel"] = channel("old.1")
    ev = parse_event(raw)
    assert isinstance(ev, StasisStart)
    assert ev.channel.id == CID and ev.replace_channel is not None
    assert ev.replace_channel.id == "old.1"


def test_unknown_type_is_kept_not_raised() -> None:
    raw = event("ChannelTransfer", refer_to={"requested_destination": {}}, channel=channel(CID))
    ev = parse_event(raw)
    assert isinstance(ev, UnknownEvent)
    assert ev.type == ev.name == "ChannelTransfer"
    assert ev.raw["refer_to"] == {"requested_destination": {}}
    assert ev.application == APP


def test_malformed_known_event_becomes_unknown(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ev = parse_event(event("ChannelDtmfReceived", channel={"name": "no id"}))
    assert isinstance(ev, UnknownEvent) and ev.type == "ChannelDtmfReceived"
    assert "malformed ARI ChannelDtmfReceived" in caplog.text


@pytest.mark.parametrize("raw", [None, [], "text", 3, {}, {"type": 5}])
def test_garbage_never_raises(raw: Any) -> None:
    assert isinstance(parse_event(raw), UnknownEvent)


@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "channel", "bridge", "playback", "peer", "digit", "args", "timestamp", "cause"]
        ),
        st.one_of(
            st.none(),
            st.text(),
            st.integers(),
            st.lists(st.text()),
            st.dictionaries(st.text(), st.text()),
        ),
    )
)
# Generating nested dictionaries is slow on a loaded CI box; that is not what is tested.
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_parse_event_total(raw: dict[str, Any]) -> None:
    ev = parse_event(raw)
    event_key(ev)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (stasis_start(CID), f"channel:{CID}"),
        (
            event("ChannelEnteredBridge", bridge=bridge("b1"), channel=channel(CID)),
            f"channel:{CID}",
        ),
        (event("BridgeDestroyed", bridge=bridge("b1")), "bridge:b1"),
        (event("PlaybackFinished", playback=playback("p", f"channel:{CID}")), f"channel:{CID}"),
        (event("PlaybackStarted", playback=playback("p", "bridge:b1")), "bridge:b1"),
        (event("Dial", peer=channel("agent-1"), caller=channel(CID)), "channel:agent-1"),
        (event("ChannelVarset", variable="G", value="1"), ""),
        (event("ApplicationReplaced"), ""),
    ],
)
def test_event_key(raw: dict[str, Any], key: str) -> None:
    assert event_key(parse_event(raw)) == key


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(ReconnectPolicy(initial=0.1, maximum=5.0, jitter=0.0))
    assert [round(b.next_delay(), 3) for _ in range(8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    b.reset()
    assert b.next_delay() == pytest.approx(0.1)


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=200))
def test_backoff_jitter_stays_in_band(seed: int, steps: int) -> None:
    policy = ReconnectPolicy(initial=0.1, maximum=5.0, jitter=0.5)
    b = Backoff(policy, random.Random(seed))
    for _ in range(steps):
        nominal = b.nominal()
        delay = b.next_delay()
        assert nominal * 0.5 <= delay <= nominal <= 5.0
        assert delay >= 0.05  # never a busy loop


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"initial": 2, "maximum": 1}, {"jitter": 1.0}, {"factor": 0.5}]
)
def test_reconnect_policy_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**kwargs)
