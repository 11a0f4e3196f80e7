"""Asterisk's dialplan turns calls away while ccari sheds load: the I/O side of
``overload.py``'s :class:`~ccari.voice.overload.LoadMonitor` (its ``shed``).

The dialplan refuses ``CCARI_SHED`` per mille of new calls before Stasis, each with its
tenant's fallback (``CCARI_ANNOUNCE_<slug>``: "1" the "lines busy" announcement, "0" a bare
503 for a tenant whose overflow policy is ``busy``).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ari import AriClient
from ccari.ari.errors import AriError
from ccari.storage.models import Tenant
from ccari.voice.ports import AdmissionPort

log = logging.getLogger(__name__)
# Set in the dialplan with the tenants' fallbacks while ccari sheds load (a reload clears it).
ANNOUNCING = "CCARI_ANNOUNCING"
SHARE = "CCARI_SHED"


class DialplanShed:
    def __init__(self, ari: AriClient, sessions: async_sessionmaker[AsyncSession],
                 admission: AdmissionPort) -> None:
        self._ari = ari
        self._sessions = sessions
        self._admission = admission  # the tenants' overflow policies
        # The tenants' overflow policies the dialplan's fallbacks were last set for.
        self._set_for: dict[int, str] | None = None

    async def shed(self, permille: int) -> bool:
        """Asterisk turns away ``permille`` of new calls before Stasis (the dialplan's
        ``CCARI_SHED``), each with its tenant's fallback (``CCARI_ANNOUNCE_<slug>``).

        The fallbacks are set when the tenants' policies are not those they were set for,
        and checked each time a share is told: a dialplan reload meanwhile (a number
        provisioned) clears every global, and the shed calls would get a bare 503 instead of
        their tenant's announcement.  They are set before the share: a fallback left by an
        earlier process (a policy changed since) must not greet the first calls shed, and
        until the share is set ccari refuses the same calls itself, with the right fallback.
        A share of 0 leaves them in place, so that calls arriving right at the rate cap, the
        share going on and off, cost one check each time.  Each request goes on HTTP of its
        own (``direct``): the requests on ccari's ARI websocket are answered one after the
        other, and under the very load being shed they queue."""
        try:
            if permille:
                policies = self._admission.overflow_policies()
                if (policies != self._set_for
                        or await self._ari.get_global(ANNOUNCING, direct=True) != "1"):
                    await self._set_fallbacks(policies)
                    self._set_for = policies
            await self._ari.set_global(SHARE, str(permille), direct=True)
            return True
        except AriError as exc:
            log.warning("overload: the dialplan cannot turn calls away (%s): ccari does", exc)
            return False

    async def _set_fallbacks(self, policies: dict[int, str]) -> None:
        async with self._sessions() as s:
            slugs = dict((await s.execute(select(Tenant.id, Tenant.slug))).tuples().all())
        await asyncio.gather(*(
            self._ari.set_global(f"CCARI_ANNOUNCE_{slugs[tenant_id]}",
                                 "0" if policy == "busy" else "1", direct=True)
            for tenant_id, policy in policies.items() if tenant_id in slugs))
        await self._ari.set_global(ANNOUNCING, "1", direct=True)
