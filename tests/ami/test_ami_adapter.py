from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import pytest

from ccari.ami import (
    AmiActionLost,
    AmiAdapter,
    AmiAuthError,
    AmiEvent,
    AmiResponseError,
    AmiTimeout,
    AmiUnavailable,
)
from ccari.ari import ReconnectPolicy
from tests.ami.ami_fake import Conn, FakeAmi, Headers, command

Make = Callable[..., AmiAdapter]


async def test_login_and_ping(make_adapter: Make, fake_ami: FakeAmi) -> None:
    ami = make_adapter()
    await ami.connect()
    assert ami.connected and fake_ami.logins == 1
    login = fake_ami.received[0]
    assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == (
        "Login",
        "ccari",
        "s3cret",
        "on",
    )
    response = await ami.send({"Action": "Ping"})
    assert isinstance(response, dict)
    assert (response["Response"], response["Ping"]) == ("Success", "Pong")


async def test_bad_secret_fails_connect_at_once(make_adapter: Make, fake_ami: FakeAmi) -> None:
    ami = make_adapter(secret="wrong", connect_timeout=5.0)
    with pytest.raises(AmiAuthError, match="Authentication failed"):
        await ami.connect()
    assert ami.connect_attempts == 1 and not ami.connected


async def test_nothing_listening_times_out_with_backoff() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ami = AmiAdapter(
        "127.0.0.1",
        port,
        "u",
        "p",
        connect_timeout=0.5,
        reconnect=ReconnectPolicy(initial=0.05, maximum=0.1),
    )
    with pytest.raises(AmiUnavailable, match="not connected within"):
        await ami.connect()
    assert 2 <= ami.connect_attempts <= 12  # refused at once, retried >= 25 ms apart
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ami")]


async def test_command_status_reload(make_adapter: Make) -> None:
    ami = make_adapter()
    await ami.connect()
    assert await ami.command("core show version") == ["Asterisk 22.10.1 built by debian @ sid on a x86_64"]
    assert (await ami.command("core show channels"))[-1] == "0 active calls"
    listing = await ami.send({"Action": "Status"})
    assert isinstance(listing, list)
    assert [m.get("Event", m.get("Response")) for m in listing] == [
        "Success",
        "Status",
        "Status",
        "StatusComplete",
    ]
    await ami.reload("res_pjsip.so")
    with pytest.raises(AmiResponseError, match="No such module") as info:
        await ami.reload("nope.so")
    assert info.value.response["Message"] == "No such module"
    raw = await ami.send({"Action": "Reload", "Module": "nope.so"}, check=False)
    assert isinstance(raw, dict) and raw["Response"] == "Error"


async def test_originate_with_stable_ids(make_adapter: Make, fake_ami: FakeAmi) -> None:
    ami = make_adapter()
    await ami.connect()
    result = await ami.originate(
        action_id="att-42-1",
        channel_id="att-42-1",
        channel="PJSIP/agent-1",
        context="ccari-agents",
        exten="s",
        priority=1,
        caller_id='"Callback" <0170000001>',
        variables={"CCARI_CONTACT": "42", "CCARI_TENANT": "7"},
        timeout_ms=20000,
    )
    assert result.success and result.reason == 4 and result.uniqueid == "att-42-1"
    [sent] = [a for a in fake_ami.received if a["Action"] == "Originate"]
    assert sent["ActionID"] == "att-42-1" and sent["ChannelId"] == "att-42-1"
    assert sent["Async"] == "true" and sent["Timeout"] == "20000"
    assert sent["Variable"] == ["CCARI_CONTACT=42", "CCARI_TENANT=7"]


async def test_originate_error_response(make_adapter: Make, fake_ami: FakeAmi) -> None:
    async def refuse(conn: Conn, action: Headers) -> None:
        await conn.send({"Response": "Error", "ActionID": action["ActionID"], "Message": "Invalid channel"})

    fake_ami.handlers["originate"] = refuse
    ami = make_adapter()
    await ami.connect()
    with pytest.raises(AmiResponseError, match="Invalid channel"):
        await ami.originate(action_id="a1", channel_id="c1", channel="PJSIP/nobody")


