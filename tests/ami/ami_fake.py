"""A fake Asterisk manager on asyncio.start_server, speaking AMI as Asterisk 22 does.

Every action received is recorded (across connections) in ``received``.  ``handlers`` maps a
lower-case action name to ``async def handler(conn, action)``; tests replace one to make
the server drop the connection, answer partially, or stay silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Headers = dict[str, str | list[str]]
Handler = Callable[["Conn", Headers], Awaitable[None]]

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def encode(headers: Headers) -> bytes:
    lines: list[str] = []
    for key, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}: {item}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse(block: bytes) -> Headers:
    headers: Headers = {}
    for line in block.decode().split("\r\n"):
        if ": " not in line:
            continue
        key, value = line.split(": ", 1)
        if key in headers:
            previous = headers[key]
            headers[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            headers[key] = value
    return headers


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    logged_in: bool = False

    async def send(self, headers: Headers) -> None:
        self.writer.write(encode(headers))
        await self.writer.drain()

    async def reply(self, action: Headers, **headers: str | list[str]) -> None:
        await self.send({"Response": "Success", "ActionID": action["ActionID"], **headers})

    def drop(self) -> None:
        self.writer.transport.abort()


async def ping(conn: Conn, action: Headers) -> None:
    await conn.reply(action, Ping="Pong", Timestamp="1718872502.118000")


COMMANDS = {
    "core show version": ["Asterisk 22.10.1 built by debian @ sid on a x86_64"],
    "core show channels": [
        "Channel              Location             State   Application(Data)",
        "0 active channels",
        "0 active calls",
    ],
}


async def command(conn: Conn, action: Headers) -> None:
    output = COMMANDS.get(str(action["Command"]), [f"No such command '{action['Command']}'"])
    await conn.reply(action, Message="Command output follows", Output=output)


async def status(conn: Conn, action: Headers) -> None:
    aid = action["ActionID"]
    await conn.reply(action, EventList="start", Message="Channel status will follow")
    for n, chan in enumerate(["PJSIP/agent-1-00000001", "PJSIP/trunk-00000002"]):
        await conn.send({"Event": "Status", "ActionID": aid, "Channel": chan, "Uniqueid": f"17188.{n}"})
    await conn.send({"Event": "StatusComplete", "ActionID": aid, "EventList": "Complete", "ListItems": "2"})


async def originate(conn: Conn, action: Headers) -> None:
    await conn.reply(action, Message="Originate successfully queued")
    await conn.send(
        {
            "Event": "OriginateResponse",
            "Privilege": "call,all",
            "ActionID": action["ActionID"],
            "Response": "Success",
            "Channel": f"{action['Channel']}-0000000a",
            "Context": str(action.get("Context", "")),
            "Exten": str(action.get("Exten", "")),
            "Reason": "4",
            "Uniqueid": str(action.get("ChannelId", "")),
            "CallerIDNum": "<unknown>",
            "CallerIDName": "<unknown>",
        }
    )


async def reload(conn: Conn, action: Headers) -> None:
    if action.get("Module") == "nope.so":
        await conn.send({"Response": "Error", "ActionID": action["ActionID"], "Message": "No such module"})
    else:
        await conn.reply(action, Message="Module Reloaded")


@dataclass
class FakeAmi:
    username: str = "ccari"
    secret: str = "s3cret"
    received: list[Headers] = field(default_factory=list)
    conns: list[Conn] = field(default_factory=list)
    logins: int = 0
    handlers: dict[str, Handler] = field(
        default_factory=lambda: {
            "ping": ping,
            "command": command,
            "status": status,
            "originate": originate,
            "reload": reload,
        }
    )

    def __post_init__(self) -> None:
        self.changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.server.close()
        self.drop_all()  # each _serve task then ends on EOF; cancelling them would log noise
        async with asyncio.timeout(5):
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.server.wait_closed()

    def count(self, action: str) -> int:
        return sum(1 for a in self.received if str(a.get("Action", "")).lower() == action)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(predicate)

    async def _bump(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def push(self, event: Headers) -> None:
        for conn in self.conns:
            if conn.logged_in and not conn.writer.is_closing():
                await conn.send(event)

    def drop_all(self) -> None:
        for conn in self.conns:
            conn.drop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(reader, writer)
        self.conns.append(conn)
        try:
            writer.write(BANNER)
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                action = parse(block)
                self.received.append(action)
                await self._handle(conn, action)
                await self._bump()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            await self._bump()

    async def _handle(self, conn: Conn, action: Headers) -> None:
        name = str(action.get("Action", "")).lower()
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                conn.logged_in = True
                self.logins += 1
                await conn.reply(action, Message="Authentication accepted")
                await conn.send(
                    {
                        "Event": "FullyBooted",
                        "Privilege": "system,all",
                        "Uptime": "12",
                        "LastReload": "12",
                        "Status": "Fully Booted",
                    }
                )
            else:
                await conn.send(
                    {
                        "Response": "Error",
                        "ActionID": action["ActionID"],
                        "Message": "Authentication failed",
                    }
                )
                conn.drop()
            return
        if not conn.logged_in:
            await conn.send(
                {
                    "Response": "Error",
                    "ActionID": action["ActionID"],
                    "Message": "Permission denied",
                }
            )
            return
        handler = self.handlers.get(name)
        if handler is None:
            await conn.send(
                {
                    "Response": "Error",
                    "ActionID": action["ActionID"],
                    "Message": "Invalid/unknown command",
                }
            )
            return
        await handler(conn, action)
