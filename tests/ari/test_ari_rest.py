from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ccari.ari import (
    AriClient,
    AriConflict,
    AriError,
    AriNotFound,
    AriRequestError,
    AriTimeout,
    AriUnavailable,
)
from ccari.ari.models import Channel
from tests.ari.ari_mock import MockAri
from tests.ari.ari_samples import APP, bridge, channel, playback

Make = Callable[..., AriClient]
CID = "1718872502.17"


async def test_reads_map_to_get_and_parse(make_client: Make, mock_ari: MockAri) -> None:
    mock_ari.routes[("GET", "/channels")] = (200, [channel(CID), channel("c2")])
    mock_ari.routes[("GET", f"/channels/{CID}")] = (200, channel(CID, state="Up"))
    mock_ari.routes[("GET", "/bridges")] = (200, [bridge("b1", (CID,))])
    mock_ari.routes[("GET", "/asterisk/info")] = (200, {"system": {"version": "22.10.1"}})
    mock_ari.routes[("GET", f"/channels/{CID}/variable")] = (200, {"value": "7"})
    client = make_client()
    assert [c.id for c in await client.list_channels()] == [CID, "c2"]
    assert (await client.get_channel(CID)).state == "Up"
    assert (await client.list_bridges())[0].channels == (CID,)
    assert (await client.info()).version == "22.10.1"
    assert await client.get_var(CID, "CCARI_TENANT") == "7"
    assert mock_ari.requests[-1].query == {"variable": "CCARI_TENANT"}


async def test_a_channel_listed_twice_mid_change_is_one_channel(make_client: Make,
                                                                 mock_ari: MockAri) -> None:
    """Asterisk's list can hold a channel's old and new snapshot when its state changes while
    the list is read: ccari sees the channel once (the entry listed last)."""
    mock_ari.routes[("GET", "/channels")] = (200, [channel(CID, state="Ringing"), channel("c2"),
                                                   channel(CID, state="Up")])
    mock_ari.routes[("GET", "/bridges")] = (200, [bridge("b1"), bridge("b1", (CID,))])
    client = make_client()
    assert [(c.id, c.state) for c in await client.list_channels()] == [(CID, "Up"), ("c2", "Ring")]
    assert [(b.id, b.channels) for b in await client.list_bridges()] == [("b1", (CID,))]


CALLS: list[tuple[str, Callable[[AriClient], Awaitable[Any]], str, str, dict[str, str]]] = [
    ("answer", lambda c: c.answer(CID), "POST", f"/channels/{CID}/answer", {}),
    ("ring", lambda c: c.ring(CID), "POST", f"/channels/{CID}/ring", {}),
    ("hangup", lambda c: c.hangup(CID), "DELETE", f"/channels/{CID}", {}),
    (
        "hangup-busy",
        lambda c: c.hangup(CID, "busy"),
        "DELETE",
        f"/channels/{CID}",
        {"reason": "busy"},
    ),
    (
        "hangup-code",
        lambda c: c.hangup(CID, reason_code=34),
        "DELETE",
        f"/channels/{CID}",
        {"reason_code": "34"},
    ),
    ("stop_playback", lambda c: c.stop_playback("pb-1"), "DELETE", "/playbacks/pb-1", {}),
    (
        "start_moh",
        lambda c: c.start_moh(CID, "tenant7"),
        "POST",
        f"/channels/{CID}/moh",
        {"mohClass": "tenant7"},
    ),
    ("start_moh-default", lambda c: c.start_moh(CID), "POST", f"/channels/{CID}/moh", {}),
    ("stop_moh", lambda c: c.stop_moh(CID), "DELETE", f"/channels/{CID}/moh", {}),
    (
        "add_channel",
        lambda c: c.add_channel("b1", [CID, Channel(id="c2")]),
        "POST",
        "/bridges/b1/addChannel",
        {"channel": f"{CID},c2"},
    ),
    (
        "remove_channel",
        lambda c: c.remove_channel("b1", CID),
        "POST",
        "/bridges/b1/removeChannel",
        {"channel": CID},
    ),
    ("destroy_bridge", lambda c: c.destroy_bridge("b1"), "DELETE", "/bridges/b1", {}),
    (
        "continue",
        lambda c: c.continue_in_dialplan(CID, "after-stasis", "s", 1),
        "POST",
        f"/channels/{CID}/continue",
        {"context": "after-stasis", "extension": "s", "priority": "1"},
    ),
    (
        "set_var",
        lambda c: c.set_var(CID, "CDR(ccari_contact)", "42"),
        "POST",
        f"/channels/{CID}/variable",
        {"variable": "CDR(ccari_contact)", "value": "42"},
    ),
    (
        "reload_module",
        lambda c: c.reload_module("res_pjsip.so"),
        "PUT",
        "/asterisk/modules/res_pjsip.so",
        {},
    ),
    (
        "quoted-id",
        lambda c: c.answer("odd/id x"),
        "POST",
        "/channels/odd/id x/answer",
        {},
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "query"), [c[1:] for c in CALLS], ids=[c[0] for c in CALLS]
)
async def test_commands_map_to_rest(
    make_client: Make,
    mock_ari: MockAri,
    call: Callable[[AriClient], Awaitable[Any]],
    method: str,
    path: str,
    query: dict[str, str],
) -> None:
    mock_ari.routes[(method, path)] = (204, None)
    assert await call(make_client()) is None
    [req] = mock_ari.requests
    assert (req.method, req.path, req.query, req.body) == (method, path, query, None)


