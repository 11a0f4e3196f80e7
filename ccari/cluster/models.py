"""Tables of the cluster context (imported by ccari.storage.all_models for Alembic)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base, utcnow


class Leadership(Base):
    """Who leads a cluster-wide duty (``routing``) and since which election: ``epoch`` grows
    by one at each election, and the leader's writes check it (the fence)."""

    __tablename__ = "cluster_leadership"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    node: Mapped[str] = mapped_column(String(64))
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AgentPage(Base):
    """An agent with a page open on ``node`` (one row per agent and node, whatever the
    number of tabs): which nodes to tell of her offers and states, and whether the router
    may offer her page work."""

    __tablename__ = "cluster_agent_pages"
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(default=utcnow)
