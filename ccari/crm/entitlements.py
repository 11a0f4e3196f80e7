"""A customer's entitlements: the local record, or the tenant's own system over HTTP.

Per tenant (:class:`EntitlementSource`): a URL template such as
``https://crm.acme.example/entitlements?phone={phone}`` (placeholders ``customer_id``,
``phone``, ``email``, URL-quoted), a timeout and a cache lifetime.  The tenant's system
answers ``[{"service": "broadband", "level": "gold"}, ...]`` (or ``{"entitlements": [...]}``).
Any failure (timeout, HTTP error, bad body) falls back to the local record, so a screen pop
or a routing decision never waits longer than the timeout and never fails because of it.

An entitlement level can be a required routing attribute: with ``routing_levels=["gold"]``
a gold customer's contact requires ``{"tier": "gold"}`` (``routing_attribute``), so it is
only offered to agents with that skill.
"""

from __future__ import annotations

import json
import logging
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ccari.agents.commands import Command, field
from ccari.contacts import repo as contacts_repo
from ccari.crm.models import EntitlementSource
from ccari.crm.reach import Reach
from ccari.errors import BadRequest, NotFound
from ccari.storage.models import Agent, Customer

log = logging.getLogger(__name__)
PLACEHOLDERS = frozenset({"customer_id", "phone", "email"})
MAX_BODY = 256 * 1024
MAX_ITEMS = 50
MAX_TIMEOUT_S = 10.0


# ---- pure core ----------------------------------------------------------------------------
def check_template(template: str, reach: Reach | None = None) -> str:
    """The template if it is an http(s) URL using only known placeholders (and, with
    ``reach``, no address written in it that ccari may not fetch)."""
    if urlsplit(template).scheme not in ("http", "https") or not urlsplit(template).netloc:
        raise BadRequest("the URL template must be an http(s) URL", error_id="bad-url-template")
    why = reach.refusal(template) if reach is not None else None
    if why is not None:
        raise BadRequest(f"the URL template's host: {why} (crm.lookup_networks)",
                         error_id="bad-url-template")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        raise BadRequest("unbalanced braces in the URL template", error_id="bad-url-template") from None
    if names - PLACEHOLDERS:
        raise BadRequest(f"unknown placeholders {sorted(names - PLACEHOLDERS)}; use "
                         f"{sorted(PLACEHOLDERS)}", error_id="bad-url-template")
    return template


def render_url(template: str, customer: Customer) -> str:
    phones = [p.number for p in customer.phones]
    values = {"customer_id": str(customer.id), "phone": phones[0] if phones else "",
              "email": customer.email or ""}
    return template.format_map({k: quote(v, safe="") for k, v in values.items()})


def parse_entitlements(data: Any) -> list[dict[str, str]]:
    """The tenant system's answer as a list of flat string maps (ValueError when malformed)."""
    if isinstance(data, dict):
        data = data.get("entitlements")
    if not isinstance(data, list) or len(data) > MAX_ITEMS:
        raise ValueError("expected a list of entitlements")
    out = []
    for item in data:
        if not isinstance(item, dict) or len(item) > 20:
            raise ValueError("an entitlement must be an object")
        out.append({str(k)[:64]: str(v)[:200] for k, v in item.items()
                    if isinstance(v, str | int | float | bool)})
    return out


def routing_attributes(entitlements: Sequence[dict[str, Any]], levels: Sequence[str],
                       attribute: str) -> dict[str, str]:
    """``{attribute: level}`` for the first of ``levels`` the customer holds, else ``{}``."""
    held = {str(e.get("level")) for e in entitlements if isinstance(e, dict)}
    for level in levels:
        if str(level) in held:
            return {attribute: str(level)}
    return {}


def local(customer: Customer | None) -> list[dict[str, str]]:
    if customer is None:
        return []
    try:
        return parse_entitlements(list(customer.entitlements or []))
    except ValueError:
        return []


# ---- the lookup service ---------------------------------------------------------------------
@dataclass(frozen=True)
class Entitlements:
    items: list[dict[str, str]]
    source: str  # "tenant" (its system), "local" (no system configured), "fallback"


