"""An agent's live calls carried by other nodes, for her reopened page (several nodes).

Her page asks ``calls.resume`` of the node serving it (``ccari.voice.replay``), which knows
live only the calls its own Asterisk carries.  The nodes carrying her other open calls are
read from the database (her open call contacts' ``node``); each is asked, all at once, over
the command relay (``calls.live``, a question between nodes, not a page's command) and
answers with its part of each live call of hers: the codec her phone was rung with and the
page's messages after the screen pop (connected, held, muted, recording, consult...).  A
node that does not answer within ``timeout_s``, or answers an error, is left out and logged:
her page is told what the others said, and gets the rest as it changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.cluster.commands import CommandRelay, NodeUnavailable
from ccari.contacts.lifecycle import HOLDING
from ccari.errors import CcariError
from ccari.routing import CALLS
from ccari.storage.models import Agent, Contact

log = logging.getLogger(__name__)
LIVE_CALLS = "calls.live"  # asked of a node: her live calls it carries
# What a node says of her live calls it carries (``ccari.voice.replay.LiveCall.as_dict``).
LiveParts = Callable[[Agent], Awaitable[list[dict[str, Any]]]]


async def carrying_nodes(session: AsyncSession, agent: Agent, node: str) -> list[str]:
    """The nodes other than ``node`` carrying an open call of the agent, sorted."""
    rows = await session.scalars(
        select(Contact.node).distinct()
        .where(Contact.tenant_id == agent.tenant_id, Contact.agent_id == agent.id,
               Contact.medium.in_([m.value for m in CALLS]),
               Contact.state.in_([s.value for s in HOLDING]),
               Contact.node != node))
    return sorted(rows)


class CallsElsewhere:
    def __init__(self, relay: CommandRelay, sessions: async_sessionmaker[AsyncSession],
                 node: str, *, timeout_s: float = 3.0) -> None:
        self._relay = relay
        self._sessions = sessions
        self._node = node
        self._timeout = timeout_s

    def serve(self, here: LiveParts) -> None:
        """This node carries calls: it answers the others with ``here(agent)``."""
        async def answer(agent: Agent, message: dict[str, Any]) -> dict[str, Any]:
            return {"type": LIVE_CALLS, "calls": await here(agent)}

        self._relay.answer(LIVE_CALLS, answer)

    async def __call__(self, agent: Agent) -> list[dict[str, Any]]:
        """Her live calls the other nodes carry, as those that answered in time say."""
        async with self._sessions() as s:
            nodes = await carrying_nodes(s, agent, self._node)
        answers = await asyncio.gather(*(self._ask(node, agent) for node in nodes))
        return [call for calls in answers for call in calls]

    async def _ask(self, node: str, agent: Agent) -> list[dict[str, Any]]:
        try:
            reply = await self._relay.run_on(node, agent, {"type": LIVE_CALLS},
                                             timeout_s=self._timeout)
        except NodeUnavailable:
            log.warning("agent %s: node %s, which carries a call of hers, did not answer "
                        "within %s s; her reopened page is told her other calls",
                        agent.id, node, self._timeout)
            return []
        except CcariError as exc:
            log.warning("agent %s: node %s, which carries a call of hers, answered %s (%s); "
                        "her reopened page is told her other calls",
                        agent.id, node, exc.error_id, exc.message)
            return []
        calls = (reply or {}).get("calls")
        if not isinstance(calls, list):
            log.warning("agent %s: node %s told no list of her calls", agent.id, node)
            return []
        return [call for call in calls if isinstance(call, dict)]
