"""A TCP proxy whose network can be cut: what a browser page reaches a listener through when a
test needs its network gone (no FIN, no RST, nothing more arrives either way), as on a train
entering a tunnel.  Chromium's own offline emulation leaves an open websocket untouched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.support.sipp import free_tcp_port


@dataclass
class Link:
    port: int  # the proxy's, on 127.0.0.1
    cut: asyncio.Event = field(default_factory=asyncio.Event)  # set: nothing gets through


@contextlib.asynccontextmanager
async def cuttable(target_port: int) -> AsyncIterator[Link]:
    """A proxy on a free port to ``127.0.0.1:target_port``; ``Link.cut.set()`` cuts it."""
    link = Link(free_tcp_port())
    pumps: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not link.cut.is_set():  # cut: swallowed, the connection left open
                writer.write(data)
                await writer.drain()
        if not link.cut.is_set():
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        writers.extend((writer, up_writer))
        for task in (asyncio.create_task(pump(reader, up_writer)),
                     asyncio.create_task(pump(up_reader, writer))):
            pumps.add(task)
            task.add_done_callback(pumps.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", link.port)
    try:
        yield link
    finally:
        server.close()
        for task in list(pumps):
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        for writer in writers:
            writer.close()
        await server.wait_closed()
