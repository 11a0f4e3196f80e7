"""The event websocket: dispatch, ordering, failure isolation, reconnect and reconcile."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import aiohttp
import pytest

from ccari.ari import AriClient, AriRequestError, AriUnavailable, ReconnectPolicy
from ccari.ari.events import (
    ApplicationReplaced,
    ChannelDtmfReceived,
    ChannelEvent,
    Event,
    StasisStart,
    UnknownEvent,
)
from tests.ari.ari_mock import MockAri
from tests.ari.ari_samples import APP, dtmf, event, stasis_start

Make = Callable[..., AriClient]
LIMIT = 5.0  # a generous bound: every wait below ends on a condition, never on a sleep


class Seen:
    """Records handled events and lets a test wait for a condition on them."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.cond = asyncio.Condition()

    async def add(self, item: str) -> None:
        async with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    async def wait(self, predicate: Callable[[list[str]], bool]) -> None:
        async with asyncio.timeout(LIMIT), self.cond:
            await self.cond.wait_for(lambda: predicate(self.items))


async def test_start_connects_with_app_and_subscribe_all(make_client: Make, mock_ari: MockAri) -> None:
    client = make_client()
    assert not client.connected
    await client.start()
    assert client.connected
    assert mock_ari.ws_queries == [{"app": APP, "subscribeAll": "true"}]


async def test_dispatch_by_type_and_base_class(make_client: Make, mock_ari: MockAri) -> None:
    seen = Seen()
    client = make_client()

    async def on_start(ev: StasisStart) -> None:
        await seen.add(f"start:{ev.channel.id}:{','.join(ev.args)}")

    def on_channel_event(ev: ChannelEvent) -> None:  # sync handlers work too
        seen.items.append(f"chan:{ev.name}")

    client.on(StasisStart, on_start)
    client.on(ChannelEvent, on_channel_event)
    client.on(UnknownEvent, lambda ev: seen.add(f"unknown:{ev.type}"))
    await client.start()
    await mock_ari.send(stasis_start("c1", "inbound", "t7"))
    await mock_ari.send(event("ChannelTransfer"))
    await mock_ari.send(dtmf("c1", "5"))
    await seen.wait(lambda s: "unknown:ChannelTransfer" in s and "chan:ChannelDtmfReceived" in s)
    await client.join()
    assert seen.items.index("start:c1:inbound,t7") < seen.items.index("chan:StasisStart")
    assert seen.items.count("chan:ChannelDtmfReceived") == 1


async def test_slow_channel_does_not_block_others_and_order_is_kept(
    make_client: Make, mock_ari: MockAri
) -> None:
    seen = Seen()
    release_a = asyncio.Event()
    client = make_client()

    async def on_dtmf(ev: ChannelDtmfReceived) -> None:
        if ev.channel.id == "A" and ev.digit == "1":
            await release_a.wait()
        await seen.add(f"{ev.channel.id}{ev.digit}")

    client.on(ChannelDtmfReceived, on_dtmf)
    await client.start()
    for digit in "123":
        await mock_ari.send(dtmf("A", digit))
        await mock_ari.send(dtmf("B", digit))
    # B is fully handled while A is stuck on its first event...
    await seen.wait(lambda s: len(s) >= 3)
    assert seen.items == ["B1", "B2", "B3"]
    release_a.set()
    # ...and A's events then run in their order.
    await seen.wait(lambda s: len(s) == 6)
    assert seen.items[3:] == ["A1", "A2", "A3"]
    await client.join()
    assert client._dispatcher.active_keys == 0  # idle lanes are dropped


