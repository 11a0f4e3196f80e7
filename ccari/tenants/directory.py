"""What a dialled number leads to (tenant, IVR menu, queue settings, business hours and the
route outside them), cached briefly.

Every inbound call needs it; it changes only when an admin edits numbers, menus or queues,
which then takes effect within ``ttl_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.hours.calendar import Calendar
from ccari.provisioning import hours
from ccari.provisioning.prompts import media_ref
from ccari.storage.models import MAX_IVR_DEPTH, Queue, Tenant
from ccari.tenants import repo
from ccari.voice.calls import QueueSettings
from ccari.voice.ivr import Menu


@dataclass(frozen=True)
class AfterHours:
    """What a call gets outside its number's business hours: ``announcement`` ("we are
    closed", then hang-up), ``voicemail``, or ``queue`` (``queue_id``, without the IVR).
    ``prompt``: the tenant's own prompt the announcement or the voicemail plays first
    (``tenant:<tenant id>/<name>``); None: ccari's."""

    action: str = "announcement"
    queue_id: int | None = None
    settings: QueueSettings | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class NumberRoute:
    tenant_id: int
    number_id: int
    queue_id: int | None
    menu: Menu | None
    settings: QueueSettings
    # The number's own calendar, else its tenant's; None: no hours, never after hours.
    calendar: Calendar | None = None
    after_hours: AfterHours = AfterHours()


class NumberDirectory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], defaults: QueueSettings,
                 *, ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._defaults = defaults
        self._ttl = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, NumberRoute | None]] = {}

    def invalidate(self) -> None:
        self._cache.clear()

    async def route(self, did: str) -> NumberRoute | None:
        did = did.lstrip("+")
        hit = self._cache.get(did)
        now = self._clock()
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._sessions() as s:
            number = await repo.number_by_did(s, did)
            found = None
            if number is not None:
                menu = await repo.menu(s, number.tenant_id, number.ivr_menu_id)
                q = await repo.queue(s, number.tenant_id, number.queue_id)
                d = self._defaults
                tenant = await s.get(Tenant, number.tenant_id)
                found = NumberRoute(
                    number.tenant_id, number.id, q.id if q else None,
                    menu_of(menu) if menu else None,
                    settings_of(q) if q else d,
                    hours.stored(number.hours or (tenant.hours if tenant else None)),
                    await _after_hours(s, number.tenant_id, hours.route_of(
                        number.after_hours, tenant.after_hours if tenant else None)),
                )
        self._cache[did] = (now + self._ttl, found)
        return found


async def _after_hours(s: AsyncSession, tenant_id: int, route: Mapping[str, Any]) -> AfterHours:
    """The stored route; a queue that is gone leaves the announcement."""
    action = str(route.get("action", "announcement"))
    if action != "queue":
        prompt = route.get("prompt")
        return AfterHours(action, prompt=media_ref(tenant_id, prompt) if isinstance(prompt, str)
                          else None)
    q = await s.scalar(select(Queue).where(Queue.tenant_id == tenant_id,
                                           Queue.name == route.get("queue")))
    if q is None:
        return AfterHours()
    return AfterHours("queue", q.id, settings_of(q))


def settings_of(q: Queue) -> QueueSettings:
    return QueueSettings(q.ring_timeout_s, q.wrap_up_s, q.announce_every_s,
                         media_ref(q.tenant_id, q.greeting) if q.greeting else None)


def menu_of(row, depth: int = 1) -> Menu:  # type: ignore[no-untyped-def]
    """The IVR of an ``IvrMenu`` row, its sub-menus included (loaded with it, to
    ``MAX_IVR_DEPTH`` levels: provisioning refuses deeper menus)."""
    return Menu(
        prompt=media_ref(row.tenant_id, row.prompt),
        invalid_prompt=media_ref(row.tenant_id, row.invalid_prompt),
        timeout_s=row.timeout_s,
        max_tries=row.max_tries,
        options={o.digit: dict(o.attributes) for o in row.options},
        default_attributes=dict(row.default_attributes) if row.default_attributes else None,
        actions={o.digit: o.action for o in row.options if o.action},
        labels={o.digit: o.label for o in row.options},
        submenus={o.digit: menu_of(o.submenu, depth + 1) for o in row.options
                  if depth < MAX_IVR_DEPTH and o.submenu_id is not None
                  and o.submenu is not None},
    )
