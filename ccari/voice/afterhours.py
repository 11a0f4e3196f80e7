"""A call outside its number's business hours takes the number's after-hours route, decided
once, when the call arrives (with the voice service's clock) and never in the normal queue:

* ``announcement``: the contact is saved ``completed`` with disposition ``after-hours``, then
  the caller hears "we are closed" (the ``closed`` prompt, or the tenant's own the route
  names) and ccari hangs up;
* ``voicemail``: the overflow's voicemail treatment, with the ``closed-voicemail`` prompt (or
  the tenant's own)
  (the message is kept for the number's queue, the call ends ``voicemail-left``);
* ``queue``: the call waits in the route's queue, without the number's IVR.

The call holds its trunk until its channel is gone, like any admitted call: outside business
hours the tenant's after-hours trunks T count (``ccari.admission``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from ccari.ari import AriClient, ids
from ccari.ari.errors import AriError
from ccari.ari.ids import Kind
from ccari.contacts import repo
from ccari.contacts.lifecycle import Fact, State
from ccari.hours.calendar import is_open
from ccari.storage.batch import GroupCommit
from ccari.storage.models import Contact
from ccari.tenants.directory import NumberRoute
from ccari.voice.calls import Call
from ccari.voice.hold import safe

log = logging.getLogger(__name__)
DISPOSITION = "after-hours"
CLOSED = "closed"  # the call's phase while it hears the announcement
PROMPTS = {"announcement": "closed", "voicemail": "closed-voicemail"}


def after_hours(route: NumberRoute, now: dt.datetime) -> bool | None:
    """Is the number outside its business hours now?  None: it has none."""
    return None if route.calendar is None else not is_open(route.calendar, now)


def closed_announced(s: Session, *, contact_id: str, at: dt.datetime) -> Contact | None:
    """The call's contact ends here: completed, with disposition ``after-hours``."""
    contact = repo.get_sync(s, contact_id)
    if contact is None or contact.state != State.IVR:
        return None
    return repo.apply_sync(s, contact, Fact.SELF_SERVED, at=at, ended_at=at,
                           disposition=DISPOSITION)


class Announcement:
    """The ``announcement`` route on one answered call (under the call's lock)."""

    def __init__(self, ari: AriClient, writes: GroupCommit, sound: Callable[[str], str],
                 now: Callable[[], dt.datetime]) -> None:
        self._ari = ari
        self._writes = writes
        self._sound = sound
        self._now = now

    async def start(self, call: Call) -> None:
        """Saved first, then told: the contact is completed before the caller hears it."""
        await self._writes.run(lambda s: closed_announced(s, contact_id=call.contact_id,
                                                          at=self._now()))
        call.phase = CLOSED
        log.info("contact %s: after hours, announcement", call.contact_id)
        call.playback_id = ids.make(Kind.ANNOUNCEMENT, call.contact_id, CLOSED)
        try:
            await self._ari.play(call.channel_id,
                                 self._sound(call.closed_prompt or PROMPTS["announcement"]),
                                 playback_id=call.playback_id)
        except AriError as exc:
            log.info("contact %s: closed announcement failed (%s)", call.contact_id, exc)
            await self.finished(call)

    async def finished(self, call: Call) -> None:
        """The announcement was played: hang up (the hang-up frees the trunk)."""
        call.playback_id = None
        await safe(self._ari.hangup(call.channel_id, reason="normal"))
