"""An agent's call control run on the node whose Asterisk carries the call (several nodes).

Her page (or the REST API) is served by one node; a call's controls (hold, mute, transfer,
consult, conference, recording, hang-up, wrap-up: the ``call.*`` commands) act on the
Asterisk carrying the call, which only its node drives.  When such a command names a call
(``contact_id``) that another node carries, this node asks that node over the bus to run it
as her and waits for the answer (``timeout_s``): the page or the API gets that node's reply,
or its error, as if the command had run here.  A node that does not answer in time gives
``503 node-unavailable`` (the command may still have run there: what it changed reaches her
page as any change of her call does).

A connected call whose node died goes on in that node's Asterisk, watched by the routing
leader (``ccari.voice.adoption``), which answers for it (:meth:`watch`, the contact's
``watched_by``): its commands go to the watcher, and a wrap-up of it runs there too.

The same way carries the questions nodes ask each other about an agent (:meth:`answer`:
her live calls, for her reopened page, ``ccari.cluster.resume``); those are no page's
commands.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.agents import repo as agents_repo
from ccari.agents.commands import AgentCommands, Command
from ccari.cluster.bus import Bus, PayloadTooLarge
from ccari.contacts import repo as contacts_repo
from ccari.errors import CcariError
from ccari.routing import Medium
from ccari.storage.models import Agent
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)
TOPIC = "commands"
CALL_COMMANDS = "call."  # the message types relayed to the node carrying the call
WRAP_UP = "call.wrap_up"  # the database's only: a watched call's runs as any call's


class NodeUnavailable(CcariError):
    """The node carrying the call did not answer in time."""

    error_id = "node-unavailable"
    status = 503
    outage = True


class RemoteError(CcariError):
    """The error the node carrying the call answered with."""

    def __init__(self, message: str, *, error_id: str, status: int) -> None:
        super().__init__(message, error_id=error_id)
        self.status = status


class CommandRelay:
    def __init__(self, bus: Bus, sessions: async_sessionmaker[AsyncSession],
                 commands: AgentCommands, *, timeout_s: float = 10.0) -> None:
        self._bus = bus
        self._sessions = sessions
        self._commands = commands
        self._timeout = timeout_s
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._questions: dict[str, Command] = {}  # asked by other nodes only
        self._watched: dict[str, Command] = {}  # calls this node answers for (by contact)
        self._tasks = TaskSet("cluster-commands")
        bus.subscribe(TOPIC, self._told)

    async def close(self) -> None:
        await self._tasks.close()

    def answer(self, name: str, handler: Command) -> None:
        """Other nodes may ask this one ``name`` (:meth:`run_on`), answered by ``handler`` as
        the agent; a page cannot."""
        if name in self._questions:
            raise ValueError(f"node question {name!r} registered twice")
        self._questions[name] = handler

    def watch(self, contact_id: str, handler: Command) -> None:
        """This node answers the commands about ``contact_id`` (a call carried by a dead
        node's Asterisk) with ``handler``, whatever node they come from, until
        :meth:`unwatch`; its wrap-up runs as any call's."""
        self._watched[contact_id] = handler

    def unwatch(self, contact_id: str) -> None:
        self._watched.pop(contact_id, None)

    async def where(self, agent: Agent, message: dict[str, Any]) -> str | None:
        """The node to run ``message`` on, if not this one as usual: another node's call's,
        or the node watching it (this one, for a call it answers for)."""
        kind, contact_id = message.get("type"), message.get("contact_id")
        if not (isinstance(kind, str) and kind.startswith(CALL_COMMANDS)
                and isinstance(contact_id, str) and contact_id):
            return None
        async with self._sessions() as s:
            contact = await contacts_repo.get(s, contact_id, agent.tenant_id)
        if contact is None or not Medium(contact.medium).is_call:
            return None
        node = contact.meta.get("watched_by") or contact.node
        if node == self._bus.node:
            return node if contact_id in self._watched and kind != WRAP_UP else None
        return node

    async def run_on(self, node: str, agent: Agent, message: dict[str, Any], *,
                     timeout_s: float | None = None) -> dict[str, Any] | None:
        """``message`` run on ``node`` as the agent: its reply, or its error raised here;
        :class:`NodeUnavailable` after ``timeout_s`` (default: the relay's)."""
        if node == self._bus.node:
            return await self._here(agent, message)
        ident = uuid.uuid4().hex
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = answer
        try:
            await self._bus.publish(TOPIC, {"k": "run", "to": node, "from": self._bus.node,
                                            "id": ident, "tenant": agent.tenant_id,
                                            "agent": agent.id, "msg": message})
            async with asyncio.timeout(self._timeout if timeout_s is None else timeout_s):
                reply = await answer
        except TimeoutError:
            raise NodeUnavailable(f"node {node}, which carries the call, did not answer") from None
        finally:
            self._pending.pop(ident, None)
        if "error" in reply:
            raise RemoteError(str(reply.get("message") or reply["error"]),
                              error_id=str(reply["error"]), status=int(reply.get("status", 500)))
        result = reply.get("result")
        return result if isinstance(result, dict) else None

    async def _told(self, payload: dict[str, Any]) -> None:
        if payload.get("to") != self._bus.node:
            return
        if payload.get("k") == "run":  # in a task: the bus goes on while the call is handled
            self._tasks.spawn(self._run(payload), f"command-{payload.get('id')}")
        elif payload.get("k") == "reply":
            answer = self._pending.get(str(payload.get("id")))
            if answer is not None and not answer.done():
                answer.set_result(payload)

    async def _run(self, payload: dict[str, Any]) -> None:
        reply: dict[str, Any]
        async with self._sessions() as s:
            agent = await agents_repo.get(s, int(payload["tenant"]), int(payload["agent"]))
        try:
            if agent is None:
                raise CcariError("no such agent", error_id="agent-not-found")
            message = dict(payload["msg"])
            question = self._questions.get(str(message.get("type")))
            result = (await question(agent, message) if question is not None
                      else await self._here(agent, message))
            reply = {"result": result}
        except CcariError as exc:
            reply = {"error": exc.error_id, "status": exc.status, "message": exc.message}
        except Exception:
            log.exception("cluster: a relayed agent command failed")
            reply = {"error": "internal-error", "status": 500, "message": "internal error"}
        answer = {"k": "reply", "to": payload.get("from"), "id": payload.get("id")}
        try:
            await self._bus.publish(TOPIC, {**answer, **reply})
        except PayloadTooLarge:
            await self._bus.publish(TOPIC, {**answer, "error": "reply-too-large", "status": 502,
                                            "message": "the answer does not fit the bus"})

    async def _here(self, agent: Agent, message: dict[str, Any]) -> dict[str, Any] | None:
        watcher = self._watched.get(str(message.get("contact_id")))
        if watcher is not None and message.get("type") != WRAP_UP:
            return await watcher(agent, message)
        return await self._commands.run(agent, message, here=True)
