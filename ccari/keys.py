"""Typed application keys: how the composition root hands services to the HTTP handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from ccari.agents.commands import AgentCommands
    from ccari.agents.notifier import AgentHub
    from ccari.agents.sessions import PageSessions
    from ccari.config import Config
    from ccari.contacts.services import QueueService
    from ccari.metrics import Metrics
    from ccari.public.origins import Origins
    from ccari.public.tokens import CustomerTokens
    from ccari.web.security import SessionSigner

CONFIG: web.AppKey[Config] = web.AppKey("config")
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions")
QUEUE: web.AppKey[QueueService] = web.AppKey("queue")
HUB: web.AppKey[AgentHub] = web.AppKey("hub")
PAGE_SESSIONS: web.AppKey[PageSessions] = web.AppKey("page_sessions")
SIGNER: web.AppKey[SessionSigner] = web.AppKey("signer")
COMMANDS: web.AppKey[AgentCommands] = web.AppKey("commands")
# Scripts the agent page loads after agent.js, one per medium that adds a pane (chat...).
AGENT_SCRIPTS: web.AppKey[list[str]] = web.AppKey("agent_scripts")
TOKENS: web.AppKey[CustomerTokens] = web.AppKey("customer_tokens")
ORIGINS: web.AppKey[Origins] = web.AppKey("origins")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
