"""Pins the panoramisk 1.4 behaviours the adapter works around (fails if they change)."""

from __future__ import annotations

import asyncio
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from ccari.ami.protocol import Factory, WireProtocol
from tests.ami.ami_fake import BANNER, Conn, FakeAmi, Headers, encode, originate


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def _feed(protocol: Any, chunks: list[bytes]) -> None:
    protocol.connection_made(_Transport())
    for chunk in chunks:
        protocol.data_received(chunk)


def _split_event() -> list[bytes]:
    data = encode({"Event": "Newchannel", "CallerIDName": "Zoé Dupré", "Uniqueid": "1"})
    cut = data.index("é".encode()) + 1  # in the middle of the two-byte "é"
    return [BANNER, data[:cut], data[cut:]]


def test_panoramisk_drops_a_character_split_across_reads() -> None:
    seen: list[Any] = []
    plain = AMIProtocol()
    plain.connection_made(_Transport())
    plain.factory = Factory(seen.append)
    plain.encoding = "utf-8"
    for chunk in _split_event():
        plain.data_received(chunk)
    assert seen[0]["CallerIDName"] != "Zoé Dupré"  # the quirk


def test_wire_protocol_keeps_split_characters() -> None:
    seen: list[Any] = []
    _feed(WireProtocol(Factory(seen.append), lambda p: None), _split_event())
    assert seen[0]["CallerIDName"] == "Zoé Dupré"


async def test_panoramisk_manager_resends_an_unanswered_originate(fake_ami: FakeAmi) -> None:
    """Why ccari does not use Manager: after a reconnect it dials the customer again."""
    calls = 0

    async def drop_first(conn: Conn, action: Headers) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            conn.drop()
        else:
            await originate(conn, action)

    fake_ami.handlers["originate"] = drop_first
    manager = Manager(
        host="127.0.0.1",
        port=fake_ami.server.sockets[0].getsockname()[1],
        username=fake_ami.username,
        secret=fake_ami.secret,
        reconnect_timeout=0,
        ping_delay=60,
        loop=asyncio.get_running_loop(),
    )
    manager.connect()
    try:
        await fake_ami.wait_for(lambda: fake_ami.logins == 1)
        future = manager.send_action(
            {
                "Action": "Originate",
                "ActionID": "att-1",
                "Channel": "PJSIP/customer",
                "Context": "ccari-out",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
            }
        )
        await fake_ami.wait_for(lambda: fake_ami.count("originate") == 2)
        async with asyncio.timeout(5):
            answer = await future
        assert answer[-1]["Event"] == "OriginateResponse"
    finally:
        manager.close()
