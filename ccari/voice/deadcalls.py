"""Record why a dead call ended (RTP timeout, session timer, the customer's page lost) on its
contact.

The hang-up itself is handled like any other (``VoiceService.channel_gone`` on ``StasisEnd``
ends the contact, frees its trunk and withdraws it from the queue); this only refines the
ended contact's disposition to ``media-timeout`` / ``session-timer-expired`` /
``caller-page-lost`` and logs the cause.  The cause is announced by ``ChannelHangupRequest``
before ``StasisEnd`` (kept here until the channel ends), carried by ``ChannelDestroyed`` when
the app still gets it, or told by ccari itself (:meth:`DeadCalls.page_lost`); see
:mod:`ccari.voice.causes`.  Events of one channel are handled in order (one lane each).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.contacts import repo
from ccari.routing import CALLS
from ccari.storage.models import Contact
from ccari.voice.causes import (
    CALLER_PAGE_LOST,
    Q850,
    dead_call_disposition,
    from_hangup_request,
    replaces,
)

log = logging.getLogger(__name__)

#: Announced dead ends kept at most (a channel whose end never came must not grow this).
_MAX_PENDING = 10_000


class DeadCalls:
    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 now: Callable[[], dt.datetime]) -> None:
        self._sessions = sessions
        self._now = now
        self._pending: dict[str, str] = {}

    def hangup_requested(self, channel_id: str, cause: int | None, soft: bool) -> None:
        disposition = from_hangup_request(cause, soft)
        if disposition is None:
            return
        self._remember(channel_id, disposition)

    def page_lost(self, channel_id: str) -> None:
        """ccari is about to hang up this web call: its page is gone (``caller-page-lost``)."""
        self._remember(channel_id, CALLER_PAGE_LOST)

    def _remember(self, channel_id: str, disposition: str) -> None:
        if len(self._pending) >= _MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        self._pending.setdefault(channel_id, disposition)

    async def channel_ended(self, channel_id: str, cause: int | None = None) -> None:
        """After ``channel_gone``: a dead call's contact gets its disposition and cause."""
        disposition = self._pending.pop(channel_id, None) or dead_call_disposition(cause)
        if disposition is None:
            return
        q850, text = Q850[disposition]
        async with self._sessions() as s:
            contact = await s.scalar(
                select(Contact).where(Contact.channel_id == channel_id, Contact.medium.in_(CALLS))
                .order_by(Contact.arrived_at.desc()).limit(1)
            )
            if contact is None or not replaces(contact.disposition):
                log.debug("channel %s ended dead (%s): no caller-ended contact", channel_id,
                          disposition)
                return
            previous = contact.disposition
            contact.disposition = disposition
            await repo.log(s, contact, disposition, self._now(), cause=q850, cause_txt=text,
                           previous=previous)
            await s.commit()
        log.info("contact %s: dead call, %s (cause %s)", contact.id, disposition, q850)
