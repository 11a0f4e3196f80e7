"""One recorder standing in for the universal queue, the agents' pages and the callbacks'
call legs: the executors' tests read what they were asked, in order."""

from __future__ import annotations

from typing import Any, cast

from ccari.agents.notifier import AgentHub, Pages
from ccari.contacts.services import QueueService
from ccari.storage.models import Contact

Call = tuple[Any, ...]


class Recorder:
    def __init__(self, *, pages: set[int] | None = None) -> None:
        self.calls: list[Call] = []
        self.open_pages = pages if pages is not None else set()  # agents with a page open

    @property
    def queue(self) -> QueueService:
        return cast(QueueService, self)

    @property
    def hub(self) -> AgentHub:
        return cast(AgentHub, self)

    @property
    def pages(self) -> Pages:  # QueueService.pages
        return cast(Pages, self)

    # ---- QueueService -------------------------------------------------------------------
    def register(self, medium: str, deliverer: object, *, on_page: bool = False) -> None:
        pass

    async def offer_failed(self, contact: Contact, *, missed: bool = False) -> None:
        self.calls.append(("requeue", contact.id, contact.agent_id, missed))

    async def withdraw(self, contact_id: str) -> None:
        self.calls.append(("dequeue", contact_id))

    async def enqueue(self, contact: Contact) -> None:
        self.calls.append(("enqueue", contact.id))

    async def accepted(self, contact_id: str) -> None:
        self.calls.append(("accepted", contact_id))

    async def completed(self, contact_id: str, agent_id: int | None, wrap_up_s: float, *,
                        away: object = None) -> None:
        self.calls.append(("completed", contact_id, agent_id, wrap_up_s)
                          + (() if away is None else (away,)))

    # ---- AgentHub -----------------------------------------------------------------------
    def watch(self, watcher: object) -> None:
        pass

    def connected(self, agent_id: int) -> bool:
        return agent_id in self.open_pages

    async def send(self, agent_id: int, message: dict[str, Any]) -> None:
        self.calls.append(("page", agent_id, message["type"], message.get("contact_id")))

    # ---- callbacks.executor.CallLegs ------------------------------------------------------
    async def hang_up_agent(self, callback_id: str) -> None:
        self.calls.append(("hang-up-agent", callback_id))

    async def end_attempts(self, callback_id: str) -> None:
        self.calls.append(("end-attempts", callback_id))
