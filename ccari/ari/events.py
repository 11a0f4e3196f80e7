"""ARI events as frozen dataclasses, parsed once at the edge by :func:`parse_event`.

Unknown or malformed messages become :class:`UnknownEvent`; parsing never raises.
:func:`event_key` names the ordering lane of an event (its channel, else its bridge), which
the client uses to handle the events of one call in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ccari.ari.models import Bridge, Channel, LiveRecording, Playback, parse_time

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Base of every ARI event."""

    application: str = ""
    timestamp: datetime | None = None
    asterisk_id: str = ""

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, kw_only=True, slots=True)
class UnknownEvent(Event):
    type: str
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def name(self) -> str:
        return self.type


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelEvent(Event):
    """An event about one channel (in its ``channel`` field)."""

    channel: Channel


@dataclass(frozen=True, kw_only=True, slots=True)
class StasisStart(ChannelEvent):
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StasisEnd(ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelCreated(ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelDestroyed(ChannelEvent):
    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None
    soft: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelStateChange(ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelDtmfReceived(ChannelEvent):
    digit: str
    duration_ms: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelDialplan(ChannelEvent):
    dialplan_app: str = ""
    dialplan_app_data: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelCallerId(ChannelEvent):
    caller_presentation: int = 0
    caller_presentation_txt: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelConnectedLine(ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelHold(ChannelEvent):
    musicclass: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelUnhold(ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelTalkingStarted(ChannelEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelTalkingFinished(ChannelEvent):
    duration: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelVarset(Event):
    variable: str
    value: str = ""
    channel: Channel | None = None  # None: a global variable


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelUserevent(Event):
    eventname: str
    channel: Channel | None = None
    userevent: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelEnteredBridge(Event):
    bridge: Bridge
    channel: Channel | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelLeftBridge(Event):
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, kw_only=True, slots=True)
class BridgeCreated(Event):
    bridge: Bridge


@dataclass(frozen=True, kw_only=True, slots=True)
class BridgeDestroyed(Event):
    bridge: Bridge


@dataclass(frozen=True, kw_only=True, slots=True)
class BridgeMerged(Event):
    bridge: Bridge
    bridge_from: Bridge


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackEvent(Event):
    playback: Playback


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackStarted(PlaybackEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackContinuing(PlaybackEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaybackFinished(PlaybackEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordingEvent(Event):
    recording: LiveRecording


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordingStarted(RecordingEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordingFinished(RecordingEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordingFailed(RecordingEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class Dial(Event):
    peer: Channel
    caller: Channel | None = None
    dialstatus: str = ""  # "" while ringing, then ANSWER, BUSY, NOANSWER, CANCEL...
    dialstring: str = ""
    forward: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ApplicationReplaced(Event):
    pass


_Parser = Callable[[Mapping[str, Any], dict[str, Any]], Event]


def _opt_channel(value: Any) -> Channel | None:
    return Channel.from_json(value) if isinstance(value, Mapping) else None


def _channel_only(cls: type[ChannelEvent]) -> _Parser:
    return lambda d, c: cls(channel=Channel.from_json(d["channel"]), **c)


def _bridge_only(cls: type[BridgeCreated | BridgeDestroyed]) -> _Parser:
    return lambda d, c: cls(bridge=Bridge.from_json(d["bridge"]), **c)


def _playback(cls: type[PlaybackEvent]) -> _Parser:
    return lambda d, c: cls(playback=Playback.from_json(d["playback"]), **c)


def _recording(cls: type[RecordingEvent]) -> _Parser:
    return lambda d, c: cls(recording=LiveRecording.from_json(d["recording"]), **c)


def _ch(d: Mapping[str, Any]) -> Channel:
    return Channel.from_json(d["channel"])


_PARSERS: dict[str, _Parser] = {
    "StasisStart": lambda d, c: StasisStart(
        channel=_ch(d),
        args=tuple(str(a) for a in d.get("args") or ()),
        replace_channel=_opt_channel(d.get("replace_channel")),
        **c,
    ),
    "StasisEnd": _channel_only(StasisEnd),
    "ChannelCreated": _channel_only(ChannelCreated),
    "ChannelStateChange": _channel_only(ChannelStateChange),
    "ChannelConnectedLine": _channel_only(ChannelConnectedLine),
    "ChannelUnhold": _channel_only(ChannelUnhold),
    "ChannelTalkingStarted": _channel_only(ChannelTalkingStarted),
    "ChannelDestroyed": lambda d, c: ChannelDestroyed(
        channel=_ch(d), cause=int(d.get("cause") or 0), cause_txt=str(d.get("cause_txt", "")), **c
    ),
    "ChannelHangupRequest": lambda d, c: ChannelHangupRequest(
        channel=_ch(d),
        cause=None if d.get("cause") is None else int(d["cause"]),
        soft=bool(d.get("soft", False)),
        **c,
    ),
    "ChannelDtmfReceived": lambda d, c: ChannelDtmfReceived(
        channel=_ch(d), digit=str(d["digit"]), duration_ms=int(d.get("duration_ms") or 0), **c
    ),
    "ChannelDialplan": lambda d, c: ChannelDialplan(
        channel=_ch(d),
        dialplan_app=str(d.get("dialplan_app", "")),
        dialplan_app_data=str(d.get("dialplan_app_data", "")),
        **c,
    ),
    "ChannelCallerId": lambda d, c: ChannelCallerId(
        channel=_ch(d),
        caller_presentation=int(d.get("caller_presentation") or 0),
        caller_presentation_txt=str(d.get("caller_presentation_txt", "")),
        **c,
    ),
    "ChannelHold": lambda d, c: ChannelHold(channel=_ch(d), musicclass=str(d.get("musicclass", "")), **c),
    "ChannelTalkingFinished": lambda d, c: ChannelTalkingFinished(
        channel=_ch(d), duration=int(d.get("duration") or 0), **c
    ),
    "ChannelVarset": lambda d, c: ChannelVarset(
        variable=str(d["variable"]),
        value=str(d.get("value", "")),
        channel=_opt_channel(d.get("channel")),
        **c,
    ),
    "ChannelUserevent": lambda d, c: ChannelUserevent(
        eventname=str(d["eventname"]),
        channel=_opt_channel(d.get("channel")),
        userevent=dict(d.get("userevent") or {}),
        **c,
    ),
    "ChannelEnteredBridge": lambda d, c: ChannelEnteredBridge(
        bridge=Bridge.from_json(d["bridge"]), channel=_opt_channel(d.get("channel")), **c
    ),
    "ChannelLeftBridge": lambda d, c: ChannelLeftBridge(
        bridge=Bridge.from_json(d["bridge"]), channel=_ch(d), **c
    ),
    "BridgeCreated": _bridge_only(BridgeCreated),
    "BridgeDestroyed": _bridge_only(BridgeDestroyed),
    "BridgeMerged": lambda d, c: BridgeMerged(
        bridge=Bridge.from_json(d["bridge"]), bridge_from=Bridge.from_json(d["bridge_from"]), **c
    ),
    "PlaybackStarted": _playback(PlaybackStarted),
    "PlaybackContinuing": _playback(PlaybackContinuing),
    "PlaybackFinished": _playback(PlaybackFinished),
    "RecordingStarted": _recording(RecordingStarted),
    "RecordingFinished": _recording(RecordingFinished),
    "RecordingFailed": _recording(RecordingFailed),
    "Dial": lambda d, c: Dial(
        peer=Channel.from_json(d["peer"]),
        caller=_opt_channel(d.get("caller")),
        dialstatus=str(d.get("dialstatus", "")),
        dialstring=str(d.get("dialstring", "")),
        forward=str(d.get("forward", "")),
        **c,
    ),
    "ApplicationReplaced": lambda d, c: ApplicationReplaced(**c),
}


def event_types() -> dict[str, type[Event]]:
    """Every ARI event type this module parses, by its ARI name (= its class name)."""
    return {name: cls for name in _PARSERS
            if isinstance(cls := globals().get(name), type) and issubclass(cls, Event)}


def parse_event(data: Any) -> Event:
    """Turn one decoded ARI message into a typed event; never raises."""
    if not isinstance(data, Mapping):
        return UnknownEvent(type="", raw={"message": data})
    kind = str(data.get("type", ""))
    common: dict[str, Any] = {
        "application": str(data.get("application", "")),
        "timestamp": parse_time(data.get("timestamp")),
        "asterisk_id": str(data.get("asterisk_id", "")),
    }
    parser = _PARSERS.get(kind)
    if parser is not None:
        try:
            return parser(data, common)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("malformed ARI %s event, kept as unknown", kind, exc_info=True)
    return UnknownEvent(type=kind, raw=dict(data), **common)


def event_key(event: Event) -> str:
    """The ordering lane of an event: ``channel:<id>``, ``bridge:<id>`` or ``""`` (global).

    Playback and recording events follow their target, so a ``PlaybackFinished`` on a
    channel is handled in order with that channel's DTMF and hangup events.  ``Dial``
    follows the peer (the leg being dialled: its state and StasisStart share the lane).
    """
    channel = getattr(event, "channel", None)
    if isinstance(channel, Channel):
        return f"channel:{channel.id}"
    if isinstance(event, Dial):
        return f"channel:{event.peer.id}"
    if isinstance(event, PlaybackEvent):
        return event.playback.target_uri
    if isinstance(event, RecordingEvent):
        return event.recording.target_uri
    bridge = getattr(event, "bridge", None)
    if isinstance(bridge, Bridge):
        return f"bridge:{bridge.id}"
    return ""
