"""The customers (the CRM record the screen pop shows), shared by the REST API, the admin
pages and ``ccari admin customers``.

Every change runs in one transaction with its audit entry (``kind`` customer, ``key`` its
id; who, when, before and after).  A phone number belongs to one customer of a tenant
(``409 phone-taken``); another tenant's customer is ``404 customer-not-found`` like one that
does not exist.  An import is all or nothing: every row is checked, against the file and the
database, before the first is written (:class:`ImportRefused` names each bad row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.crm import csvcodec
from ccari.crm.csvcodec import RowError
from ccari.crm.schemas import CustomerSpec, normalise
from ccari.errors import CcariError, Conflict, NotFound
from ccari.provisioning.models import AuditEntry
from ccari.storage.models import Customer, CustomerPhone, Tenant


class ImportRefused(CcariError):
    """Some rows of the CSV cannot be taken: nothing was imported."""

    error_id = "bad-csv"
    status = 422

    def __init__(self, errors: list[RowError]) -> None:
        shown = "; ".join(f"row {e.row}: {e.error}: {e.message}" for e in errors[:20])
        super().__init__(f"{len(errors)} bad row(s), nothing imported: {shown}")
        self.errors = errors


def view(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "email": c.email,
            "phones": sorted(p.number for p in c.phones),
            "entitlements": [{"service": e["service"], "level": e["level"]}
                             for e in c.entitlements or []]}


def spec_of(c: Customer) -> CustomerSpec:
    return CustomerSpec(c.name, c.email, tuple(sorted(p.number for p in c.phones)),
                        tuple((e["service"], e["level"]) for e in c.entitlements or []))


def _like(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


@dataclass
class _Index:
    """The tenant's phones and emails -> customer id (what an import matches on)."""

    phones: dict[str, int]
    emails: dict[str, int]


class Customers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # ---- reading --------------------------------------------------------------------------
    async def search(self, tenant_id: int, q: str = "", limit: int = 100,
                     offset: int = 0) -> dict[str, Any]:
        """Customers whose name, email or phone contains ``q``, by name."""
        where = [Customer.tenant_id == tenant_id]
        q = q.strip()
        if q:
            matches = [Customer.name.ilike(_like(q), escape="\\"),
                       Customer.email.ilike(_like(q), escape="\\")]
            # A phone: the digits as typed anywhere in a number, or the whole number as
            # the caller would dial it ("(415) 555-0100" finds 14155550100).
            digits, e164 = re.sub(r"\D", "", q), normalise(q)
            if len(digits) >= 3:
                matches.append(Customer.id.in_(
                    select(CustomerPhone.customer_id).where(
                        CustomerPhone.tenant_id == tenant_id,
                        or_(CustomerPhone.number.like(_like(digits), escape="\\"),
                            CustomerPhone.number == (e164 or digits)))))
            where.append(or_(*matches))
        async with self._sessions() as s:
            total = await s.scalar(select(func.count()).select_from(Customer).where(*where))
            rows = await s.scalars(select(Customer).where(*where)
                                   .order_by(Customer.name, Customer.id).limit(limit).offset(offset))
            return {"customers": [view(c) for c in rows], "total": total or 0}

    async def get(self, tenant_id: int, customer_id: int) -> dict[str, Any]:
        async with self._sessions() as s:
            return view(await _customer(s, tenant_id, customer_id))

    async def export(self, tenant_id: int) -> str:
        async with self._sessions() as s:
            rows = await s.scalars(select(Customer).where(Customer.tenant_id == tenant_id)
                                   .order_by(Customer.name, Customer.id))
            return csvcodec.encode(spec_of(c) for c in rows)

    # ---- changing -------------------------------------------------------------------------
    async def create(self, actor: str, tenant_id: int, spec: CustomerSpec) -> dict[str, Any]:
        async with self._sessions() as s:
            c = await create_in(s, actor, await _tenant(s, tenant_id), spec)
            await s.commit()
            return view(c)

    async def update(self, actor: str, tenant_id: int, customer_id: int,
                     spec: CustomerSpec) -> dict[str, Any]:
        async with self._sessions() as s:
            t = await _tenant(s, tenant_id)
            c = await _customer(s, tenant_id, customer_id)
            await _phones_free(s, tenant_id, spec.phones, c.id)
            before = view(c)
            await _write(s, t, c, spec)
            if view(c) != before:
                _audit(s, actor, t, c, "update", before, view(c))
            await s.commit()
            return view(c)

    async def delete(self, actor: str, tenant_id: int, customer_id: int) -> None:
        async with self._sessions() as s:
            t = await _tenant(s, tenant_id)
            c = await _customer(s, tenant_id, customer_id)
            _audit(s, actor, t, c, "delete", view(c), None)
            await s.delete(c)
            await s.commit()

    async def import_csv(self, actor: str, tenant_id: int, text: str) -> dict[str, int]:
        """Create or update (matched by a phone, else the email) every row, or none."""
        rows, errors = csvcodec.decode(text)
        async with self._sessions() as s:
            t = await _tenant(s, tenant_id)
            index = await _index(s, tenant_id)
            plan: list[tuple[int, int | None, CustomerSpec]] = []
            for n, spec in rows:
                ids = {index.phones[p] for p in spec.phones if p in index.phones}
                if len(ids) > 1:
                    errors.append(RowError(n, "phone-taken", "its phones belong to "
                                           f"{len(ids)} different customers"))
                    continue
                if not ids and spec.email and spec.email.lower() in index.emails:
                    ids = {index.emails[spec.email.lower()]}
                plan.append((n, next(iter(ids), None), spec))
            matched = [cid for _, cid, _ in plan if cid is not None]
            if len(set(matched)) != len(matched):
                twice = {cid for cid in matched if matched.count(cid) > 1}
                errors += [RowError(n, "duplicate-row", f"matches customer {cid} as another row does")
                           for n, cid, _ in plan if cid in twice]
            if errors:
                raise ImportRefused(sorted(errors, key=lambda e: e.row))
            existing = {c.id: c for c in await s.scalars(
                select(Customer).where(Customer.id.in_(matched)))}
            created = updated = 0
            for _, cid, spec in plan:
                c = existing.get(cid) if cid is not None else None
                before = view(c) if c is not None else None
                c = await _write(s, t, c, spec)
                if before is None:
                    created += 1
                    _audit(s, actor, t, c, "create", None, view(c))
                elif view(c) != before:
                    updated += 1
                    _audit(s, actor, t, c, "update", before, view(c))
            await s.commit()
        return {"created": created, "updated": updated, "unchanged": len(plan) - created - updated}


