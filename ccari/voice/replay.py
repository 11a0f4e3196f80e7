"""A reopened agent page gets her calls back.

An agent who reloads her page, opens a second tab, or whose page reconnects after ccari
restarted, sees each call she is on as she left it: the screen pop (with the codec her
phone was rung with, while this process knows it), connected or on hold, muted, the
recording (on or paused), a consult or conference under way, a supervisor whispering to
her or in the call; and the call that waits for her wrap-up (her newest call, ended
without her disposition, or one that goes on without her: a conference she left, a consult
she completed, a call a supervisor took over).

The page asks with ``calls.resume`` when its socket opens (as it asks ``chat.resume``).
The answer is the messages the page already handles as they happen (``offer``,
``connected``, ``held``, ``muted``, ``recording``, ``consulting``, ``conference``;
``completed`` for a call in wrap-up), sent to her pages in order, then
``{"type": "calls", "contact_ids": [...]}``: every call item the page should have; a page
that kept an item of a call that ended meanwhile (its socket was away while ccari
restarted) drops it.

What a context knows of a call beyond the voice ACD (the recording, a consult, a
conference, a supervisor) it adds through ``VoiceService.page_views``.

Each live call is told by the node whose Asterisk carries it (:class:`CallsHere`: its part
after the screen pop, :class:`LiveCall`); the node serving her page adds, with several
nodes, what the other nodes carrying her calls answer (``ccari.cluster.resume``; a node
that does not answer in time is left out), then builds each screen pop from the database
and adds the calls that await her wrap-up (the database's too, whatever node carried them).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ccari.agents.commands import AgentCommands
from ccari.agents.notifier import AgentHub
from ccari.contacts import lifecycle
from ccari.contacts.screenpop import screen_pop
from ccari.errors import Conflict
from ccari.routing import CALLS
from ccari.storage.models import Agent, Contact
from ccari.voice import wrapup
from ccari.voice.calls import Call

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from ccari.voice.services import VoiceService

log = logging.getLogger(__name__)

# What a context tells a reopened page about a live call (the page's own messages).
PageView = Callable[[Call], Awaitable[list[dict[str, Any]]]]
Message = dict[str, Any]
LIVE_PHASES = ("offered", "connected")
RECENT = 20  # her newest calls looked at for one awaiting her wrap-up
# An ended call her page had in wrap-up comes back this long (a shift), as the page kept it.
WRAP_UP_KEPT = dt.timedelta(hours=12)


def call_messages(call: Call, consulting: bool = False) -> list[Message]:
    """The voice ACD's part of a live call: answered or not, on hold (not while the caller
    waits on a consult: the page shows the consult instead), muted."""
    out: list[Message] = []
    if call.phase == "connected":
        out.append({"type": "connected", "contact_id": call.contact_id})
        if call.held_at is not None and not consulting:
            out.append({"type": "held", "contact_id": call.contact_id})
        if call.muted:
            out.append({"type": "muted", "contact_id": call.contact_id})
    return out


def awaiting_wrap_up(contacts: list[Contact], agent_id: int,
                     since: dt.datetime) -> list[Contact]:
    """The calls among ``contacts`` (hers, newest first) her page shows in wrap-up: a
    conference she left that goes on, and the newest call that ended (after ``since``)
    without her disposition."""
    out: list[Contact] = []
    ended_seen = False
    for c in contacts:
        if c.state == lifecycle.State.COMPLETED:
            if ended_seen:
                continue
            ended_seen = True  # only her newest ended call can still await her code
            if c.ended_at is None or c.ended_at < since:
                continue
        try:
            wrapup.when(c.state, c.meta, agent_id)
        except Conflict:  # not hers to wrap up now
            continue
        out.append(c)
    return out


RESUME_CALLS = "calls.resume"


async def no_calls(agent: Agent, msg: dict[str, Any]) -> Message:
    """``calls.resume`` where ccari runs without its PBX: nobody is on a call."""
    return {"type": "calls", "contact_ids": []}


@dataclass(frozen=True)
class LiveCall:
    """A live call of hers as the node carrying it tells it: the codec her phone was rung
    with (while that node knows it) and the page's messages after the screen pop."""

    contact_id: str
    codec: dict[str, Any] | None
    messages: list[Message]

    def as_dict(self) -> dict[str, Any]:
        return {"contact_id": self.contact_id, "codec": self.codec, "messages": self.messages}

    @classmethod
    def of(cls, data: dict[str, Any]) -> LiveCall:
        """From :meth:`as_dict` (another node's answer); ValueError if it is not one."""
        contact_id, codec, messages = data.get("contact_id"), data.get("codec"), data.get("messages")
        if not (isinstance(contact_id, str) and contact_id and isinstance(messages, list)
                and all(isinstance(m, dict) for m in messages)
                and (codec is None or isinstance(codec, dict))):
            raise ValueError(f"not a live call: {data!r}")
        return cls(contact_id, codec, messages)


