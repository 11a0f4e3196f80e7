"""The calls the callbacks context drives, as this process knows them, and the ports it
uses (trunk admission, the voice ACD).  Rebuilt from the database and Asterisk after a
restart (:mod:`.reconcile`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from ccari.ari import ids
from ccari.ari.ids import Kind
from ccari.storage.models import Agent, Contact
from ccari.voice.ports import Admission


class OutboundAdmission(Protocol):
    async def admit_outbound(self, tenant_id: int, call_id: str) -> Admission: ...

    async def would_admit_outbound(self, tenant_id: int) -> bool: ...

    async def release(self, call_id: str) -> None: ...


class VoicePort(Protocol):
    async def adopt_queued(self, contact: Contact) -> None: ...

    async def adopt_connected(self, contact: Contact, agent_id: int, agent_channel: str) -> None: ...


@dataclass
class AgentLeg:
    channel_id: str
    contact_id: str
    callback_id: str
    agent: Agent
    answered: bool = False
    attempt_id: str | None = None


@dataclass
class Leg:
    """A customer attempt this process drives."""

    attempt_id: str
    callback_id: str
    phase: str = "ringing"  # ringing | prompt | closing
    plays: int = 0
    playback: str | None = None
    timer: asyncio.Task[Any] | None = None
    agent_leg: AgentLeg | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None and self.timer is not asyncio.current_task():
            self.timer.cancel()
        self.timer = None


def callback_of(attempt_id: str) -> str:
    return ids.rest_of(attempt_id, Kind.CALLBACK_LEG).rpartition("-")[0]
