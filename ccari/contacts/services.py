"""The universal queue service: the contacts' side (enqueue, offers declined, completed,
reprioritised, rescheduled) on top of its agents' side (:mod:`ccari.contacts.queue_agents`)
and its core (:mod:`ccari.contacts.queue_core`: the router under its lock, rebuilt from the
database, its offers saved then delivered)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ccari.agents import repo as agents_repo
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact, State
from ccari.contacts.queue_agents import QueueAgents
from ccari.contacts.queue_core import utc
from ccari.contacts.routing import work_item
from ccari.errors import NotFound
from ccari.routing import AgentState, AwayReason, RoutingError
from ccari.storage.models import Contact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueView:
    position: int
    predicted_wait_s: float


class QueueService(QueueAgents):
    """The one queue of every medium (its parts: see the module's docstring)."""

    # ---- work --------------------------------------------------------------------------
    async def enqueue(self, contact: Contact) -> None:
        """``contact`` is already saved as queued; route it."""
        if not self._role.leads():
            await self._role.tell_leader("enqueue", contact_id=contact.id)
            return
        await self._decide(self.router.add_item, work_item(contact), self._clock())

    async def route_afresh(self, contact: Contact) -> None:
        """``contact`` is saved queued again behind the router's back (an offer ended by a
        reconcile, a hand-over not taken): what the router held for it (an offer it made
        that nobody rings) is dropped, and it is routed again in its place."""
        await self.withdraw(contact.id)
        await self.enqueue(contact)

    async def withdraw(self, contact_id: str) -> None:
        """The contact left (caller hung up, chat closed): forget it, free any reservation."""
        if not self._role.leads():
            await self._role.tell_leader("withdraw", contact_id=contact_id)
            return
        await self._decide(self.router.remove_item, contact_id, self._clock())

    async def accepted(self, contact_id: str) -> None:
        if not self._role.leads():
            await self._role.tell_leader("accepted", contact_id=contact_id)
            return
        await self._decide(self.router.accept, contact_id, self._clock())

    async def offer_failed(self, contact: Contact, *, missed: bool = False) -> None:
        """The agent did not take the offer: the contact goes back to its place in the queue.

        ``missed``: the offer lapsed unanswered, whatever the medium.  The router's one rule
        for that (``Router.reject``: the agent not ready with the reason missed offer, the
        contact kept from them a while) is applied, and the agent's new presence saved."""
        agent_id = contact.agent_id

        def declined(s: Session) -> None:
            row = repo.get_sync(s, contact.id)
            # (the same offer: not one another node's router made since)
            if (row is not None and row.state == State.OFFERED
                    and agent_id in (None, row.agent_id)):
                repo.apply_sync(s, row, Fact.DECLINED, at=utc(self._clock()), agent_id=None,
                                agent_channel_id=None,
                                detail={"declined_by": row.agent_id, "missed": missed})

        await self.writes.run(declined)
        if not self._role.leads():
            await self._role.tell_leader("declined", contact_id=contact.id,
                                         tenant_id=contact.tenant_id, agent_id=agent_id,
                                         missed=missed)
            return
        await self.route_declined(contact.id, contact.tenant_id, agent_id, missed=missed)

    async def route_declined(self, contact_id: str, tenant_id: int, agent_id: int | None, *,
                             missed: bool) -> None:
        """The router's part of :meth:`offer_failed` (the decline is saved)."""
        await self._decide(self.router.reject, contact_id, self._clock(), missed=missed)
        if agent_id is None:
            return
        if missed and self.agent_state(agent_id) == AgentState.NOT_READY:
            # What the router decided is what a restart restores.
            await self.writes.run(functools.partial(
                agents_repo.set_presence_sync, tenant_id=tenant_id, agent_id=agent_id,
                presence=AgentState.NOT_READY.value, reason=AwayReason.MISSED_OFFER.value))
        await self._push_state(agent_id, offer=None)

    async def completed(self, contact_id: str, agent_id: int | None, wrap_up_s: float, *,
                        away: AwayReason | None = None) -> None:
        """The contact ended for its agent: her wrap-up follows (the router ends it itself
        after ``wrap_up_s``: a deadline the ticker honours), or, ``away``, she is not ready
        for that reason (saved: what a rebuilt router keeps) until she says ready."""
        if not self._role.leads():
            await self._role.tell_leader("completed", contact_id=contact_id, agent_id=agent_id,
                                         wrap_up_s=wrap_up_s, away=away)
            return
        await self._decide(self.router.complete, contact_id, self._clock(),
                           wrap_up=wrap_up_s if wrap_up_s > 0 else False, away=away)
        if agent_id is None:
            return
        agent = self._agents.get(agent_id)
        if away is not None and agent is not None:
            # Saved even when she is out of routing (her page went with that node: she comes
            # back not ready), and so in the router whatever it knew of the contact.
            await self.writes.run(functools.partial(
                agents_repo.set_away_sync, tenant_id=agent.tenant_id, agent_id=agent_id,
                reason=away.value))
            if self.router.agent_reason(str(agent_id)) is not away:
                await self._decide(self.router.agent_not_ready, str(agent_id), self._clock(),
                                   reason=away)
        await self._save_wrap_up(agent_id)  # what a rebuilt router keeps
        await self._push_state(agent_id, offer=None)

    async def reprioritise(self, tenant_id: int, contact_id: str, priority: int) -> Contact:
        """A supervisor moves a waiting contact up or down (higher priority first)."""
        contact = await self._save_waiting(tenant_id, contact_id, "priority", priority=priority)
        await self.route_priority(contact)
        return contact

    async def route_priority(self, contact: Contact) -> None:
        """The router's part of :meth:`reprioritise` (the priority is saved)."""
        if not self._role.leads():
            await self._role.tell_leader("priority", contact_id=contact.id)
            return
        await self._decide(self.router.update_priority, contact.id, contact.priority,
                           self._clock())

    async def reschedule(self, tenant_id: int, contact_id: str, not_before: float | None) -> Contact:
        """Not routed before ``not_before`` (None: at once), e.g. a callback moved earlier."""
        contact = await self._save_waiting(tenant_id, contact_id, "rescheduled", not_before=(
            utc(not_before) if not_before is not None else None))
        await self.route_schedule(contact)
        return contact

    async def route_schedule(self, contact: Contact) -> None:
        """The router's part of :meth:`reschedule` (the time is saved)."""
        if not self._role.leads():
            await self._role.tell_leader("schedule", contact_id=contact.id)
            return
        not_before = contact.not_before.timestamp() if contact.not_before else None
        await self._decide(self.router.reschedule, contact.id, not_before, self._clock())

    async def _save_waiting(self, tenant_id: int, contact_id: str, kind: str,
                            **fields: Any) -> Contact:
        async with self._sessions() as s:
            contact = await repo.get(s, contact_id, tenant_id, for_update=True)
            if contact is None or contact.state not in ("queued", "offered"):
                raise NotFound("no such waiting contact", error_id="contact-not-waiting")
            await repo.update(s, contact, kind, at=utc(self._clock()), **fields)
            await s.commit()
        return contact

    # ---- tenants and what the queue shows ----------------------------------------------
    async def set_blend_hold(self, tenant_id: int, seconds: float | None) -> None:
        """The tenant's own fair-blending hold (0: off), or ``None`` for the default."""
        hold = self.router.rules.hold_after if seconds is None else seconds
        async with self._lock:
            offers = self.router.set_hold_after(str(tenant_id), hold, self._clock())
        await self._apply(offers)

    def forget_tenant(self, tenant_id: int) -> None:
        """A deleted tenant: the router's knowledge of it and the rows of its agents go (a
        tenant still busy here is kept, and said so: the deletion checked it had no work)."""
        try:
            self.router.forget_tenant(str(tenant_id))
        except RoutingError as exc:
            log.warning("tenant %s deleted but not forgotten by the router: %s", tenant_id, exc)
            return
        gone = {a for a, row in self._agents.items() if row.tenant_id == tenant_id}
        for agent_id in gone:
            self._agents.pop(agent_id, None)
            self._attributes.pop(agent_id, None)
            self.states.forget(agent_id)
            self._roomless.discard(agent_id)

    def available_agents(self, tenant_id: int) -> int:
        """A in the trunk rule: the tenant's agents logged in and taking contacts (ready,
        reserved or busy; not those in not-ready or wrap-up)."""
        return self.router.taking_work(str(tenant_id))

    def view(self, contact_id: str) -> QueueView | None:
        """Position and predicted wait of a waiting contact (None once offered or gone)."""
        try:
            position = self.router.position(contact_id)
            if position is None:
                return None
            return QueueView(position, self.router.predicted_wait(contact_id, self._clock()).wait)
        except RoutingError:
            return None
