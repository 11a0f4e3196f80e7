"""ARI resources as frozen dataclasses, parsed once from Asterisk's JSON.

Parsing is lenient about optional fields (they default to empty values) and strict about
the identifying ones (a channel without ``id`` raises ``KeyError``): the event parser turns
such a message into an ``UnknownEvent`` instead of handing a half-built object on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AsteriskInfo",
    "Bridge",
    "CallerId",
    "Channel",
    "DialplanLocation",
    "LiveRecording",
    "Playback",
    "parse_time",
]


def parse_time(value: Any) -> datetime | None:
    """ARI dates look like ``2020-05-20T06:40:45.663+0000``; ``None`` when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _int(data: Mapping[str, Any], key: str) -> int:
    try:
        return int(data.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, kw_only=True, slots=True)
class CallerId:
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: Any) -> CallerId:
        d = _mapping(data)
        return cls(name=_str(d, "name"), number=_str(d, "number"))


@dataclass(frozen=True, kw_only=True, slots=True)
class DialplanLocation:
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, data: Any) -> DialplanLocation:
        d = _mapping(data)
        return cls(
            context=_str(d, "context"),
            exten=_str(d, "exten"),
            priority=_int(d, "priority"),
            app_name=_str(d, "app_name"),
            app_data=_str(d, "app_data"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    dialplan: DialplanLocation = DialplanLocation()
    creationtime: datetime | None = None
    language: str = ""
    accountcode: str = ""
    protocol_id: str = ""
    # Only the variables named in ari.conf/`channelvars`; empty when none are configured.
    channelvars: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        return cls(
            id=str(data["id"]),
            name=_str(data, "name"),
            state=_str(data, "state"),
            caller=CallerId.from_json(data.get("caller")),
            connected=CallerId.from_json(data.get("connected")),
            dialplan=DialplanLocation.from_json(data.get("dialplan")),
            creationtime=parse_time(data.get("creationtime")),
            language=_str(data, "language"),
            accountcode=_str(data, "accountcode"),
            protocol_id=_str(data, "protocol_id"),
            channelvars={
                str(k): "" if v is None else str(v) for k, v in _mapping(data.get("channelvars")).items()
            },
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Bridge:
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    creationtime: datetime | None = None
    video_mode: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bridge:
        return cls(
            id=str(data["id"]),
            technology=_str(data, "technology"),
            bridge_type=_str(data, "bridge_type"),
            bridge_class=_str(data, "bridge_class"),
            creator=_str(data, "creator"),
            name=_str(data, "name"),
            channels=tuple(str(c) for c in data.get("channels") or ()),
            creationtime=parse_time(data.get("creationtime")),
            video_mode=_str(data, "video_mode"),
        )


def _target(uri: str) -> tuple[str, str]:
    kind, _, ident = uri.partition(":")
    return (kind, ident) if ident else ("", uri)


@dataclass(frozen=True, kw_only=True, slots=True)
class Playback:
    id: str
    media_uri: str = ""
    next_media_uri: str = ""
    target_uri: str = ""
    language: str = ""
    state: str = ""  # queued, playing, continuing, done, failed

    @property
    def target(self) -> tuple[str, str]:
        """``("channel", id)`` or ``("bridge", id)`` from ``target_uri``."""
        return _target(self.target_uri)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Playback:
        return cls(
            id=str(data["id"]),
            media_uri=_str(data, "media_uri"),
            next_media_uri=_str(data, "next_media_uri"),
            target_uri=_str(data, "target_uri"),
            language=_str(data, "language"),
            state=_str(data, "state"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveRecording:
    name: str
    format: str = ""
    state: str = ""  # queued, recording, paused, done, failed, canceled
    target_uri: str = ""
    duration: int = 0
    cause: str = ""

    @property
    def target(self) -> tuple[str, str]:
        return _target(self.target_uri)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LiveRecording:
        return cls(
            name=str(data["name"]),
            format=_str(data, "format"),
            state=_str(data, "state"),
            target_uri=_str(data, "target_uri"),
            duration=_int(data, "duration"),
            cause=_str(data, "cause"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class AsteriskInfo:
    version: str = ""
    entity_id: str = ""
    startup_time: datetime | None = None
    last_reload_time: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AsteriskInfo:
        system = _mapping(data.get("system"))
        status = _mapping(data.get("status"))
        return cls(
            version=_str(system, "version"),
            entity_id=_str(system, "entity_id"),
            startup_time=parse_time(status.get("startup_time")),
            last_reload_time=parse_time(status.get("last_reload_time")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    """A PJSIP endpoint as ARI lists it: ``state`` is ``online``, ``offline`` (no contact
    reachable: not registered, or qualify failed) or ``unknown``."""

    technology: str = ""
    resource: str = ""
    state: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Endpoint:
        return cls(technology=_str(data, "technology"), resource=_str(data, "resource"),
                   state=_str(data, "state"))
