"""Co-browse sessions and tenant settings, always scoped to one tenant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete as delete_
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.cobrowse.models import CobrowseFrame, CobrowseSession, CobrowseSettings
from ccari.contacts.repo import OPEN_STATES
from ccari.storage.models import Contact

ACTIVE = ("waiting", "linked")


async def get(session: AsyncSession, session_id: str, tenant_id: int) -> CobrowseSession | None:
    return await session.scalar(select(CobrowseSession).where(
        CobrowseSession.id == session_id, CobrowseSession.tenant_id == tenant_id))


async def active_of_customer(session: AsyncSession, tenant_id: int,
                             customer_session: str) -> list[CobrowseSession]:
    return list(await session.scalars(select(CobrowseSession).where(
        CobrowseSession.tenant_id == tenant_id,
        CobrowseSession.customer_session == customer_session,
        CobrowseSession.state.in_(ACTIVE))))


async def codes_in_use(session: AsyncSession, tenant_id: int) -> list[str]:
    return list(await session.scalars(select(CobrowseSession.code).where(
        CobrowseSession.tenant_id == tenant_id, CobrowseSession.state.in_(ACTIVE))))


async def waiting_by_code(session: AsyncSession, tenant_id: int, code: str) -> CobrowseSession | None:
    return await session.scalar(select(CobrowseSession).where(
        CobrowseSession.tenant_id == tenant_id, CobrowseSession.code == code,
        CobrowseSession.state == "waiting"))


async def linked_to(session: AsyncSession, tenant_id: int, contact_id: str) -> CobrowseSession | None:
    return await session.scalar(select(CobrowseSession).where(
        CobrowseSession.tenant_id == tenant_id, CobrowseSession.contact_id == contact_id,
        CobrowseSession.state == "linked"))


async def settings(session: AsyncSession, tenant_id: int) -> CobrowseSettings | None:
    return await session.get(CobrowseSettings, tenant_id)


async def to_end(session: AsyncSession, now: dt.datetime,
                 default_ttl_s: int) -> list[tuple[CobrowseSession, str]]:
    """Sessions that must end now, with why: their contact ended, or their code expired."""
    out: list[tuple[CobrowseSession, str]] = []
    rows = await session.execute(
        select(CobrowseSession, Contact.state)
        .outerjoin(Contact, Contact.id == CobrowseSession.contact_id)
        .where(CobrowseSession.state == "linked",
               or_(Contact.id.is_(None), Contact.state.not_in(OPEN_STATES))))
    out += [(row, "contact-ended") for row, _ in rows.tuples()]
    oldest = now - dt.timedelta(seconds=60)
    waiting = await session.execute(
        select(CobrowseSession, CobrowseSettings.code_ttl_s)
        .outerjoin(CobrowseSettings, CobrowseSettings.tenant_id == CobrowseSession.tenant_id)
        .where(CobrowseSession.state == "waiting", CobrowseSession.created_at < oldest))
    for row, ttl in waiting.tuples():
        if row.created_at + dt.timedelta(seconds=ttl or default_ttl_s) <= now:
            out.append((row, "code-expired"))
    return out


async def add_frame(session: AsyncSession, session_id: str, body: str, now: dt.datetime) -> int:
    frame = CobrowseFrame(session_id=session_id, body=body, created_at=now)
    session.add(frame)
    await session.flush()
    return frame.id


async def take_frame(session: AsyncSession, frame_id: int, *, delete: bool) -> str | None:
    """A frame's body (None: expired), deleted when its reader is the only one."""
    if delete:
        return await session.scalar(delete_(CobrowseFrame).where(CobrowseFrame.id == frame_id)
                                    .returning(CobrowseFrame.body))
    return await session.scalar(select(CobrowseFrame.body).where(CobrowseFrame.id == frame_id))


async def drop_frames(session: AsyncSession, before: dt.datetime) -> None:
    await session.execute(delete_(CobrowseFrame).where(CobrowseFrame.created_at < before))
