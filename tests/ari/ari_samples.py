"""ARI JSON as Asterisk sends it (shapes from the ARI docs' events.json/channels.json models
and events captured from Asterisk 16-22, values made up)."""

from __future__ import annotations

from typing import Any

APP = "ccari-test"
TS = "2026-06-20T10:15:02.118+0000"


def channel(
    cid: str = "1718872502.17",
    *,
    name: str = "PJSIP/trunk-0000000b",
    state: str = "Ring",
    number: str = "+33612345678",
) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "state": state,
        "protocol_id": "5b1e0b3c-04a1-4b0e-9a44-6ad3a2f4c1aa",
        "caller": {"name": "Jeanne Martin", "number": number},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "from-trunk",
            "exten": "0170000001",
            "priority": 3,
            "app_name": "Stasis",
            "app_data": f"{APP},inbound,tenant-7",
        },
        "creationtime": "2026-06-20T10:15:01.904+0000",
        "language": "en",
        "channelvars": {"CCARI_TENANT": "7", "CHANNEL(pjsip,call-id)": "abc@10.0.0.5"},
    }


def bridge(bid: str = "b-7f1c", channels: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": bid,
        "technology": "simple_bridge",
        "bridge_type": "mixing",
        "bridge_class": "stasis",
        "creator": "Stasis",
        "name": "queue-sales",
        "channels": list(channels),
        "creationtime": "2026-06-20T10:15:03.001+0000",
        "video_mode": "none",
    }


def playback(pid: str = "pb-1", target: str = "channel:1718872502.17") -> dict[str, Any]:
    return {
        "id": pid,
        "media_uri": "sound:queue-thankyou",
        "target_uri": target,
        "language": "en",
        "state": "playing",
    }


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "timestamp": TS,
        "asterisk_id": "52:54:00:12:34:56",
        "application": APP,
        **fields,
    }


def stasis_start(cid: str = "1718872502.17", *args: str) -> dict[str, Any]:
    return event("StasisStart", args=list(args) or ["inbound", "tenant-7"], channel=channel(cid))


def dtmf(cid: str, digit: str, duration_ms: int = 120) -> dict[str, Any]:
    return event(
        "ChannelDtmfReceived",
        digit=digit,
        duration_ms=duration_ms,
        channel=channel(cid, state="Up"),
    )
