"""What a dialled number leads to (tenant, IVR menu, queue settings), cached briefly.

Every inbound call needs it; it changes only when an admin edits numbers, menus or queues,
which then takes effect within ``ttl_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.storage.models import MAX_IVR_DEPTH
from ccari.tenants import repo
from ccari.voice.calls import QueueSettings
from ccari.voice.ivr import Menu


@dataclass(frozen=True)
class NumberRoute:
    tenant_id: int
    number_id: int
    queue_id: int | None
    menu: Menu | None
    settings: QueueSettings


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
                found = NumberRoute(
                    number.tenant_id, number.id, q.id if q else None,
                    menu_of(menu) if menu else None,
                    QueueSettings(q.ring_timeout_s, q.wrap_up_s, q.announce_every_s) if q else d,
                )
        self._cache[did] = (now + self._ttl, found)
        return found


def menu_of(row, depth: int = 1) -> Menu:  # type: ignore[no-untyped-def]
    """The IVR of an ``IvrMenu`` row, its sub-menus included (loaded with it, to
    ``MAX_IVR_DEPTH`` levels: provisioning refuses deeper menus)."""
    return Menu(
        prompt=row.prompt,
        invalid_prompt=row.invalid_prompt,
        timeout_s=row.timeout_s,
        max_tries=row.max_tries,
        options={o.digit: dict(o.attributes) for o in row.options},
        default_attributes=dict(row.default_attributes) if row.default_attributes else None,
        actions={o.digit: o.action for o in row.options if o.action},
        submenus={o.digit: menu_of(o.submenu, depth + 1) for o in row.options
                  if depth < MAX_IVR_DEPTH and o.submenu_id is not None
                  and o.submenu is not None},
    )