# Her live calls a node carries (this node's, :class:`CallsHere`) and those the other nodes
# say they carry (``ccari.cluster.resume.CallsElsewhere``: :meth:`LiveCall.as_dict` each).
LiveHere = Callable[[Agent], Awaitable[list[LiveCall]]]
LiveElsewhere = Callable[[Agent], Awaitable[list[dict[str, Any]]]]


class CallsHere:
    """Her live calls this node's Asterisk carries, as the voice ACD and the contexts with a
    page view know them."""

    def __init__(self, voice: VoiceService, views: list[PageView], *,
                 consulting: Callable[[str], bool] = lambda contact_id: False) -> None:
        self._voice = voice
        self._views = views
        self._consulting = consulting  # the call's caller is held for a consult

    async def __call__(self, agent: Agent) -> list[LiveCall]:
        out: list[LiveCall] = []
        for call in self._voice.calls.all():
            if not (call.agent_id == agent.id and call.tenant_id == agent.tenant_id
                    and call.phase in LIVE_PHASES):
                continue
            messages = call_messages(call, self._consulting(call.contact_id))
            for view in self._views:
                messages.extend(await view(call))
            out.append(LiveCall(call.contact_id, call.codec, messages))
        return out

    async def parts(self, agent: Agent) -> list[dict[str, Any]]:
        """The same, as told to another node."""
        return [call.as_dict() for call in await self(agent)]


class CallReplay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: AgentHub,
                 now: Callable[[], dt.datetime], *, here: LiveHere | None = None,
                 elsewhere: LiveElsewhere | None = None) -> None:
        """``here``: this node carries calls; ``elsewhere``: several nodes."""
        self._sessions = sessions
        self._hub = hub
        self._now = now
        self._here = here
        self._elsewhere = elsewhere

    def register_commands(self, commands: AgentCommands) -> None:
        commands.register(RESUME_CALLS, self._cmd_resume)

    async def _cmd_resume(self, agent: Agent, msg: dict[str, Any]) -> Message:
        return {"type": "calls", "contact_ids": await self.resume(agent)}

    async def live(self, agent: Agent) -> list[LiveCall]:
        """Her live calls: this node's, then those the other nodes told (once each)."""
        live = await self._here(agent) if self._here is not None else []
        if self._elsewhere is None:
            return live
        known = {call.contact_id for call in live}
        for data in await self._elsewhere(agent):
            try:
                call = LiveCall.of(data)
            except ValueError:
                log.warning("agent %s: another node told a call of hers unreadably: %r",
                            agent.id, data)
                continue
            if call.contact_id not in known:
                known.add(call.contact_id)
                live.append(call)
        return live

    async def resume(self, agent: Agent) -> list[str]:
        """Tell the agent's pages every call item they should have; their contact ids."""
        live = await self.live(agent)
        now = self._now()
        sent: list[str] = []
        batches: list[list[Message]] = []
        async with self._sessions() as s:
            for call in live:
                contact = await s.get(Contact, call.contact_id)
                if contact is None or contact.tenant_id != agent.tenant_id:
                    continue
                batches.append([await self._offer(s, contact, now, call.codec), *call.messages])
                sent.append(call.contact_id)
            mine = list((await s.scalars(
                select(Contact).where(Contact.tenant_id == agent.tenant_id,
                                      Contact.agent_id == agent.id,
                                      Contact.medium.in_([m.value for m in CALLS]),
                                      Contact.state.in_((lifecycle.State.CONNECTED,
                                                         lifecycle.State.COMPLETED)))
                .order_by(Contact.arrived_at.desc()).limit(RECENT))).all())
            for contact in awaiting_wrap_up(mine, agent.id, now - WRAP_UP_KEPT):
                if contact.id in sent:
                    continue
                # Her part is over (the call ended, or goes on without her): wrap-up.
                batches.append([await self._offer(s, contact, now, None),
                                {"type": "completed", "contact_id": contact.id}])
                sent.append(contact.id)
        for batch in batches:
            for message in batch:
                await self._hub.send(agent.id, message)
        return sent

    @staticmethod
    async def _offer(s: AsyncSession, contact: Contact, now: dt.datetime,
                     codec: dict[str, Any] | None) -> Message:
        pop = await screen_pop(s, contact, now)
        if codec is not None:
            pop["codec"] = codec
        return {"type": "offer", "contact": pop, "resumed": True}
