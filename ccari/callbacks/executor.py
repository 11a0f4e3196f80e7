"""The lifecycle's commands after a callback contact's move.

A callback's contact moves (due, cancelled, rescheduled, deferred, retried, given up...)
by :func:`move`, in the caller's transaction; once that is committed
:meth:`CallbackExecutor.carry_out` does what the move commands, and nothing else decides it:

* ``withdraw``: the agent's phone stops ringing (agent first: her leg is hung up), then her
  pages drop the offer;
* ``requeue``, ``dequeue``, ``enqueue``: the universal queue, as for every medium
  (:class:`ccari.contacts.executor.Executor`);
* ``release``: the callback's attempts still up end (their trunk freed, hung up).

The calls in Asterisk are the dialer's (:class:`CallLegs`), attached when ccari runs with a
PBX.  Once the customer is handed to the voice ACD (pressed 1, or bridged with the agent),
voice carries out its commands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from ccari.callbacks.models import Callback
from ccari.contacts import lifecycle
from ccari.contacts import repo as contacts_repo
from ccari.contacts.executor import Executor
from ccari.contacts.lifecycle import ENDED, Command, Fact
from ccari.contacts.services import QueueService
from ccari.storage.models import Contact


class CallLegs(Protocol):
    async def hang_up_agent(self, callback_id: str) -> None:
        """Hang up the agent's leg of this callback (agent first), if it is up."""

    async def end_attempts(self, callback_id: str) -> None:
        """End this callback's attempts still in flight (trunk freed, channel hung up)."""


@dataclass(frozen=True)
class Followup:
    """What follows a committed move of a callback's contact."""

    callback_id: str
    contact: Contact | None = None  # None: nothing moved
    commands: tuple[Command, ...] = ()
    agent_id: int | None = None  # the agent it was offered to before the move


async def move(s: AsyncSession, cb: Callback, fact: Fact, *, at: dt.datetime,
               only_from: Collection[str] | None = None, **fields: Any) -> Followup:
    """Move the callback's contact by ``fact`` in ``s`` (the caller commits).  A contact that
    is gone or over (or not in ``only_from``) is left as it is: nothing follows."""
    contact = await contacts_repo.get(s, cb.contact_id, for_update=True)
    if contact is None or contact.state in ENDED or (
            only_from is not None and contact.state not in only_from):
        return Followup(cb.id)
    agent_id, commands = contact.agent_id, lifecycle.move(contact.state, fact).commands
    await contacts_repo.apply(s, contact, fact, at=at, **fields)
    return Followup(cb.id, contact, commands, agent_id)


class CallbackExecutor:
    def __init__(self, queue: QueueService) -> None:
        self._shared = Executor(queue)
        self.legs: CallLegs | None = None  # the dialer, once ccari runs with a PBX

    async def carry_out(self, followup: Followup, *, missed: bool = False) -> None:
        """The move's commands, in order (``missed``: a declined offer rang out)."""
        contact, commands = followup.contact, followup.commands
        if contact is None:
            return
        if self.legs is not None and Command.WITHDRAW in commands:
            await self.legs.hang_up_agent(followup.callback_id)
        await self._shared.carry_out(contact, commands, agent_id=followup.agent_id,
                                     missed=missed)
        if self.legs is not None and Command.RELEASE in commands:
            await self.legs.end_attempts(followup.callback_id)
