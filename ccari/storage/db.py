"""Engine and session factory; schema migration through Alembic."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from ccari.storage.models import Base

ROOT = Path(__file__).resolve().parents[2]


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer: several pooled connections would contend on its file lock
        # and its busy handler sleeps (up to 100 ms a try).  One connection serialises the
        # sessions in-process instead; no code path may hold a session while opening another.
        engine = create_async_engine(
            # check_same_thread: the group commit (storage/batch.py) runs its batches on
            # this connection from the event loop while it holds it checked out.
            url, echo=echo, connect_args={"timeout": 15, "check_same_thread": False},
            pool_size=1, max_overflow=0,
            pool_timeout=60,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (synchronous; run before the service starts).

    ``heads``: each bounded context may add its tables in a revision of its own off the
    common trunk; merge revisions join them when the order starts to matter."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)


__all__ = ["Base", "make_engine", "make_sessionmaker", "upgrade", "upgrade_async"]
