"""Co-browse sessions whose customer and mirrors are on different nodes (several nodes).

The node holding the customer's socket is the session's home.  A node that opens a mirror
of a session whose customer is not here says so ("watch"); the home keeps which nodes
watch and, from then on, publishes what its customer sends (rrweb batches, page, consent,
connected or not) on the cluster bus as it is, in the order the customer sent it.  A batch
too large for a notification is saved in ``cobrowse_frames`` and the notification names
it; the watching node reads it back before handling the next notification (the bus handles
them one at a time, in commit order), so order holds.  It deletes the frame when it is the
only watching node; each node deletes frames older than a minute.  Told that a node
watches, the home sends it the session's status and asks its customer for a full snapshot.

The other way, what a mirror's node sends the customer ("linked", guidance) goes over the
bus to whichever node holds the customer's socket, which checks the guidance against the
session's consent and agent rate as it would its own mirrors'.  The end of a session,
decided on any node (saved there first), is told to the others, which close their sockets.
A customer whose page comes back through another node says so ("here"), and the watching
nodes tell her new home again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents.notifier import AgentHub
from ccari.cluster.bus import MAX_PAYLOAD, Bus, PayloadTooLarge
from ccari.cobrowse import repo
from ccari.cobrowse.relay import Live
from ccari.contacts.queue_core import utc
from ccari.tasks import TaskSet

if TYPE_CHECKING:
    from ccari.cobrowse.services import CobrowseService

log = logging.getLogger(__name__)
TOPIC = "cobrowse"
GUIDANCE = ("pointer", "highlight", "navigate")
FRAME_TTL_S = 60.0
SWEEP_EVERY_S = 10.0
# Room left in a notification for the envelope and JSON escaping of a message's text.
INLINE_BYTES = MAX_PAYLOAD // 2


class CobrowseNodes:
    def __init__(self, svc: CobrowseService, bus: Bus, sessions: async_sessionmaker[AsyncSession],
                 hub: AgentHub, *, clock: Callable[[], float] = time.time) -> None:
        self._svc = svc
        self._bus = bus
        self._sessions = sessions
        self._hub = hub
        self._clock = clock
        self._tasks = TaskSet("cobrowse-nodes")
        bus.subscribe(TOPIC, self._told)
        bus.on_resync(self.resync)

    async def start(self) -> None:
        self._tasks.spawn(self._sweeper(), "sweeper")

    async def close(self) -> None:
        await self._tasks.close()

    async def _publish(self, kind: str, live: Live, **fields: Any) -> None:
        await self._bus.publish(TOPIC, {"k": kind, "s": live.id, "n": self._bus.node, **fields})

    # ---- this node's side of a session (the Remote of relay.Live) ---------------------
    async def to_customer(self, live: Live, message: dict[str, Any]) -> bool:
        await self._publish("c", live, m=message)
        return live.elsewhere

    async def to_watchers(self, live: Live, text: str, message: dict[str, Any] | None) -> None:
        if len(text) <= INLINE_BYTES:
            try:
                if message is not None:
                    await self._publish("w", live, j=message)
                else:
                    await self._publish("w", live, m=text)
                return
            except PayloadTooLarge:
                pass
        async with self._sessions() as s:
            frame_id = await repo.add_frame(s, live.id, text, utc(self._clock()))
            await s.commit()
        await self._publish("w", live, f=frame_id, d=len(live.nodes) == 1)

    async def watching(self, live: Live, on: bool) -> None:
        """This node has mirrors of ``live`` (or no longer), its customer elsewhere; on:
        the customer's node sends the status and asks the customer for a full snapshot."""
        await self._publish("watch", live, on=on)

    async def customer_here(self, live: Live) -> None:
        live.elsewhere = False
        await self._publish("here", live, t=live.customer_since)

    async def ended(self, live_id: str, reason: str, agent_id: int | None,
                    contact_id: str | None) -> None:
        await self._bus.publish(TOPIC, {"k": "end", "s": live_id, "n": self._bus.node,
                                        "r": reason, "a": agent_id, "c": contact_id})

    # ---- other nodes ----------------------------------------------------------------------
    async def _told(self, payload: dict[str, Any]) -> None:
        kind, session_id = payload.get("k"), str(payload.get("s"))
        if kind == "end":
            agent_id, contact_id = payload.get("a"), payload.get("c")
            await self._svc.ended_elsewhere(session_id, str(payload.get("r")),
                                            agent_id if isinstance(agent_id, int) else None,
                                            contact_id if isinstance(contact_id, str) else None)
            return
        live = self._svc.live(session_id)
        if live is None:
            return
        if kind == "w" and live.watchers:
            text = await self._text(live, payload)
            if text is not None:
                await live.to_watchers_here(text)
        elif kind == "c" and live.here():
            message = payload.get("m")
            if not isinstance(message, dict):
                return
            if message.get("type") in GUIDANCE and not (live.consent and live.from_agents.take()):
                log.debug("co-browse %s: guidance from another node refused", live.id)
                return
            await live.to_customer_here(message)
        elif kind == "watch" and live.here():
            node = str(payload.get("n"))
            if payload.get("on"):  # a new mirror there, or one that may have missed some
                live.nodes.add(node)
                status = live.status()
                await self.to_watchers(live, json.dumps(status), status)
                await live.to_customer_here({"type": "snapshot"})
            else:
                live.nodes.discard(node)
        elif kind == "here":
            if live.here() and _older(live, self._bus.node, payload):
                # The session opened again on another node (another tab): as on one node,
                # the newer socket shares and this one is replaced.
                old, live.customer = live.customer, None
                assert old is not None
                await self._svc.replaced(live, old)
            live.elsewhere = True
            if live.watchers and not live.here():
                await self.watching(live, True)
                await live.to_watchers_here(json.dumps({"type": "customer", "connected": True}))

    async def _text(self, live: Live, payload: dict[str, Any]) -> str | None:
        """What to relay to this node's mirrors; the state it tells, kept here too."""
        if "f" in payload:
            async with self._sessions() as s:
                body = await repo.take_frame(s, int(payload["f"]), delete=bool(payload.get("d")))
                await s.commit()
            if body is None:  # expired: the mirror starts again from a full snapshot
                log.warning("co-browse %s: a frame was gone; asking for a snapshot", live.id)
                await self.to_customer(live, {"type": "snapshot"})
            return body
        message = payload.get("j")
        if isinstance(message, dict):
            kind = message.get("type")
            if kind == "consent":
                live.consent = bool(message.get("allow"))
            elif kind == "customer":
                live.elsewhere = bool(message.get("connected"))
            elif kind == "status":
                live.consent = bool(message.get("consent"))
                live.elsewhere = bool(message.get("customer"))
                page = message.get("page")
                live.page = page if isinstance(page, dict) else live.page
            return json.dumps(message)
        text = payload.get("m")
        return text if isinstance(text, str) else None

    async def resync(self) -> None:
        """The bus was away: the homes of the sessions mirrored here are told again."""
        for live in self._svc.lives():
            if live.watchers and not live.here():
                await self.watching(live, True)

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                async with self._sessions() as s:
                    before = utc(self._clock()) - dt.timedelta(seconds=FRAME_TTL_S)
                    await repo.drop_frames(s, before)
                    await s.commit()
            except Exception:
                log.exception("co-browse: dropping old frames failed; trying again")


def _older(live: Live, node: str, other: dict[str, Any]) -> bool:
    """This node's customer socket opened before the one ``other`` announces (a tie goes by
    node name, so that of two sockets exactly one is replaced)."""
    since = other.get("t")
    if not isinstance(since, (int, float)):
        return False
    return (live.customer_since, node) < (float(since), str(other.get("n")))
