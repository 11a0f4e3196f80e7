"""Tables of the edge context, in Kamailio's schemas under ccari's names (imported by
ccari.storage.all_models for Alembic).

Kamailio reads ``edge_dispatcher`` (its dispatcher's ``table_name``, version 4), keeps the
phones' registrations in ``edge_location`` (usrloc, version 9: written through, read back
when Kamailio starts) and checks each table's version in ``edge_version`` (its core
``version_table``).  Column names and types are Kamailio's (its postgres schema).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import REAL, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base

DISPATCHER_TABLE = "edge_dispatcher"
VERSION_TABLE = "edge_version"
DISPATCHER_VERSION = 4  # the dispatcher module's table version (Kamailio 5.x)
LOCATION_TABLE = "edge_location"
LOCATION_VERSION = 9  # usrloc's table version (Kamailio 5.x)
#: The agents' SIP phones that register at the edge (a view over ``agents``, PostgreSQL
#: only: ``username``, ``password``), read by Kamailio's auth_db.
PHONES_VIEW = "edge_phones"


class EdgeDestination(Base):
    """One destination of Kamailio's dispatcher: an Asterisk node (``description`` is the
    ccari node's name) with its attributes (``rweight=N``: its relative weight)."""

    __tablename__ = DISPATCHER_TABLE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    setid: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    destination: Mapped[str] = mapped_column(String(192), default="", server_default="")
    flags: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attrs: Mapped[str] = mapped_column(String(128), default="", server_default="")
    description: Mapped[str] = mapped_column(String(64), default="", server_default="")


class EdgeVersion(Base):
    """Kamailio's table of table versions (for ``edge_dispatcher``)."""

    __tablename__ = VERSION_TABLE
    __table_args__ = (UniqueConstraint("table_name", name="edge_version_table_name_idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32))
    table_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EdgeLocation(Base):
    """A phone's registration at the edge (Kamailio's usrloc ``location`` table): kept across
    a restart of Kamailio, so phones stay reachable without registering again."""

    __tablename__ = LOCATION_TABLE
    __table_args__ = (
        UniqueConstraint("ruid", name="edge_location_ruid_idx"),
        Index("edge_location_account_contact_idx", "username", "domain", "contact"),
        Index("edge_location_expires_idx", "expires"),
        Index("edge_location_connection_idx", "server_id", "connection_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ruid: Mapped[str] = mapped_column(String(64), server_default="")
    username: Mapped[str] = mapped_column(String(64), server_default="")
    domain: Mapped[str | None] = mapped_column(String(64))
    contact: Mapped[str] = mapped_column(String(512), server_default="")
    received: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str | None] = mapped_column(String(512))
    expires: Mapped[dt.datetime] = mapped_column(DateTime(), server_default="2030-05-28 21:32:15")
    q: Mapped[float] = mapped_column(REAL(), server_default="1.0")
    callid: Mapped[str] = mapped_column(String(255), server_default="Default-Call-ID")
    cseq: Mapped[int] = mapped_column(Integer, server_default="1")
    last_modified: Mapped[dt.datetime] = mapped_column(DateTime(),
                                                       server_default="2000-01-01 00:00:01")
    flags: Mapped[int] = mapped_column(Integer, server_default="0")
    cflags: Mapped[int] = mapped_column(Integer, server_default="0")
    user_agent: Mapped[str] = mapped_column(String(255), server_default="")
    socket: Mapped[str | None] = mapped_column(String(64))
    methods: Mapped[int | None] = mapped_column(Integer)
    instance: Mapped[str | None] = mapped_column(String(255))
    reg_id: Mapped[int] = mapped_column(Integer, server_default="0")
    server_id: Mapped[int] = mapped_column(Integer, server_default="0")
    connection_id: Mapped[int] = mapped_column(Integer, server_default="0")
    keepalive: Mapped[int] = mapped_column(Integer, server_default="0")
    partition: Mapped[int] = mapped_column(Integer, server_default="0")
