"""Calls ccari.callbacks hands over to the voice ACD once its customer is on the line.

:class:`Handover` implements ``ccari.callbacks.legs.VoicePort`` (the callbacks context gets
``VoiceService.handover``): from then on the call is the voice ACD's like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ccari.storage.models import Contact
from ccari.tenants import repo as tenants_repo
from ccari.voice.calls import Call, QueueSettings

if TYPE_CHECKING:
    from ccari.voice.services import VoiceService


class Handover:
    def __init__(self, voice: VoiceService) -> None:
        self._voice = voice

    async def adopt_queued(self, contact: Contact) -> None:
        """A customer called back pressed 1: ``contact`` (saved as a queued voice contact whose
        channel_id is the answered outbound leg, in Stasis) waits like a caller from the IVR."""
        voice = self._voice
        assert contact.channel_id is not None
        call = Call(contact.id, contact.tenant_id, contact.channel_id,
                    await self._settings_of(contact), phase="queued")
        await voice.queue_adopted(call, contact)

    async def adopt_connected(self, contact: Contact, agent_id: int, agent_channel: str) -> None:
        """Agent-first callback: the agent's leg and the customer's (``contact.channel_id``) both
        answered; bridge them and handle the call from here on like any connected call."""
        voice = self._voice
        assert contact.channel_id is not None
        call = Call(contact.id, contact.tenant_id, contact.channel_id,
                    await self._settings_of(contact), phase="offered", agent_id=agent_id)
        voice.calls.add(call)
        voice.calls.link_agent_channel(call, agent_channel)
        async with call.lock:
            await voice.connect(call)

    async def _settings_of(self, contact: Contact) -> QueueSettings:
        async with self._voice.sessions() as s:
            q = await tenants_repo.queue(s, contact.tenant_id, contact.queue_id)
        return QueueSettings.of(q, self._voice.config)
