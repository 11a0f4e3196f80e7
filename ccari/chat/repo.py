"""Chat conversations and transcripts, always scoped to a tenant."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.chat.models import ChatMessage, ChatSession
from ccari.contacts.repo import OPEN_STATES
from ccari.storage.models import Agent, Contact


async def conversation(session: AsyncSession, tenant_id: int, contact_id: str,
                       *, for_update: bool = False) -> ChatSession | None:
    query = select(ChatSession).where(ChatSession.contact_id == contact_id,
                                      ChatSession.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def latest(session: AsyncSession, tenant_id: int, session_id: str,
                 *, open_only: bool = False) -> tuple[ChatSession, Contact] | None:
    """The customer session's most recent chat (and its contact), open ones only if asked."""
    query = (select(ChatSession, Contact)
             .join(Contact, Contact.id == ChatSession.contact_id)
             .where(ChatSession.tenant_id == tenant_id, ChatSession.session_id == session_id,
                    Contact.tenant_id == tenant_id)
             .order_by(ChatSession.opened_at.desc()).limit(1))
    if open_only:
        query = query.where(Contact.state.in_(OPEN_STATES))
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def append(session: AsyncSession, chat: ChatSession, sender: str, body: str,
                 at: dt.datetime, agent_id: int | None = None,
                 client_id: str | None = None) -> ChatMessage:
    """Number and add a message (the caller holds the conversation row and commits)."""
    chat.last_seq += 1
    message = ChatMessage(tenant_id=chat.tenant_id, contact_id=chat.contact_id, seq=chat.last_seq,
                          sender=sender, agent_id=agent_id, body=body, at=at,
                          client_id=client_id)
    session.add(chat)
    session.add(message)
    await session.flush()
    return message


async def by_client_id(session: AsyncSession, chat: ChatSession, sender: str,
                       client_id: str) -> ChatMessage | None:
    """The message ``sender``'s page already sent with ``client_id`` (its resend)."""
    return await session.scalar(
        select(ChatMessage).where(ChatMessage.tenant_id == chat.tenant_id,
                                  ChatMessage.contact_id == chat.contact_id,
                                  ChatMessage.sender == sender,
                                  ChatMessage.client_id == client_id).limit(1))


async def transcript(session: AsyncSession, tenant_id: int, contact_id: str,
                     *, after: int = 0, limit: int = 1000) -> list[ChatMessage]:
    return list(await session.scalars(
        select(ChatMessage)
        .where(ChatMessage.tenant_id == tenant_id, ChatMessage.contact_id == contact_id,
               ChatMessage.seq > after)
        .order_by(ChatMessage.seq).limit(limit)))


async def agent_names(session: AsyncSession, tenant_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(Agent.id, Agent.display_name).where(Agent.tenant_id == tenant_id))
    return {agent_id: name for agent_id, name in rows.tuples()}


async def agents_chats(session: AsyncSession, tenant_id: int, agent_id: int) -> list[Contact]:
    """The chats offered to or handled by an agent now (to rebuild a reloaded agent page)."""
    return list(await session.scalars(
        select(Contact)
        .where(Contact.tenant_id == tenant_id, Contact.agent_id == agent_id,
               Contact.medium == "chat", Contact.state.in_(("offered", "connected")))
        .order_by(Contact.arrived_at)))


async def open_chats(session: AsyncSession, node: str) -> list[tuple[ChatSession, Contact]]:
    """Every open chat of this node with its conversation (reconcile after a restart)."""
    rows = await session.execute(
        select(ChatSession, Contact)
        .join(Contact, Contact.id == ChatSession.contact_id)
        .where(Contact.medium == "chat", Contact.node == node, Contact.state.in_(OPEN_STATES)))
    return [(c, k) for c, k in rows.tuples()]


def as_dict(message: ChatMessage, names: dict[int, str]) -> dict[str, Any]:
    """A message as both pages see it (the agent shown by display name only)."""
    out = {"seq": message.seq, "sender": message.sender, "body": message.body,
           "at": message.at.isoformat(),
           "agent": names.get(message.agent_id) if message.agent_id is not None else None}
    if message.client_id is not None:
        out["client_id"] = message.client_id
    return out
