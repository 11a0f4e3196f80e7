"""Tables of the edge context, in Kamailio's dispatcher schema (version 4) under ccari's names
(imported by ccari.storage.all_models for Alembic).

Kamailio reads ``edge_dispatcher`` (its ``table_name``) and checks the table's version in
``edge_version`` (its core ``version_table``).  Column names and types are Kamailio's.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ccari.storage.models import Base

DISPATCHER_TABLE = "edge_dispatcher"
VERSION_TABLE = "edge_version"
DISPATCHER_VERSION = 4  # the dispatcher module's table version (Kamailio 5.x)
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
