"""Co-browse use cases: start and resume (customer), link and watch (agent), end.

Life of a session: the customer's page opens the public websocket and gets a 6-digit code
(state ``waiting``); the agent handling the customer's call or chat enters the code, which
links the session to that contact (``linked``, logged in the contact's events); the agent's
mirror then receives the customer's rrweb events.  It ends when the customer stops, the agent
ends it, the contact ends (a reaper checks every second, so it does not depend on any other
context calling in) or an unused code expires.  The database is the record; the relay in
memory is rebuilt by the customer's page reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari import logs
from ccari.agents.notifier import AgentHub
from ccari.cobrowse import repo
from ccari.cobrowse.core import (
    Limits,
    TokenBucket,
    allowed_url,
    check_events,
    new_code,
    origin_of,
    page_of,
    valid_code,
)
from ccari.cobrowse.models import CobrowseSession, CobrowseSettings
from ccari.cobrowse.relay import MAX_WATCHERS, Live, close_socket
from ccari.contacts import repo as contacts_repo
from ccari.contacts.queue_core import utc
from ccari.errors import BadRequest, Conflict, Forbidden, NotFound, TooManyRequests
from ccari.public.origins import Origins
from ccari.public.tokens import CustomerSession
from ccari.storage.models import Agent
from ccari.tasks import TaskSet
from ccari.web.bodies import parse_json

if TYPE_CHECKING:
    from ccari.cobrowse.nodes import CobrowseNodes

log = logging.getLogger(__name__)
LINKABLE = ("offered", "connected")


class CobrowseService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: AgentHub, origins: Origins,
                 *, limits: Limits | None = None, clock: Callable[[], float] = time.time,
                 reap_every_s: float = 1.0, code_ttl_s: int = 600) -> None:
        self._sessions = sessions
        self._hub = hub
        self._origins = origins
        self.limits = limits or Limits()
        self._clock = clock
        self._reap_every = reap_every_s
        self._code_ttl = code_ttl_s
        self._live: dict[str, Live] = {}
        self._link_tries: dict[int, TokenBucket] = {}
        self._tasks = TaskSet("cobrowse")
        # Several nodes: the other nodes' side of the sessions (set once by the plugin).
        self.remote: CobrowseNodes | None = None

    async def start(self) -> None:
        self._tasks.spawn(self._reaper(), "reaper")

    async def close(self) -> None:
        await self._tasks.close()
        for live in list(self._live.values()):
            for ws in await live.end("server-shutdown"):
                await close_socket(ws, WSCloseCode.GOING_AWAY, "server shutdown")
        self._live.clear()

    def live(self, session_id: str) -> Live | None:
        return self._live.get(session_id)

    def lives(self) -> list[Live]:
        return list(self._live.values())

    async def _live_for(self, row: CobrowseSession) -> Live:
        live = self._live.get(row.id)
        if live is None:
            origins = set(await self._origins.allowed(row.tenant_id))
            if row.origin:
                origins.add(row.origin)
            live = Live(row.id, row.tenant_id, self.limits, frozenset(origins), row.contact_id,
                        row.consent, remote=self.remote)
            self._live[row.id] = live
        return live

    # ---- the customer's side ----------------------------------------------------------------
    async def open(self, cs: CustomerSession, resume: str | None, origin: str | None
                   ) -> tuple[CobrowseSession, CobrowseSettings | None]:
        """Resume the session ``resume`` of this browser session, or start a new one (ending
        any other of this browser session).  A resumed session that has ended meanwhile is
        returned as it is: the caller tells the page."""
        replaced: list[CobrowseSession] = []
        async with self._sessions() as s:
            if resume:
                row = await repo.get(s, resume, cs.tenant_id)
                if row is None or row.customer_session != cs.session_id:
                    raise NotFound("no such co-browse session", error_id="cobrowse-not-found")
            else:
                replaced = await repo.active_of_customer(s, cs.tenant_id, cs.session_id)
                row = CobrowseSession(
                    tenant_id=cs.tenant_id, customer_session=cs.session_id, state="waiting",
                    code=new_code(await repo.codes_in_use(s, cs.tenant_id)),
                    origin=origin_of(origin) if origin else None, created_at=utc(self._clock()))
                s.add(row)
            settings = await repo.settings(s, cs.tenant_id)
            await s.commit()
        for old in replaced:
            await self.end(old.tenant_id, old.id, "restarted")
        if not resume:
            log.info("co-browse %s started for tenant %s", row.id, row.tenant_id)
        return row, settings

    async def attach_customer(self, row: CobrowseSession, ws: web.WebSocketResponse) -> Live:
        live = await self._live_for(row)
        old, live.customer = live.customer, ws
        live.customer_since = self._clock()
        if old is not None and not old.closed:  # the same session opened again (another tab)
            await self.replaced(live, old)
        if self.remote is not None:
            await self.remote.customer_here(live)
        await live.to_watchers_json({"type": "customer", "connected": True})
        return live

    async def replaced(self, live: Live, ws: web.WebSocketResponse) -> None:
        """The customer's page opened the session again (another tab, here or on another
        node): the older socket is told and closed, the newest one shares."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json({"type": "ended", "reason": "replaced"})
        self._tasks.spawn(close_socket(ws, WSCloseCode.OK, "replaced"), f"replaced-{live.id}")

    async def detach_customer(self, live: Live, ws: web.WebSocketResponse) -> None:
        if live.customer is ws:
            live.customer = None
            await live.to_watchers_json({"type": "customer", "connected": False})

    async def from_customer(self, live: Live, text: str) -> None:
        if not (live.in_messages.take() and live.in_bytes.take(len(text))):
            raise TooManyRequests("too much co-browse traffic", error_id="cobrowse-rate-limited")
        data = parse_json(text)
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "events":
            if set(data) != {"type", "events"}:
                raise BadRequest("unexpected fields", error_id="bad-events")
            try:
                events = check_events(data, self.limits)
            except ValueError as exc:
                raise BadRequest(str(exc), error_id="bad-events") from None
            page = page_of(events)
            if page is not None:
                await self._page(live, page)
            if live.watchers or live.nodes:
                await live.to_watchers(text)
        elif kind == "consent" and isinstance(data.get("allow"), bool):
            await self._consent(live, data["allow"])
        elif kind == "stop":
            await self.end(live.tenant_id, live.id, "customer-stopped")
        else:
            raise BadRequest("unknown message", error_id="bad-message")

    async def _page(self, live: Live, page: dict[str, Any]) -> None:
        if origin_of(page["url"]) not in live.origins:
            return  # a page of another site than the one that opened the socket: not shown
        live.page = page
        async with self._sessions() as s:
            row = await repo.get(s, live.id, live.tenant_id)
            if row is not None:
                row.page_url = page["url"]
                await s.commit()
        await live.to_watchers_json(live.status())

    async def _consent(self, live: Live, allow: bool) -> None:
        async with self._sessions() as s:
            row = await repo.get(s, live.id, live.tenant_id)
            if row is None:
                return
            row.consent = allow
            await s.commit()
        live.consent = allow
        log.info("co-browse %s: customer %s guidance", live.id, "allows" if allow else "refuses")
        await live.to_watchers_json({"type": "consent", "allow": allow})

    # ---- the agent's side -------------------------------------------------------------------
    async def link(self, agent: Agent, contact_id: str, code: object) -> CobrowseSession:
        """The agent handling ``contact_id`` entered the customer's code."""
        bucket = self._link_tries.setdefault(
            agent.id, TokenBucket(self.limits.link_attempts_per_min / 60.0,
                                  self.limits.link_attempts_per_min))
        if not bucket.take():
            raise TooManyRequests("too many codes tried; wait a minute", error_id="cobrowse-rate-limited")
        row = await self._link(agent.tenant_id, contact_id, code, agent)
        await self._hub.send(agent.id, {"type": "cobrowse.linked", "contact_id": contact_id,
                                        "session_id": row.id})
        return row

    async def link_by_code(self, tenant_id: int, contact_id: str, code: str) -> bool:
        """The caller typed the code in the IVR: link it to their call (False: no such code)."""
        try:
            await self._link(tenant_id, contact_id, code, None)
        except (BadRequest, NotFound, Conflict):
            return False
        return True

    async def _link(self, tenant_id: int, contact_id: str, code: object,
                    agent: Agent | None) -> CobrowseSession:
        if not valid_code(code):
            raise BadRequest("the code has 6 digits", error_id="bad-code")
        now = utc(self._clock())
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id, tenant_id)
            if contact is None or (agent is not None and contact.agent_id != agent.id) \
                    or contact.state not in (LINKABLE if agent else contacts_repo.OPEN_STATES):
                raise NotFound("no such contact for you", error_id="contact-not-found")
            if await repo.linked_to(s, tenant_id, contact_id) is not None:
                raise Conflict("this contact already has a co-browse session",
                               error_id="cobrowse-already-linked")
            row = await repo.waiting_by_code(s, tenant_id, str(code))
            if row is None:
                raise NotFound("no customer is showing this code", error_id="cobrowse-code-unknown")
            row.state, row.contact_id, row.linked_at = "linked", contact_id, now
            row.agent_id = agent.id if agent else None
            await contacts_repo.log(s, contact, "cobrowse-linked", now, cobrowse=row.id,
                                    by="agent" if agent else "ivr")
            await s.commit()
        log.info("co-browse %s linked to contact %s", row.id, contact_id,
                 extra=logs.about(contact_id, tenant_id))
        live = await self._live_for(row)
        live.contact_id = contact_id
        await live.to_customer({"type": "linked"})
        return row

    async def session_of(self, agent: Agent, contact_id: str) -> CobrowseSession | None:
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id, agent.tenant_id)
            if contact is None or contact.agent_id != agent.id:
                raise NotFound("no such contact for you", error_id="contact-not-found")
            return await repo.linked_to(s, agent.tenant_id, contact_id)

    async def watch(self, agent: Agent, contact_id: str, ws: web.WebSocketResponse) -> Live:
        row = await self.session_of(agent, contact_id)
        if row is None:
            raise NotFound("no co-browse session on this contact", error_id="cobrowse-not-linked")
        live = await self._live_for(row)
        if len(live.watchers) >= MAX_WATCHERS:
            raise Conflict("too many mirrors open", error_id="cobrowse-too-many-mirrors")
        live.add_watcher(ws, agent.id)
        if self.remote is not None and not live.here():
            await self.remote.watching(live, True)  # the customer's node asks for a snapshot
            return live
        # A fresh full snapshot for the new mirror (the others just rebuild).
        await live.to_customer({"type": "snapshot"})
        return live

    async def unwatch(self, live: Live, ws: web.WebSocketResponse) -> None:
        live.remove_watcher(ws)
        if self.remote is not None and not live.watchers and not live.here():
            await self.remote.watching(live, False)

    async def from_agent(self, live: Live, data: dict[str, Any]) -> dict[str, Any] | None:
        if not live.from_agents.take():
            raise TooManyRequests("slow down", error_id="cobrowse-rate-limited")
        kind = data.get("type")
        if kind == "end":
            await self.end(live.tenant_id, live.id, "agent-ended")
            return None
        if kind not in ("pointer", "highlight", "navigate"):
            raise BadRequest("unknown message", error_id="bad-message")
        if not live.consent:
            raise Forbidden("the customer has not allowed guidance", error_id="cobrowse-no-consent")
        if kind == "navigate":
            url = data.get("url")
            if not allowed_url(url, live.origins):
                raise Forbidden("only pages of the tenant's own sites", error_id="cobrowse-url-not-allowed")
            log.info("co-browse %s: agent sends the customer to %s", live.id, url)
            message: dict[str, Any] = {"type": "navigate", "url": url}
        elif kind == "pointer":
            x, y = data.get("x"), data.get("y")
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e6
                       for v in (x, y)):
                raise BadRequest("x and y must be page coordinates", error_id="bad-pointer")
            message = {"type": "pointer", "x": x, "y": y}
        else:
            node = data.get("node")
            if not isinstance(node, int) or isinstance(node, bool) or node < 0:
                raise BadRequest("node must be a node id of the page", error_id="bad-node")
            message = {"type": "highlight", "node": node}
        delivered = await live.to_customer(message)
        return None if delivered else {"type": "customer", "connected": False}

    # ---- the end ----------------------------------------------------------------------------
    async def end(self, tenant_id: int, session_id: str, reason: str) -> None:
        now = utc(self._clock())
        async with self._sessions() as s:
            row = await repo.get(s, session_id, tenant_id)
            if row is None:
                return
            agent_id = row.agent_id
            if row.contact_id is not None:
                contact = await contacts_repo.get(s, row.contact_id, tenant_id)
                agent_id = contact.agent_id if contact and contact.agent_id else agent_id
            if row.state != "ended":
                row.state, row.ended_at, row.end_reason = "ended", now, reason[:32]
                await s.commit()
                log.info("co-browse %s ended: %s", session_id, reason)
        if agent_id is not None and row.contact_id is not None:
            await self._hub.send(agent_id, {"type": "cobrowse.ended",
                                            "contact_id": row.contact_id, "reason": reason})
        await self._end_here(session_id, reason)
        if self.remote is not None:
            await self.remote.ended(session_id, reason, agent_id, row.contact_id)

    async def ended_elsewhere(self, session_id: str, reason: str, agent_id: int | None,
                              contact_id: str | None) -> None:
        """Another node ended the session (and saved it): this node's sockets are told."""
        if agent_id is not None and contact_id is not None:
            await self._hub.send(agent_id, {"type": "cobrowse.ended", "contact_id": contact_id,
                                            "reason": reason})
        await self._end_here(session_id, reason)

    async def _end_here(self, session_id: str, reason: str) -> None:
        live = self._live.pop(session_id, None)
        if live is not None:
            for n, ws in enumerate(await live.end(reason)):
                self._tasks.spawn(close_socket(ws, WSCloseCode.OK, reason), f"close-{session_id}-{n}")

    async def end_for_agent(self, agent: Agent, contact_id: str) -> None:
        row = await self.session_of(agent, contact_id)
        if row is not None:
            await self.end(agent.tenant_id, row.id, "agent-ended")

    async def reap(self) -> int:
        """End what must end (contact over, code expired); returns how many."""
        async with self._sessions() as s:
            due = [(row.tenant_id, row.id, why)
                   for row, why in await repo.to_end(s, utc(self._clock()), self._code_ttl)]
        for tenant_id, session_id, why in due:
            await self.end(tenant_id, session_id, why)
        return len(due)

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(self._reap_every)
            try:
                await self.reap()
            except Exception:
                log.exception("co-browse reaper failed; trying again")