class EntitlementLookup:
    """One per process (built by the composition root); caches answers per customer."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], http: aiohttp.ClientSession,
                 *, reach: Reach | None = None, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 10_000, source_ttl_s: float = 10.0) -> None:
        """``http`` resolves names through :class:`ReachResolver` of the same ``reach``
        (the composition root's); ``reach`` None: every address (a test's own client)."""
        self._sessions = sessions
        self._http = http
        self.reach = reach
        self._clock = clock
        self._max = max_entries
        self._source_ttl = source_ttl_s
        self._sources: dict[int, tuple[float, EntitlementSource | None]] = {}
        self._cache: dict[tuple[int, int], tuple[float, list[dict[str, str]]]] = {}
        self.requests = 0  # calls made to tenants' systems (for tests and metrics)

    def invalidate(self, tenant_id: int) -> None:
        self._sources.pop(tenant_id, None)
        for key in [k for k in self._cache if k[0] == tenant_id]:
            del self._cache[key]

    async def source(self, tenant_id: int) -> EntitlementSource | None:
        hit = self._sources.get(tenant_id)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        async with self._sessions() as s:
            row = await s.get(EntitlementSource, tenant_id)
        self._sources[tenant_id] = (self._clock() + self._source_ttl, row)
        return row

    async def lookup(self, tenant_id: int, customer: Customer | None,
                     source: EntitlementSource | None = None) -> Entitlements:
        """Better not hold a database session while calling this: it may wait for the
        tenant's system.  ``source``: the tenant's row when the caller has it already."""
        if customer is None or customer.tenant_id != tenant_id:
            return Entitlements([], "local")
        src = source if source is not None and source.tenant_id == tenant_id else await self.source(tenant_id)
        if src is None or not src.url_template:
            return Entitlements(local(customer), "local")
        key = (tenant_id, customer.id)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock():
            return Entitlements(hit[1], "tenant")
        try:
            items = await self._fetch(src, customer)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("entitlements of customer %s from tenant %s's system failed (%s: %s): "
                        "using the local record", customer.id, tenant_id, type(exc).__name__, exc)
            return Entitlements(local(customer), "fallback")
        if src.cache_ttl_s > 0:
            if len(self._cache) >= self._max:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = (self._clock() + src.cache_ttl_s, items)
        return Entitlements(items, "tenant")

    async def _fetch(self, src: EntitlementSource, customer: Customer) -> list[dict[str, str]]:
        url = render_url(str(src.url_template), customer)
        why = self.reach.refusal(url) if self.reach is not None else None
        if why is not None:
            raise ValueError(why)
        headers = {"Accept": "application/json"}
        if src.auth_header:
            headers["Authorization"] = src.auth_header
        self.requests += 1
        timeout = aiohttp.ClientTimeout(total=min(max(src.timeout_s, 0.05), MAX_TIMEOUT_S))
        async with self._http.get(url, headers=headers, timeout=timeout,
                                  allow_redirects=False) as resp:
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}")
            body = await resp.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise ValueError("answer too large")
        return parse_entitlements(json.loads(body))


async def routing_attributes_for(session: AsyncSession, tenant_id: int,
                                 customer: Customer | int | None,
                                 lookup: EntitlementLookup | None = None) -> dict[str, str]:
    """Required routing attributes a contact gets from its customer's entitlements, e.g.
    ``{"tier": "gold"}``; ``{}`` when the tenant routes no level or there is no customer.

    Without ``lookup`` the local record decides (safe inside a database session); with it
    the tenant's system does, which may wait up to the tenant's timeout."""
    row: Customer | None
    if isinstance(customer, int):
        row = await session.scalar(
            select(Customer).where(Customer.id == customer, Customer.tenant_id == tenant_id))
    else:
        row = customer
    if row is None or row.tenant_id != tenant_id:
        return {}
    src = await session.get(EntitlementSource, tenant_id)
    if src is None or not src.routing_levels:
        return {}
    items = (await lookup.lookup(tenant_id, row, src)).items if lookup else local(row)
    return routing_attributes(items, [str(x) for x in src.routing_levels], src.routing_attribute)


def local_routing_attributes(session: Session, tenant_id: int,
                             customer_id: int | None) -> dict[str, str]:
    """:func:`routing_attributes_for` from the local record, on a synchronous session (the
    hot path's shared commits)."""
    if customer_id is None:
        return {}
    row = session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.tenant_id == tenant_id))
    src = session.get(EntitlementSource, tenant_id) if row is not None else None
    if row is None or src is None or not src.routing_levels:
        return {}
    return routing_attributes(local(row), [str(x) for x in src.routing_levels],
                              src.routing_attribute)


def entitlements_command(sessions: async_sessionmaker[AsyncSession],
                         lookup: EntitlementLookup) -> Command:
    """``{"type": "entitlements.get", "contact_id": ...}`` from the agent page, for a
    contact offered to or handled by that agent: the tenant system's answer, which the page
    shows in place of the local record of the screen pop."""

    async def handler(agent: Agent, msg: dict[str, Any]) -> dict[str, Any]:
        contact_id = field(msg, "contact_id")
        async with sessions() as s:
            contact = await contacts_repo.get(s, contact_id, agent.tenant_id)
            if contact is None or contact.agent_id != agent.id:
                raise NotFound("no such contact for you", error_id="contact-not-found")
            customer = None
            if contact.customer_id is not None:
                customer = await s.scalar(select(Customer).where(
                    Customer.id == contact.customer_id, Customer.tenant_id == agent.tenant_id))
        found = await lookup.lookup(agent.tenant_id, customer)
        return {"type": "entitlements", "contact_id": contact_id, "entitlements": found.items,
                "source": found.source}

    return handler


async def seed_demo(session: AsyncSession, tenant_id: int) -> None:
    """Demo: gold customers of ``tenant_id`` are served by agents with the skill tier=gold
    (no HTTP system: the local record).  Idempotent; the caller commits."""
    if await session.get(EntitlementSource, tenant_id) is None:
        session.add(EntitlementSource(tenant_id=tenant_id, url_template=None, timeout_s=2.0,
                                      cache_ttl_s=300, routing_attribute="tier",
                                      routing_levels=["gold"]))
