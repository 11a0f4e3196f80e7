"""A mirror that does not read (an agent's tab frozen, her link saturated) holds up no one:
the customer's batches reach the other mirrors at once, in order, and the slow one is
dropped once it is too far behind (its page opens it again from a full snapshot).  Sockets
here are stand-ins whose send can be made to hang; the relay over real sockets is in
``test_cobrowse_http.py`` and across nodes in ``tests/cluster``."""

from __future__ import annotations

import asyncio
from typing import Any

from ccari.cobrowse.core import Limits
from ccari.cobrowse.relay import MIRROR_BACKLOG, Live


class Socket:
    def __init__(self, *, stuck: bool = False) -> None:
        self.sent: list[str] = []
        self.stuck = asyncio.Event() if stuck else None
        self.closed = False
        self.close_code: int | None = None

    async def send_str(self, text: str) -> None:
        if self.stuck is not None:
            await self.stuck.wait()  # never set: the peer reads nothing
        self.sent.append(text)

    async def send_json(self, message: dict[str, Any]) -> None:
        self.sent.append(str(message))

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed, self.close_code = True, code
        return True


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_mirror_that_reads_nothing_delays_no_one_and_is_dropped_when_far_behind() -> None:
    live = Live("s1", 1, Limits())
    slow, quick = Socket(stuck=True), Socket()
    live.add_watcher(slow, 7)  # type: ignore[arg-type]
    live.add_watcher(quick, 8)  # type: ignore[arg-type]
    batches = [f'{{"type":"events","n":{n}}}' for n in range(MIRROR_BACKLOG + 2)]
    for text in batches[:10]:
        await asyncio.wait_for(live.to_watchers_here(text), 0.5)  # never waits for a peer
    await settle()
    assert quick.sent == batches[:10]
    assert slow in live.watchers and not slow.closed
    for text in batches[10:]:
        await asyncio.wait_for(live.to_watchers_here(text), 0.5)
    await settle()
    assert quick.sent == batches
    assert slow not in live.watchers and slow.closed and slow.close_code == 1013
    for ws in await live.end("agent-ended"):
        await ws.close(code=1000, message=b"")
    assert quick.sent[-1] == '{"type": "ended", "reason": "agent-ended"}'


async def test_the_end_reaches_a_mirror_after_everything_queued_before_it() -> None:
    live = Live("s2", 1, Limits())
    ws = Socket()
    live.add_watcher(ws, 7)  # type: ignore[arg-type]
    for n in range(5):
        await live.to_watchers_here(f"batch {n}")
    sockets = await live.end("customer-stopped")
    assert ws.sent == [*(f"batch {n}" for n in range(5)),
                       '{"type": "ended", "reason": "customer-stopped"}']
    assert sockets == [ws] and live.watchers == {}
