"""The leadership row: an election (on the leader's own connection) and the fence; the
agent pages each node serves."""

from __future__ import annotations

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ccari.cluster.models import AgentPage

# One advisory lock key per cluster-wide duty ("ccari" in ASCII, then the duty's number).
LOCK_KEYS = {"routing": 0x63636172_6901}

ELECT = """
INSERT INTO cluster_leadership (name, epoch, node, since) VALUES ($1, 1, $2, now())
ON CONFLICT (name) DO UPDATE
SET epoch = cluster_leadership.epoch + 1, node = excluded.node, since = excluded.since
RETURNING epoch
"""


def holds_sync(session: Session, name: str, epoch: int) -> bool:
    """Whether the election of ``epoch`` is still the latest, checked in the caller's
    transaction.  The row stays share-locked until it commits, so a new election (whose
    update waits for it) sees what this transaction wrote, and writes after it see the new
    epoch and are refused."""
    current = session.execute(
        text("SELECT epoch FROM cluster_leadership WHERE name = :name FOR SHARE"),
        {"name": name}).scalar()
    return current == epoch


async def set_page(session: AsyncSession, node: str, agent_id: int, is_open: bool) -> None:
    """Whether ``node`` serves a page of the agent now."""
    await session.execute(delete(AgentPage).where(AgentPage.node == node,
                                                  AgentPage.agent_id == agent_id))
    if is_open:
        session.add(AgentPage(node=node, agent_id=agent_id))


async def forget_node(session: AsyncSession, node: str) -> None:
    """The node (re)starts: the pages it served ended with its previous process."""
    await session.execute(delete(AgentPage).where(AgentPage.node == node))


async def pages_elsewhere(session: AsyncSession, node: str,
                          agent_id: int | None = None) -> dict[int, set[str]]:
    """Agent id -> the other nodes serving a page of hers (one agent's, or everyone's)."""
    query = select(AgentPage.agent_id, AgentPage.node).where(AgentPage.node != node)
    if agent_id is not None:
        query = query.where(AgentPage.agent_id == agent_id)
    found: dict[int, set[str]] = {}
    for agent, other in await session.execute(query):
        found.setdefault(agent, set()).add(other)
    return found