async def drop_on_first(conn: Conn, action: Headers) -> None:
    conn.drop()  # the connection dies before Asterisk answers


async def test_originate_lost_on_disconnect_is_never_resent(make_adapter: Make, fake_ami: FakeAmi) -> None:
    fake_ami.handlers["originate"] = drop_on_first
    ami = make_adapter()
    await ami.connect()
    with pytest.raises(AmiActionLost) as info:
        await ami.originate(action_id="att-7", channel_id="att-7", channel="PJSIP/customer")
    assert (info.value.action, info.value.action_id, info.value.partial) == (
        "Originate",
        "att-7",
        False,
    )
    # The adapter reconnects and logs in again (FullyBooted arrives: panoramisk's replay cue).
    await fake_ami.wait_for(lambda: fake_ami.logins == 2)
    async with asyncio.timeout(5):
        await ami.wait_connected()
    await ami.send({"Action": "Ping"})  # everything queued before it has been flushed
    assert fake_ami.count("originate") == 1


async def test_originate_queued_then_lost_is_partial(make_adapter: Make, fake_ami: FakeAmi) -> None:
    async def queue_then_drop(conn: Conn, action: Headers) -> None:
        await conn.reply(action, Message="Originate successfully queued")
        conn.drop()

    fake_ami.handlers["originate"] = queue_then_drop
    ami = make_adapter()
    await ami.connect()
    with pytest.raises(AmiActionLost) as info:
        await ami.originate(action_id="att-8", channel_id="att-8", channel="PJSIP/customer")
    assert info.value.partial
    await fake_ami.wait_for(lambda: fake_ami.logins == 2)
    async with asyncio.timeout(5):
        await ami.wait_connected()
    await ami.send({"Action": "Ping"})
    assert fake_ami.count("originate") == 1


async def test_read_only_action_is_replayed_after_reconnect(make_adapter: Make, fake_ami: FakeAmi) -> None:
    calls = 0

    async def silent_once(conn: Conn, action: Headers) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            await command(conn, action)

    fake_ami.handlers["command"] = silent_once
    fake_ami.handlers["originate"] = drop_on_first
    ami = make_adapter(timeout=3.0)
    await ami.connect()
    show = asyncio.create_task(ami.command("core show version"))
    await fake_ami.wait_for(lambda: fake_ami.count("command") == 1)
    with pytest.raises(AmiActionLost):
        await ami.originate(action_id="att-9", channel_id="att-9", channel="PJSIP/customer")
    # The pending "core show" survives the drop and is answered on the new connection.
    assert (await show)[0].startswith("Asterisk 22.10.1")
    assert fake_ami.count("command") == 2
    assert fake_ami.count("originate") == 1


async def test_timeout_then_late_answer_is_ignored(make_adapter: Make, fake_ami: FakeAmi) -> None:
    held: list[Headers] = []
    conns: list[Conn] = []

    async def hold(conn: Conn, action: Headers) -> None:
        held.append(action)
        conns.append(conn)

    fake_ami.handlers["reload"] = hold
    ami = make_adapter(timeout=0.2)
    await ami.connect()
    with pytest.raises(AmiTimeout):
        await ami.reload("res_pjsip.so")
    await conns[0].reply(held[0], Message="Module Reloaded")  # too late: dropped quietly
    assert (await ami.send({"Action": "Ping"}))["Ping"] == "Pong"  # type: ignore[call-overload]
    assert ami.connected and fake_ami.logins == 1


async def test_duplicate_action_id_in_flight_is_refused(make_adapter: Make, fake_ami: FakeAmi) -> None:
    async def hold(conn: Conn, action: Headers) -> None:
        pass

    fake_ami.handlers["originate"] = hold
    ami = make_adapter()
    await ami.connect()
    first = asyncio.create_task(
        ami.originate(action_id="same", channel_id="same", channel="PJSIP/x", timeout_ms=5000)
    )
    await fake_ami.wait_for(lambda: fake_ami.count("originate") == 1)
    with pytest.raises(Exception, match="already in flight"):
        await ami.originate(action_id="same", channel_id="same", channel="PJSIP/x")
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert fake_ami.count("originate") == 1


