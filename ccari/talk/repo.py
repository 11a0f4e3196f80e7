"""What a customer's call from the page is related to, found from the customer's own
browser session (never from ids the page sends): the session's chat and co-browsing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.chat.models import ChatSession
from ccari.cobrowse.models import CobrowseSession


async def related(session: AsyncSession, tenant_id: int,
                  session_id: str) -> tuple[str | None, str | None]:
    """(the session's latest chat contact, its co-browsing session not ended), each or None."""
    chat = await session.scalar(
        select(ChatSession.contact_id)
        .where(ChatSession.tenant_id == tenant_id, ChatSession.session_id == session_id)
        .order_by(ChatSession.opened_at.desc()).limit(1))
    cobrowse = await session.scalar(
        select(CobrowseSession.id)
        .where(CobrowseSession.tenant_id == tenant_id,
               CobrowseSession.customer_session == session_id,
               CobrowseSession.ended_at.is_(None))
        .order_by(CobrowseSession.created_at.desc()).limit(1))
    return chat, cobrowse
