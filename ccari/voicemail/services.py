"""Keep a caller's message: a queued contact of medium ``voicemail`` plus its audio.

Implements :class:`ccari.voice.ports.VoicemailPort`.  One transaction saves the voicemail
contact (queued for the call's queue, routed like the caller's calls), its audio and the end
of the call's contact (``completed`` / ``voicemail-left``); only then is it routed, and only
then does the voice path delete the recording from Asterisk.  Agents take it on their page
like an email: the page offer, accept, listen (``ccari.voicemail.http``), complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.contacts.queue_core import utc
from ccari.contacts.services import QueueService
from ccari.crm.entitlements import routing_attributes_for
from ccari.voicemail.models import Voicemail

log = logging.getLogger(__name__)
MEDIUM = "voicemail"


class VoicemailService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: QueueService, *,
                 node: str, min_s: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._queue = queue
        self._node = node
        self._min_s = min_s  # shorter recordings (a hang-up at the beep) are not kept
        self._clock = clock

    async def keep(self, call_contact_id: str, audio: bytes | None, duration_s: float) -> str | None:
        now = utc(self._clock())
        keep = audio is not None and duration_s >= self._min_s
        async with self._sessions() as s:
            call = await contacts_repo.get(s, call_contact_id, for_update=True)
            if call is None or call.state not in contacts_repo.OPEN_STATES:
                return None  # kept already (a replayed event, or the reconcile got there first)
            message = None
            if keep:
                assert audio is not None
                attributes = await routing_attributes_for(s, call.tenant_id, call.customer_id)
                message = await contacts_repo.create(
                    s, tenant_id=call.tenant_id, medium=MEDIUM, state="queued", node=self._node,
                    number_id=call.number_id, queue_id=call.queue_id,
                    caller_number=call.caller_number, caller_name=call.caller_name,
                    customer_id=call.customer_id, arrived_at=now, queued_at=now,
                    attributes=attributes, meta={"call": call.id},
                )
                s.add(Voicemail(id=message.id, tenant_id=call.tenant_id, call_contact_id=call.id,
                                reason=call.meta.get("refused") or (
                                    "after-hours" if "after_hours" in call.meta else "overflow"),
                                duration_s=round(duration_s, 3), audio=audio, created_at=now))
            await contacts_repo.apply(s, call, Fact.SELF_SERVED, at=now, ended_at=now,
                disposition="voicemail-left" if message else "voicemail-empty")
            await s.commit()
        if message is None:
            return None
        log.info("voicemail %s (%.1f s) from %s queued", message.id, duration_s, call.caller_number)
        await self._queue.enqueue(message)
        return message.id

    async def audio(self, tenant_id: int, contact_id: str) -> Voicemail | None:
        async with self._sessions() as s:
            row = await s.get(Voicemail, contact_id)
        return row if row is not None and row.tenant_id == tenant_id else None