async def test_recording_a_channel_then_fetching_and_deleting_the_file(
    make_client: Make, mock_ari: MockAri
) -> None:
    mock_ari.routes[("POST", f"/channels/{CID}/record")] = (201, {
        "name": "vm-1", "format": "wav", "state": "queued", "target_uri": f"channel:{CID}"})

    async def wav(_: web.Request) -> web.Response:
        return web.Response(body=b"RIFF\x00\x01binary", content_type="audio/wav")

    mock_ari.routes[("GET", "/recordings/stored/vm-1/file")] = wav
    mock_ari.routes[("DELETE", "/recordings/stored/vm-1")] = (204, None)
    client = make_client()
    live = await client.record(CID, "vm-1", max_duration_s=120, max_silence_s=10, beep=True,
                               terminate_on="#", if_exists="overwrite")
    assert (live.name, live.state, live.target) == ("vm-1", "queued", ("channel", CID))
    assert mock_ari.requests[-1].query == {
        "name": "vm-1", "format": "wav", "maxDurationSeconds": "120", "maxSilenceSeconds": "10",
        "beep": "true", "terminateOn": "#", "ifExists": "overwrite"}
    # The file is bytes as Asterisk wrote them, not JSON.
    assert await client.stored_recording_file("vm-1") == b"RIFF\x00\x01binary"
    await client.delete_stored_recording("vm-1")
    with pytest.raises(AriNotFound):
        await client.stored_recording_file("vm-2")


async def test_quoted_id_is_one_path_segment(make_client: Make, mock_ari: MockAri) -> None:
    mock_ari.routes[("POST", "/channels/odd/id x/answer")] = (204, None)
    await make_client().answer("odd/id x")
    assert mock_ari.requests[0].raw_path == "/ari/channels/odd%2Fid%20x/answer"


async def test_play_list_and_ids(make_client: Make, mock_ari: MockAri) -> None:
    mock_ari.routes[("POST", f"/channels/{CID}/play")] = (201, playback("pb-7"))
    pb = await make_client().play(
        CID, ["sound:queue-periodic-announce", "digits:3"], playback_id="pb-7", lang="fr"
    )
    assert (pb.id, pb.target) == ("pb-7", ("channel", CID))
    assert mock_ari.requests[0].query == {
        "media": "sound:queue-periodic-announce,digits:3",
        "playbackId": "pb-7",
        "lang": "fr",
    }


