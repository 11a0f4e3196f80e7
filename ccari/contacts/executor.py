"""The lifecycle's commands carried out on the universal queue and the agents' pages.

Every medium other than voice (chat, e-mail, callbacks) does the same thing after a move:
what the contact's move commands (:func:`ccari.contacts.lifecycle.move`) is done here, in the
lifecycle's order, and a medium adds only what is its own (chat closes the conversation, a
callback hangs up the agent's ringing leg).  The agent's pages hear of a contact leaving
them once the queue has it back (so her new state comes first).  Voice carries out the same
commands with its legs and bridges (``ccari.voice.services``).

============  ==============================================================================
command       carried out as
============  ==============================================================================
withdraw      the agent's pages drop the offer (``withdrawn``), told once the queue's part
              of the move is done
requeue       the offer is declined: back in its place (``QueueService.offer_failed``, which
              records the move if the contact is still offered; ``missed``: the agent goes
              not ready)
dequeue       the router forgets the contact (``QueueService.withdraw``)
enqueue       the router takes the contact (``QueueService.enqueue``)
present       nothing: the queue presents the offers it makes (its deliverers)
connect       the agent's reserved slot becomes busy (``QueueService.accepted``)
disconnect    handed back to the queue (no wrap-up follows): the agent's part ends at once,
              her slot freed, her pages drop it (``withdrawn``)
wrap-up       her slot is freed through wrap-up, and her pages are told (``completed``)
release       nothing: a page contact holds nothing outside ccari
============  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Iterable

from ccari.contacts.lifecycle import Command
from ccari.contacts.services import QueueService
from ccari.routing import AwayReason
from ccari.storage.models import Contact


class Executor:
    def __init__(self, queue: QueueService) -> None:
        self._queue = queue

    async def carry_out(self, contact: Contact, commands: Iterable[Command], *,
                        agent_id: int | None, missed: bool = False,
                        wrap_up_s: float = 0.0, away: AwayReason | None = None) -> None:
        """Carry out ``commands`` (a move's, in order) for ``contact``; ``agent_id`` is the
        agent it was offered to or with before the move; ``away``: instead of her wrap-up,
        she is not ready for that reason (``QueueService.completed``)."""
        commands = tuple(commands)
        for command in commands:
            match command:
                case Command.REQUEUE:
                    await self._queue.offer_failed(contact, missed=missed)
                case Command.DEQUEUE:
                    await self._queue.withdraw(contact.id)
                case Command.ENQUEUE:
                    await self._queue.enqueue(contact)
                case Command.CONNECT:
                    await self._queue.accepted(contact.id)
                case Command.DISCONNECT if Command.WRAP_UP not in commands:
                    await self._queue.completed(contact.id, agent_id, 0)
                    await self._tell(agent_id, "withdrawn", contact.id)
                case Command.WRAP_UP:
                    await self._queue.completed(contact.id, agent_id, wrap_up_s, away=away)
                    await self._tell(agent_id, "completed", contact.id)
                case _:
                    pass  # present, release; withdraw: below; see the module's table
        if Command.WITHDRAW in commands:
            await self._tell(agent_id, "withdrawn", contact.id)

    async def _tell(self, agent_id: int | None, kind: str, contact_id: str) -> None:
        if agent_id is not None:
            await self._queue.pages.send(agent_id, {"type": kind, "contact_id": contact_id})
