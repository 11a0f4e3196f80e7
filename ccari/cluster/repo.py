"""The leadership row: an election (on the leader's own connection) and the fence."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

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
