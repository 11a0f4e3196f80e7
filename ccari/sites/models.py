"""The agent legs each ccari node counts, shared with the other nodes of a cluster, and the
media nodes those legs may go out from (imported by ccari.storage.all_models for Alembic).

One row per counted leg while its channel lives, written by the node that placed it: a
site's WAN link is shared by the calls every node places to its agents, and each node's
routing gate and codec choice need them all.  A single node keeps its legs in memory only.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base


class MediaLeg(Base):
    __tablename__ = "media_legs"
    leg_id: Mapped[str] = mapped_column(String(100), primary_key=True)  # its channel id
    placed_by: Mapped[str] = mapped_column(String(64), index=True)  # the ccari node
    tenant_id: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(64))  # the media node (Asterisk) it goes out from
    codec: Mapped[str] = mapped_column(String(16))
    kbps: Mapped[float] = mapped_column(Float)


class MediaNode(Base):
    """A cluster's Asterisk node an agent leg may go out from: where its ``ccari-peer``
    endpoint takes calls and the key it identifies them by (written by the ccari node that
    drives it while its ARI connection is up, deleted when it is lost)."""

    __tablename__ = "media_nodes"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # its Asterisk instance
    node: Mapped[str] = mapped_column(String(64))  # the ccari node driving it
    sip_uri: Mapped[str] = mapped_column(String(192))  # sip:<host>:<port>
    peer_key: Mapped[str] = mapped_column(String(64))
