"""ARI REST: one ``_request`` with a timeout and the error mapping, thin typed wrappers.

Nothing here retries.  A request that times out may have been applied (``AriTimeout``): for
an originate, look the stable ``channel_id`` up with ``get_channel`` instead of sending again.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import aiohttp

from ccari.ari.errors import AriError, AriTimeout, AriUnavailable, error_for_status
from ccari.ari.models import AsteriskInfo, Bridge, Channel, Endpoint, LiveRecording, Playback

log = logging.getLogger(__name__)

HangupReason = Literal[
    "normal",
    "busy",
    "congestion",
    "no_answer",
    "timeout",
    "rejected",
    "unallocated",
    "normal_unspecified",
    "number_incomplete",
    "codec_mismatch",
    "interworking",
    "failure",
    "answered_elsewhere",
]
# Audio directions, seen from Asterisk: "in" from the channel's party, "out" to it.
Direction = Literal["none", "in", "out", "both"]
ChannelRef = str | Channel
BridgeRef = str | Bridge
Params = Mapping[str, str | int | bool | None]
_Listed = TypeVar("_Listed", Channel, Bridge)


def _seg(ref: str | Channel | Bridge) -> str:
    return quote(ref if isinstance(ref, str) else ref.id, safe="")


def _clean(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _error_message(body: bytes, reason: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip() or reason
    if isinstance(data, Mapping):
        return str(data.get("message") or data.get("error") or reason)
    return reason


class AriRest:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        request_timeout: float = 5.0,
    ) -> None:
        # Accept both http://host:8088 and http://host:8088/ari.
        self.root = base_url.rstrip("/").removesuffix("/ari") + "/ari"
        self.app = app
        self._session = session
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._auth_headers = {"Authorization": f"Basic {token}"}
        self._timeout = request_timeout

    async def _request(self, method: str, path: str, **options: Any) -> Any:
        """:meth:`_send`, then the decoded JSON body (``None`` when empty)."""
        body = await self._send(method, path, **options)
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError as exc:
            raise AriUnavailable(f"{method} {path}: invalid JSON from ARI") from exc

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        request_timeout: float | None = None,
        direct: bool = False,
    ) -> bytes:
        """Send one request; the raw body of a 2xx answer, or an ``AriError``.

        ``direct``: on an HTTP request of its own even while the events' websocket carries
        the others (``AriClient``): for an answer that is not JSON (a recording's file),
        which only HTTP carries, and for what must not queue behind the websocket's
        requests, which Asterisk answers one after the other, each command waiting for its
        channel (under load, for seconds)."""
        total = self._timeout if request_timeout is None else request_timeout
        return await self._http(method, path, params, json_body, total)

    async def _http(self, method: str, path: str, params: Params | None, json_body: Any,
                    total: float) -> bytes:
        try:
            async with self._session.request(
                method,
                self.root + path,
                params=_clean(params),
                json=json_body,
                headers=self._auth_headers,
                timeout=aiohttp.ClientTimeout(total=total),
            ) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    message = _error_message(body, resp.reason or str(resp.status))
                    log.debug("ARI %s %s -> %s %s", method, path, resp.status, message)
                    raise error_for_status(resp.status, f"{method} {path}: {message}")
        except AriError:
            raise
        except TimeoutError as exc:
            raise AriTimeout(f"{method} {path}: no answer within {total}s") from exc
        except aiohttp.ClientError as exc:
            raise AriUnavailable(f"{method} {path}: {exc!r}") from exc
        log.debug("ARI %s %s -> %s", method, path, resp.status)
        return body

    # --- Asterisk ---------------------------------------------------------------------

    async def info(self) -> AsteriskInfo:
        return AsteriskInfo.from_json(await self._request("GET", "/asterisk/info") or {})

    async def reload_module(self, name: str) -> None:
        await self._request("PUT", f"/asterisk/modules/{_seg(name)}")

    async def set_event_filter(self, allowed: Sequence[str]) -> None:
        """Asterisk sends this app only events of the ``allowed`` types (ARI eventFilter)."""
        body = {"allowed": [{"type": t} for t in allowed]}
        await self._request("PUT", f"/applications/{_seg(self.app)}/eventFilter", json_body=body)

    # --- endpoints --------------------------------------------------------------------

    async def get_global(self, variable: str, *, direct: bool = False) -> str:
        """An Asterisk global variable's value ("" when unset); ``direct``: see ``_send``."""
        data = await self._request("GET", "/asterisk/variable", params={"variable": variable},
                                   direct=direct)
        return str((data or {}).get("value", ""))

    async def set_global(self, variable: str, value: str, *, direct: bool = False) -> None:
        """Set an Asterisk global variable (the dialplan reads it)."""
        await self._send("POST", "/asterisk/variable", params={"variable": variable, "value": value},
                         direct=direct)

    async def list_endpoints(self, technology: str = "PJSIP") -> list[Endpoint]:
        return [Endpoint.from_json(e)
                for e in await self._request("GET", f"/endpoints/{_seg(technology)}") or ()]

    # --- channels ---------------------------------------------------------------------

    async def list_channels(self) -> list[Channel]:
        """Asterisk's channels, each once: its list can hold a channel twice when the
        channel's state changes while it is read (the old and the new snapshot); the entry
        listed last is kept."""
        return _once(Channel.from_json(c) for c in await self._request("GET", "/channels") or ())

    async def get_channel(self, channel: ChannelRef) -> Channel:
        return Channel.from_json(await self._request("GET", f"/channels/{_seg(channel)}"))

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app_args: Sequence[str] = (),
        caller_id: str | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - ARI's ring timeout (s), not a call deadline
        variables: Mapping[str, str] | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
    ) -> Channel:
        """Dial ``endpoint`` into this app.  ``channel_id`` is the attempt's stable id:
        a duplicate raises ``AriConflict``; on ``AriTimeout`` ask ``get_channel(channel_id)``."""
        if not channel_id:
            raise ValueError("originate needs a stable channel_id")
        if any("," in arg for arg in app_args):
            raise ValueError(f"ARI appArgs are comma-separated; no comma inside {app_args!r}")
        params: Params = {
            "endpoint": endpoint,
            "app": self.app,
            "appArgs": ",".join(app_args) or None,
            "callerId": caller_id,
            "timeout": timeout,
            "channelId": channel_id,
            "otherChannelId": other_channel_id,
            "originator": originator,
            "formats": formats,
        }
        body = {"variables": dict(variables)} if variables else None
        return Channel.from_json(await self._request("POST", "/channels", params=params, json_body=body))

    async def answer(self, channel: ChannelRef) -> None:
        await self._request("POST", f"/channels/{_seg(channel)}/answer")

    async def ring(self, channel: ChannelRef) -> None:
        await self._request("POST", f"/channels/{_seg(channel)}/ring")

    async def hangup(
        self,
        channel: ChannelRef,
        reason: HangupReason | None = None,
        *,
        reason_code: int | None = None,
    ) -> None:
        if reason is not None and reason_code is not None:
            raise ValueError("give reason or reason_code, not both")
        params: Params = {"reason": reason, "reason_code": reason_code}
        await self._request("DELETE", f"/channels/{_seg(channel)}", params=params)

    async def continue_in_dialplan(
        self,
        channel: ChannelRef,
        context: str | None = None,
        exten: str | None = None,
        priority: int | None = None,
        *,
        label: str | None = None,
    ) -> None:
        params: Params = {
            "context": context,
            "extension": exten,
            "priority": priority,
            "label": label,
        }
        await self._request("POST", f"/channels/{_seg(channel)}/continue", params=params)

    async def subscribe_channel(self, channel: ChannelRef) -> None:
        """Keep getting this channel's events after it leaves Stasis for the dialplan (until
        it is destroyed)."""
        params: Params = {"eventSource": f"channel:{channel if isinstance(channel, str) else channel.id}"}
        await self._request("POST", f"/applications/{_seg(self.app)}/subscription", params=params)

    async def set_var(self, channel: ChannelRef, name: str, value: str) -> None:
        params: Params = {"variable": name, "value": value}
        await self._request("POST", f"/channels/{_seg(channel)}/variable", params=params)

    async def get_var(self, channel: ChannelRef, name: str) -> str:
        data = await self._request("GET", f"/channels/{_seg(channel)}/variable", params={"variable": name})
        return str((data or {}).get("value", ""))

    async def external_media(self, channel_id: str, external_host: str, *,
                             format: str = "slin16") -> Channel:
        """A channel into this app whose audio Asterisk sends as RTP over UDP to
        ``external_host`` (``host:port``)."""
        params: Params = {"app": self.app, "channelId": channel_id, "external_host": external_host,
                          "format": format, "encapsulation": "rtp", "transport": "udp",
                          "direction": "both"}
        return Channel.from_json(await self._request("POST", "/channels/externalMedia",
                                                     params=params))

    # --- media ------------------------------------------------------------------------

    async def play(
        self,
        channel: ChannelRef,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        uris = [media] if isinstance(media, str) else list(media)
        params: Params = {"media": ",".join(uris), "lang": lang, "playbackId": playback_id}
        data = await self._request("POST", f"/channels/{_seg(channel)}/play", params=params)
        return Playback.from_json(data)

    async def play_on_bridge(self, bridge: BridgeRef, media: str | Sequence[str], *,
                             playback_id: str | None = None) -> Playback:
        """Play to every channel of the bridge."""
        uris = [media] if isinstance(media, str) else list(media)
        params: Params = {"media": ",".join(uris), "playbackId": playback_id}
        data = await self._request("POST", f"/bridges/{_seg(bridge)}/play", params=params)
        return Playback.from_json(data)

    async def stop_playback(self, playback_id: str) -> None:
        await self._request("DELETE", f"/playbacks/{_seg(playback_id)}")

    async def start_moh(self, channel: ChannelRef, moh_class: str | None = None) -> None:
        params: Params = {"mohClass": moh_class}
        await self._request("POST", f"/channels/{_seg(channel)}/moh", params=params)

    async def stop_moh(self, channel: ChannelRef) -> None:
        await self._request("DELETE", f"/channels/{_seg(channel)}/moh")

    async def mute(self, channel: ChannelRef, direction: Direction = "in") -> None:
        """Silence the channel's audio in ``direction`` (``in``: what its party says)."""
        await self._request("POST", f"/channels/{_seg(channel)}/mute",
                            params={"direction": direction})

    async def unmute(self, channel: ChannelRef, direction: Direction = "in") -> None:
        await self._request("DELETE", f"/channels/{_seg(channel)}/mute",
                            params={"direction": direction})

    async def snoop(self, channel: ChannelRef, *, snoop_id: str, spy: Direction = "none",
                    whisper: Direction = "none", app_args: Sequence[str] = ()) -> Channel:
        """A snoop channel on ``channel`` into this app (it gets a StasisStart): ``spy``
        hears the channel's audio in that direction, ``whisper`` speaks into it."""
        params: Params = {"spy": spy, "whisper": whisper, "app": self.app,
                          "appArgs": ",".join(app_args) or None, "snoopId": snoop_id}
        return Channel.from_json(await self._request(
            "POST", f"/channels/{_seg(channel)}/snoop", params=params))

    async def rtp_statistics(self, channel: ChannelRef) -> dict[str, Any]:
        """The channel's RTP counters (``txcount``, ``rxcount``...): what it sends and gets."""
        stats = await self._request("GET", f"/channels/{_seg(channel)}/rtp_statistics")
        return dict(stats or {})

    # --- recordings -------------------------------------------------------------------

    async def record(
        self,
        channel: ChannelRef,
        name: str,
        *,
        format: str = "wav",
        max_duration_s: int = 0,
        max_silence_s: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
        if_exists: str = "fail",
    ) -> LiveRecording:
        """Record what the channel hears from its caller into the stored recording ``name``."""
        params: Params = {
            "name": name, "format": format, "maxDurationSeconds": max_duration_s,
            "maxSilenceSeconds": max_silence_s, "beep": beep, "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        data = await self._request("POST", f"/channels/{_seg(channel)}/record", params=params)
        return LiveRecording.from_json(data)

    async def record_bridge(self, bridge: BridgeRef, name: str, *, format: str = "wav",
                            if_exists: str = "fail") -> LiveRecording:
        """Record the bridge's mix (every party) into the stored recording ``name``."""
        params: Params = {"name": name, "format": format, "ifExists": if_exists,
                          "terminateOn": "none"}
        data = await self._request("POST", f"/bridges/{_seg(bridge)}/record", params=params)
        return LiveRecording.from_json(data)

    async def stop_recording(self, name: str) -> None:
        """Stop the live recording and keep what it has (it becomes a stored recording)."""
        await self._request("POST", f"/recordings/live/{_seg(name)}/stop")

    async def mute_recording(self, name: str) -> None:
        """Silence in place of the audio from now on (the file keeps its timeline)."""
        await self._request("POST", f"/recordings/live/{_seg(name)}/mute")

    async def unmute_recording(self, name: str) -> None:
        await self._request("DELETE", f"/recordings/live/{_seg(name)}/mute")

    async def stored_recordings(self) -> list[str]:
        """The names of the recordings Asterisk keeps."""
        return [str(r["name"]) for r in await self._request("GET", "/recordings/stored") or []]

    async def live_recording(self, name: str) -> LiveRecording:
        return LiveRecording.from_json(await self._request("GET", f"/recordings/live/{_seg(name)}"))

    async def stored_recording_file(self, name: str, request_timeout: float = 30.0) -> bytes:
        """The stored recording's file (e.g. a WAV), as Asterisk wrote it."""
        return await self._send("GET", f"/recordings/stored/{_seg(name)}/file",
                                request_timeout=request_timeout, direct=True)

    async def delete_stored_recording(self, name: str) -> None:
        await self._request("DELETE", f"/recordings/stored/{_seg(name)}")

    # --- bridges ----------------------------------------------------------------------

    async def list_bridges(self) -> list[Bridge]:
        """Asterisk's bridges, each once (as :meth:`list_channels`)."""
        return _once(Bridge.from_json(b) for b in await self._request("GET", "/bridges") or ())

    async def get_bridge(self, bridge: BridgeRef) -> Bridge:
        return Bridge.from_json(await self._request("GET", f"/bridges/{_seg(bridge)}"))

    async def create_bridge(self, bridge_id: str, type: str = "mixing", *, name: str | None = None) -> Bridge:
        params: Params = {"type": type, "bridgeId": bridge_id, "name": name}
        return Bridge.from_json(await self._request("POST", "/bridges", params=params))

    async def add_channel(self, bridge: BridgeRef, channel: ChannelRef | Sequence[ChannelRef]) -> None:
        params: Params = {"channel": _ids(channel)}
        await self._request("POST", f"/bridges/{_seg(bridge)}/addChannel", params=params)

    async def remove_channel(self, bridge: BridgeRef, channel: ChannelRef | Sequence[ChannelRef]) -> None:
        params: Params = {"channel": _ids(channel)}
        await self._request("POST", f"/bridges/{_seg(bridge)}/removeChannel", params=params)

    async def destroy_bridge(self, bridge: BridgeRef) -> None:
        await self._request("DELETE", f"/bridges/{_seg(bridge)}")


def _once(items: Iterable[_Listed]) -> list[_Listed]:
    """The entry listed last for each id, in the order ids first appear."""
    return list({item.id: item for item in items}.values())


def _ids(refs: ChannelRef | Sequence[ChannelRef]) -> str:
    if isinstance(refs, str | Channel):
        refs = [refs]
    return ",".join(r if isinstance(r, str) else r.id for r in refs)
