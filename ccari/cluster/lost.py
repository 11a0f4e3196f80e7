"""The calls of a ccari node that died, closed by the routing leader (several nodes).

A node drives its Asterisk's calls alone: when it dies, nobody answers for them (and when its
box is gone, its Asterisk and the calls went with it).  Once the leader has seen the node
absent for the node timeout (:mod:`ccari.cluster.nodes`), each of its open calls is closed
as ``media-node-lost``: failed if it was waiting for an agent (queued, or offered: the offer
is withdrawn from her page), abandoned from the IVR, completed if connected (its agent
not ready, ``call_lost``, until she says she is free: it may go on in that Asterisk, unless
this node saw it over there); the router forgets it, every trunk the node held is freed,
and a caller who was waiting is called back when the tenant allows it
(``after_lost_call``).  Without this, the
leader would keep offering a dead node's callers to agents whose phones nobody rings.

Where this node stands in for the dead node's Asterisk (``cluster.standby_ari``) and that
Asterisk lives on, its callers not yet with an agent are first moved here (the IVR, or their
place in the queue again) and its connected calls watched from here until they end
(:mod:`ccari.voice.adoption`); only what could not be taken over is closed.

A node that was only cut off and comes back (its Asterisk still up) finds those contacts
closed; its reconcile takes the callers still on the line as new arrivals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import NODE_LOST, Fact, State
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.routing import CALLS, AwayReason
from ccari.storage.models import Contact

log = logging.getLogger(__name__)
_FACTS = {State.IVR: Fact.CUSTOMER_LEFT, State.QUEUED: Fact.GAVE_UP,
          State.OFFERED: Fact.GAVE_UP, State.CONNECTED: Fact.ENDED}


class Trunks(Protocol):
    async def release_node(self, node: str) -> int: ...


class Legs(Protocol):
    async def release_node(self, node: str) -> None: ...


class LostCallbacks(Protocol):
    async def after_lost_call(self, contact_id: str) -> object: ...


class Adopted(Protocol):
    @property
    def kept(self) -> set[str]:
        """The contacts taken over (moved here, or watched to their end where they are)."""

    @property
    def over(self) -> set[str]:
        """The connected calls seen ended in the dead node's Asterisk."""


class Adopter(Protocol):
    async def adopt(self, node: str, contacts: Iterable[Contact]) -> Adopted:
        """Take over what it can of ``node``'s calls."""


class LostCalls:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService, *,
                 trunks: Callable[[], Trunks | None],
                 callbacks: Callable[[], LostCallbacks | None],
                 adoption: Callable[[], Adopter | None] = lambda: None,
                 legs: Callable[[], Legs | None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        """``trunks`` and ``callbacks``: the admission and callbacks services, once built;
        ``adoption``: what takes a dead node's waiting callers over (ccari.voice.adoption),
        when this node stands in for others; ``legs``: the agent legs each node counts
        (a dead node's are counted no more)."""
        self._sessions = sessions
        self._queue = queue
        self._executor = Executor(queue)
        self._trunks = trunks
        self._callbacks = callbacks
        self._adoption = adoption
        self._legs = legs
        self._clock = clock

    async def node_lost(self, node: str) -> list[str]:
        """Take over the waiting callers of ``node`` where its Asterisk lives on and this
        node stands in for it, then close its other open calls; the contacts closed here."""
        media = [m.value for m in CALLS]
        async with self._sessions() as s:
            calls = await contacts_repo.open_contacts(s, node, media)
        adoption = self._adoption()
        adopted = await adoption.adopt(node, calls) if adoption is not None and calls else None
        kept, over = (adopted.kept, adopted.over) if adopted is not None else (set(), set())
        if kept:
            async with self._sessions() as s:  # the rest, as they are now
                calls = await contacts_repo.open_contacts(s, node, media)
        # Its trunks and agent legs are freed first: once a call shows closed, the tenant's
        # next call (a lost caller's callback among them) is admitted on its trunk.
        trunks = self._trunks()
        if trunks is not None:
            await trunks.release_node(node)
        legs = self._legs()
        if legs is not None:
            await legs.release_node(node)
        closed = [c.id for c in calls
                  if c.id not in kept and await self._close(node, c.id, over=c.id in over)]
        if closed:
            log.warning("cluster: node %s is gone; its %d calls closed as %s", node,
                        len(closed), NODE_LOST)
        return closed

    async def _close(self, node: str, contact_id: str, *, over: bool = False) -> bool:
        """Close the call as it is now (the leader's router may have offered it since it
        was read: an offer to a phone nobody will ring is withdrawn with it); ``over``: a
        connected call seen ended in the dead node's Asterisk, whose agent is free."""
        now = utc(self._clock())

        def save(s: Session) -> tuple[Contact, State, int | None] | None:
            row = contacts_repo.get_sync(s, contact_id)
            if row is None or row.node != node or State(row.state) not in _FACTS:
                return None  # ended, or taken over by another node meanwhile
            seen, agent_id = State(row.state), row.agent_id
            start = row.queued_at or row.arrived_at
            timing: dict[str, Any] = ({"talk_s": round((now - (row.connected_at or now)).total_seconds(), 3)}
                      if seen == State.CONNECTED
                      else {"wait_s": round((now - start).total_seconds(), 3), "agent_id": None})
            moved = contacts_repo.apply_sync(s, row, _FACTS[seen], at=now, ended_at=now,
                                             disposition=NODE_LOST, **timing)
            return None if moved is None else (moved, seen, agent_id)

        closed = await self._queue.writes.run(save)
        if closed is None:
            return False
        moved, seen, agent_id = closed
        if seen == State.CONNECTED:
            # The dead node may have saved her answer and died before telling the router,
            # which would keep her reserved by the offer (and the call with it) for ever.
            await self._queue.accepted(contact_id)
        # A connected call may go on in the dead node's Asterisk: unless it was seen over
        # there, only its agent knows when she is free.
        away = AwayReason.CALL_LOST if seen == State.CONNECTED and not over else None
        await self._executor.carry_out(moved, lifecycle.move(seen, _FACTS[seen]).commands,
                                       agent_id=agent_id, away=away)
        callbacks = self._callbacks()
        if seen in (State.QUEUED, State.OFFERED) and callbacks is not None:
            await callbacks.after_lost_call(contact_id)
        return True