async def test_failing_handler_is_logged_and_isolated(
    make_client: Make, mock_ari: MockAri, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    client = make_client()

    def boom(ev: ChannelDtmfReceived) -> None:
        raise RuntimeError(f"bad digit {ev.digit}")

    client.on(ChannelDtmfReceived, boom)
    client.on(ChannelDtmfReceived, lambda ev: seen.add(ev.digit))
    await client.start()
    with caplog.at_level(logging.ERROR, logger="ccari.ari"):
        await mock_ari.send(dtmf("A", "1"))
        await mock_ari.send(dtmf("A", "2"))
        await seen.wait(lambda s: s == ["1", "2"])
    failures = [r for r in caplog.records if "failed on ChannelDtmfReceived" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.levelno == logging.ERROR and r.exc_info for r in failures)
    assert "bad digit 1" in caplog.text
    assert client.connected


async def test_garbage_on_the_socket_does_not_stop_the_stream(make_client: Make, mock_ari: MockAri) -> None:
    seen = Seen()
    client = make_client()
    client.on(Event, lambda ev: seen.add(ev.name))
    await client.start()
    await mock_ari.live[-1].send_str("{not json")
    await mock_ari.live[-1].send_str("[1, 2]")
    await mock_ari.send({"type": "StasisStart", "application": APP, "channel": {}})
    await mock_ari.send(dtmf("A", "9"))
    await seen.wait(lambda s: "ChannelDtmfReceived" in s)
    assert seen.items == ["", "StasisStart", "ChannelDtmfReceived"]  # two kept as unknown


async def test_on_connected_runs_before_events_are_dispatched(make_client: Make, mock_ari: MockAri) -> None:
    seen = Seen()
    gate = asyncio.Event()
    mock_ari.greeting = [stasis_start("c1")]  # sent the moment the socket is accepted
    client = make_client()

    async def reconcile() -> None:
        await seen.add("reconcile-start")
        await gate.wait()
        await seen.add("reconcile-end")

    client.on_connected(reconcile)
    client.on(StasisStart, lambda ev: seen.add("event"))
    starting = asyncio.create_task(client.start())
    await seen.wait(lambda s: "reconcile-start" in s)
    await mock_ari.wait_for(lambda: len(mock_ari.sockets) == 1)  # greeting already sent
    assert not client.connected and not starting.done()
    gate.set()
    await starting
    await seen.wait(lambda s: "event" in s)
    assert seen.items == ["reconcile-start", "reconcile-end", "event"]


async def test_failing_on_connected_is_logged_not_fatal(
    make_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()

    async def broken() -> None:
        raise RuntimeError("db down")

    client.on_connected(broken)
    with caplog.at_level(logging.ERROR):
        await client.start()
    assert client.connected
    assert "on_connected callback" in caplog.text and "db down" in caplog.text


async def test_drop_reconnects_and_reconciles_again(make_client: Make, mock_ari: MockAri) -> None:
    seen = Seen()
    client = make_client()
    client.on_connected(lambda: seen.add("reconcile"))
    client.on(ChannelDtmfReceived, lambda ev: seen.add(ev.digit))
    await client.start()
    await mock_ari.send(dtmf("A", "1"))
    await seen.wait(lambda s: "1" in s)

    await mock_ari.drop()
    await seen.wait(lambda s: s.count("reconcile") == 2)
    async with asyncio.timeout(LIMIT):
        await client.wait_connected()
    await mock_ari.send(dtmf("A", "2"))
    await seen.wait(lambda s: "2" in s)
    assert seen.items == ["reconcile", "1", "reconcile", "2"]
    assert mock_ari.attempts == client.connect_attempts == 2


async def test_a_lost_live_connection_is_told_once_before_the_reconnect(
        make_client: Make, mock_ari: MockAri) -> None:
    seen = Seen()
    client = make_client()
    client.on_connected(lambda: seen.add("connected"))
    client.on_disconnected(lambda: seen.add("lost"))
    await client.start()
    await mock_ari.drop()
    await seen.wait(lambda s: s.count("connected") == 2)
    assert seen.items == ["connected", "lost", "connected"]


@pytest.mark.parametrize("mode", ["lost", "mute"])
async def test_a_websocket_whose_app_asterisk_lost_is_replaced_before_going_live(
        make_client: Make, mock_ari: MockAri, mode: str) -> None:
    """Asterisk can accept the websocket and lose its app (the previous socket's teardown
    racing the registration): nothing would ever arrive on it, so the client tries again
    and goes live, reconciled once, on a socket that delivers."""
    seen = Seen()
    mock_ari.ws_modes = [mode, "accept"]
    client = make_client()
    client.on_connected(lambda: seen.add("reconcile"))
    client.on(ChannelDtmfReceived, lambda ev: seen.add(ev.digit))
    await client.start()
    assert client.connect_attempts == mock_ari.attempts == 2
    await mock_ari.send(dtmf("A", "1"))
    await seen.wait(lambda s: "1" in s)
    assert seen.items == ["reconcile", "1"]


async def test_refusing_server_gets_backoff_not_a_busy_loop(make_client: Make, mock_ari: MockAri) -> None:
    policy = ReconnectPolicy(initial=0.05, maximum=0.2, jitter=0.5)
    mock_ari.ws_modes = ["accept"] + ["refuse"] * 50
    client = make_client(reconnect=policy)
    await client.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await mock_ari.drop()
    await mock_ari.wait_for(lambda: mock_ari.attempts >= 7)  # 6 refused retries
    elapsed = loop.time() - t0
    # Nominal delays 0.05, 0.1, 0.2, 0.2, 0.2, 0.2; jitter keeps at least half of each.
    assert elapsed >= 0.5 * (0.05 + 0.1 + 0.2 * 4)
    assert isinstance(client.last_error, AriUnavailable)
    assert not client.connected
    mock_ari.ws_modes = []  # accept again
    async with asyncio.timeout(LIMIT):
        await client.wait_connected()


async def test_start_times_out_when_nothing_listens(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = ReconnectPolicy(initial=0.05, maximum=0.1)
    client = AriClient(
        session, f"http://127.0.0.1:{port}", "u", "p", APP, connect_timeout=0.5, reconnect=policy
    )
    with pytest.raises(AriUnavailable, match="not connected within"):
        await client.start()
    # 0.5 s of refused connects at >= 25 ms apart: a handful, not thousands.
    assert 2 <= client.connect_attempts <= 12
    assert client.stopped
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ari:")]


async def test_a_patient_start_returns_and_connects_when_asterisk_comes_up(
        make_client: Make, mock_ari: MockAri) -> None:
    """An Asterisk ccari does not run itself may come up after ccari: a patient start
    returns unconnected, keeps retrying, and reconciles once Asterisk answers."""
    mock_ari.ws_modes = ["refuse"] * 1000
    seen = Seen()
    client = make_client(connect_timeout=0.3, reconnect=ReconnectPolicy(initial=0.02, maximum=0.05))
    client.on_connected(lambda: seen.add("reconcile"))
    await client.start(patient=True)
    assert not client.connected and not client.stopped and seen.items == []
    mock_ari.ws_modes = []  # Asterisk up
    await seen.wait(lambda s: s == ["reconcile"])
    assert client.connected


async def test_a_patient_start_still_fails_on_rejected_credentials(
        make_client: Make, mock_ari: MockAri) -> None:
    client = make_client(password="wrong", connect_timeout=LIMIT)
    with pytest.raises(AriRequestError):
        await client.start(patient=True)
    assert client.stopped


async def test_a_handshake_left_unanswered_is_tried_again_before_start_gives_up(
        session: aiohttp.ClientSession) -> None:
    """A server that takes the connection and never answers the upgrade: each attempt
    gives up after a third of ``connect_timeout``, so start() tries again meanwhile."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AriClient(session, f"http://127.0.0.1:{port}", "u", "p", APP, connect_timeout=0.9,
                       reconnect=ReconnectPolicy(initial=0.01, maximum=0.02))
    try:
        with pytest.raises(AriUnavailable, match="not connected within"):
            await client.start()
    finally:
        server.close()
        for writer in accepted:
            writer.close()
    assert client.connect_attempts >= 2 and len(accepted) >= 2


async def test_bad_credentials_fail_start_at_once(make_client: Make, mock_ari: MockAri) -> None:
    client = make_client(password="wrong", connect_timeout=LIMIT)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(AriRequestError) as info:
        await client.start()
    assert info.value.status_code == 401
    assert loop.time() - t0 < LIMIT / 2
    assert mock_ari.attempts == 1


async def test_silent_half_open_peer_is_detected_by_heartbeat(make_client: Make, mock_ari: MockAri) -> None:
    mock_ari.ws_modes = ["silent"]  # accepts, then never answers a PING
    seen = Seen()
    client = make_client(heartbeat=0.2)
    client.on_connected(lambda: seen.add("reconcile"))
    await client.start()
    await seen.wait(lambda s: len(s) == 2)  # reconnected and reconciled
    assert mock_ari.attempts == 2
    assert isinstance(client.last_error, AriUnavailable)
    assert "PONG" in str(client.last_error)


async def test_application_replaced_stops_the_client(
    make_client: Make, mock_ari: MockAri, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    client = make_client()
    client.on(ApplicationReplaced, lambda ev: seen.add(f"replaced:{ev.application}"))
    await client.start()
    with caplog.at_level(logging.ERROR):
        await mock_ari.send(event("ApplicationReplaced"))
        async with asyncio.timeout(LIMIT):
            await client.wait_stopped()
    await seen.wait(lambda s: s == [f"replaced:{APP}"])
    assert not client.connected
    assert mock_ari.attempts == 1
    assert "taken over" in caplog.text


async def test_application_replaced_can_reconnect_instead(make_client: Make, mock_ari: MockAri) -> None:
    seen = Seen()
    client = make_client(stop_on_replaced=False)
    client.on_connected(lambda: seen.add("reconcile"))
    await client.start()
    await mock_ari.send(event("ApplicationReplaced"))
    await seen.wait(lambda s: len(s) == 2)
    assert not client.stopped


async def test_close_cancels_busy_handlers_and_leaves_no_task(make_client: Make, mock_ari: MockAri) -> None:
    seen = Seen()
    never = asyncio.Event()
    client = make_client()

    async def stuck(ev: ChannelDtmfReceived) -> None:
        await seen.add(ev.channel.id)
        await never.wait()

    client.on(ChannelDtmfReceived, stuck)
    await client.start()
    await mock_ari.send(dtmf("A", "1"))
    await mock_ari.send(dtmf("B", "1"))
    await seen.wait(lambda s: len(s) == 2)
    names = sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("ari:"))
    assert names == [f"ari:{APP}:channel:A", f"ari:{APP}:channel:B", f"ari:{APP}:events"]
    await client.close()
    assert client.stopped and not client.connected
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ari:")]
    await client.close()  # idempotent