async def test_unanswered_ping_drops_a_half_open_connection(make_adapter: Make, fake_ami: FakeAmi) -> None:
    async def mute(conn: Conn, action: Headers) -> None:
        pass

    fake_ami.handlers["ping"] = mute
    ami = make_adapter(ping_interval=0.05, timeout=0.2)
    await ami.connect()
    await fake_ami.wait_for(lambda: fake_ami.logins == 2)
    assert ami.connect_attempts >= 2


async def test_shutdown_event_reconnects(make_adapter: Make, fake_ami: FakeAmi) -> None:
    ami = make_adapter()
    await ami.connect()
    await fake_ami.push({"Event": "Shutdown", "Privilege": "system,all", "Shutdown": "Cleanly"})
    await fake_ami.wait_for(lambda: fake_ami.logins == 2)


async def test_events_ordered_per_channel_and_isolated(
    make_adapter: Make, fake_ami: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    done = asyncio.Condition()
    release = asyncio.Event()
    ami = make_adapter()

    async def on_newstate(ev: AmiEvent) -> None:
        if ev.get("Uniqueid") == "A" and ev.get("ChannelStateDesc") == "Ringing":
            await release.wait()
        async with done:
            seen.append(f"{ev.get('uniqueid')}:{ev.get('ChannelStateDesc')}")
            done.notify_all()

    def broken(ev: AmiEvent) -> None:
        raise RuntimeError("handler bug")

    ami.on_event("Newstate", on_newstate)
    ami.on_event("*", broken)
    await ami.connect()
    with caplog.at_level(logging.ERROR):
        for uid in "AB":
            for state in ("Ringing", "Up"):
                await fake_ami.push(
                    {
                        "Event": "Newstate",
                        "Privilege": "call,all",
                        "Channel": f"PJSIP/{uid}-00000001",
                        "ChannelStateDesc": state,
                        "Uniqueid": uid,
                        "CallerIDName": "Zoé Dupré",
                    }
                )
        async with asyncio.timeout(5), done:
            await done.wait_for(lambda: len(seen) == 2)
        assert seen == ["B:Ringing", "B:Up"]  # B is not held up by A's slow handler
        release.set()
        async with asyncio.timeout(5), done:
            await done.wait_for(lambda: len(seen) == 4)
        await ami.join()
    assert seen[2:] == ["A:Ringing", "A:Up"]
    failures = [r for r in caplog.records if "failed on Newstate" in r.getMessage()]
    assert len(failures) == 4 and all(r.exc_info for r in failures)  # logged, never fatal
    assert ami.connected and fake_ami.logins == 1
    assert (await ami.command("core show version"))[0].startswith("Asterisk")


async def test_close_fails_pending_and_cancels_handlers(make_adapter: Make, fake_ami: FakeAmi) -> None:
    stuck = asyncio.Event()
    never = asyncio.Event()

    async def hang(ev: AmiEvent) -> None:
        stuck.set()
        await never.wait()

    async def hold(conn: Conn, action: Headers) -> None:
        pass

    fake_ami.handlers["reload"] = hold
    ami = make_adapter(timeout=5.0)
    ami.on_event("Hangup", hang)
    await ami.connect()
    await fake_ami.push({"Event": "Hangup", "Uniqueid": "A", "Cause": "16"})
    async with asyncio.timeout(5):
        await stuck.wait()
    pending = asyncio.create_task(ami.reload("app_queue.so"))
    await fake_ami.wait_for(lambda: fake_ami.count("reload") == 1)
    await ami.close()
    with pytest.raises(AmiActionLost):
        await pending
    assert not ami.connected
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ami")]


async def test_send_after_close_fails_fast(make_adapter: Make) -> None:
    ami = make_adapter(timeout=5.0)
    await ami.connect()
    await ami.close()
    with pytest.raises(AmiUnavailable, match="closed"):
        await ami.send({"Action": "Ping"})