# ---- in the change's transaction ----------------------------------------------------------
async def create_in(s: AsyncSession, actor: str, t: Tenant, spec: CustomerSpec) -> Customer:
    """A new customer in ``s`` (committed by the caller), checked and audited."""
    await _phones_free(s, t.id, spec.phones, None)
    c = await _write(s, t, None, spec)
    _audit(s, actor, t, c, "create", None, view(c))
    return c


async def _tenant(s: AsyncSession, tenant_id: int) -> Tenant:
    t = await s.get(Tenant, tenant_id)
    if t is None:
        raise NotFound("no such tenant", error_id="tenant-not-found")
    return t


async def _customer(s: AsyncSession, tenant_id: int, customer_id: int) -> Customer:
    c = await s.scalar(select(Customer).where(Customer.id == customer_id,
                                              Customer.tenant_id == tenant_id))
    if c is None:
        raise NotFound(f"no customer {customer_id}", error_id="customer-not-found")
    return c


async def _phones_free(s: AsyncSession, tenant_id: int, phones: tuple[str, ...],
                       owner: int | None) -> None:
    if not phones:
        return
    taken = await s.scalar(select(CustomerPhone.number).where(
        CustomerPhone.tenant_id == tenant_id, CustomerPhone.number.in_(phones),
        CustomerPhone.customer_id != (owner or 0)).limit(1))
    if taken is not None:
        raise Conflict(f"+{taken} is another customer's number", error_id="phone-taken")


async def _index(s: AsyncSession, tenant_id: int) -> _Index:
    phones = await s.execute(select(CustomerPhone.number, CustomerPhone.customer_id)
                             .where(CustomerPhone.tenant_id == tenant_id))
    emails = await s.execute(select(Customer.email, Customer.id)
                             .where(Customer.tenant_id == tenant_id, Customer.email.is_not(None))
                             .order_by(Customer.id.desc()))
    return _Index({n: cid for n, cid in phones},
                  {str(e).lower(): cid for e, cid in emails})


async def _write(s: AsyncSession, t: Tenant, c: Customer | None, spec: CustomerSpec) -> Customer:
    """The customer as the spec says; its phones by difference (a kept number keeps its row,
    so the (tenant, number) key never sees it twice)."""
    if c is None:
        c = Customer(tenant_id=t.id, phones=[], tickets=[])
        s.add(c)
    c.name, c.email, c.entitlements = spec.name, spec.email, spec.entitlements_json()
    keep = set(spec.phones)
    c.phones = [p for p in c.phones if p.number in keep]
    have = {p.number for p in c.phones}
    c.phones += [CustomerPhone(tenant_id=t.id, number=n) for n in spec.phones if n not in have]
    await s.flush()
    return c


def _audit(s: AsyncSession, actor: str, t: Tenant, c: Customer, action: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    s.add(AuditEntry(actor=actor, tenant_id=t.id, tenant=t.slug, kind="customer", key=str(c.id),
                     action=action, before=before, after=after))