async def test_originate_sends_stable_id_args_and_variables(make_client: Make, mock_ari: MockAri) -> None:
    mock_ari.routes[("POST", "/channels")] = (200, channel("att-1", state="Down"))
    ch = await make_client().originate(
        "PJSIP/agent-1",
        channel_id="att-1",
        app_args=["agent", "contact-42"],
        caller_id='"Queue sales" <0170000001>',
        timeout=20,
        variables={"CCARI_CONTACT": "42"},
        other_channel_id="att-1-local2",
    )
    assert ch.id == "att-1"
    [req] = mock_ari.requests
    assert req.query == {
        "endpoint": "PJSIP/agent-1",
        "app": APP,
        "appArgs": "agent,contact-42",
        "callerId": '"Queue sales" <0170000001>',
        "timeout": "20",
        "channelId": "att-1",
        "otherChannelId": "att-1-local2",
    }
    assert req.body == {"variables": {"CCARI_CONTACT": "42"}}


async def test_originate_requires_channel_id(make_client: Make) -> None:
    with pytest.raises(ValueError):
        await make_client().originate("PJSIP/agent-1", channel_id="")


async def test_originate_conflict_is_not_retried(make_client: Make, mock_ari: MockAri) -> None:
    mock_ari.routes[("POST", "/channels")] = (
        409,
        {"message": "Channel with given unique ID already exists"},
    )
    with pytest.raises(AriConflict, match="already exists") as info:
        await make_client().originate("PJSIP/agent-1", channel_id="att-1")
    assert info.value.status_code == 409
    assert len(mock_ari.requests) == 1


async def test_originate_timeout_is_not_retried(make_client: Make, mock_ari: MockAri) -> None:
    never = asyncio.Event()

    async def hang(_request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response(status=500)

    mock_ari.routes[("POST", "/channels")] = hang
    try:
        with pytest.raises(AriTimeout):
            await make_client(request_timeout=0.2).originate("PJSIP/agent-1", channel_id="att-1")
        assert len(mock_ari.requests) == 1
    finally:
        never.set()


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (404, AriNotFound),
        (409, AriConflict),
        (400, AriRequestError),
        (422, AriRequestError),
        (412, AriRequestError),
        (500, AriUnavailable),
        (503, AriUnavailable),
    ],
)
async def test_error_statuses(make_client: Make, mock_ari: MockAri, status: int, exc: type[AriError]) -> None:
    mock_ari.routes[("POST", f"/channels/{CID}/answer")] = (
        status,
        {"message": "Channel not in Stasis application"},
    )
    with pytest.raises(exc, match="not in Stasis") as info:
        await make_client().answer(CID)
    assert type(info.value) is exc
    assert info.value.status_code == status


async def test_error_without_json_body(make_client: Make, mock_ari: MockAri) -> None:
    async def text(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="Internal Server Error")

    mock_ari.routes[("GET", "/bridges")] = text
    with pytest.raises(AriUnavailable, match="Internal Server Error"):
        await make_client().list_bridges()


async def test_wrong_password_is_a_request_error(make_client: Make) -> None:
    with pytest.raises(AriRequestError) as info:
        await make_client(password="nope").list_channels()
    assert info.value.status_code == 401


async def test_unreachable_is_unavailable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AriClient(session, f"http://127.0.0.1:{port}/ari/", "u", "p", APP)
    with pytest.raises(AriUnavailable):
        await client.list_channels()


async def test_create_bridge(make_client: Make, mock_ari: MockAri) -> None:
    mock_ari.routes[("POST", "/bridges")] = (200, bridge("call-42"))
    b = await make_client().create_bridge("call-42", "mixing,dtmf_events", name="c42")
    assert b.id == "call-42"
    assert mock_ari.requests[0].query == {
        "type": "mixing,dtmf_events",
        "bridgeId": "call-42",
        "name": "c42",
    }


async def test_hangup_rejects_reason_and_code(make_client: Make) -> None:
    with pytest.raises(ValueError):
        await make_client().hangup(CID, "busy", reason_code=17)


async def test_originate_rejects_comma_in_args(make_client: Make, mock_ari: MockAri) -> None:
    with pytest.raises(ValueError, match="comma"):
        await make_client().originate("PJSIP/a", channel_id="x", app_args=["a,b"])
    assert mock_ari.requests == []
