"""Engine and session factory; schema migration through Alembic."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from ccari import home
from ccari.storage.models import Base

# What a database that is down, restarting or unreachable raises: SQLAlchemy's errors, the
# socket's, and asyncpg's own at connect time ("the database system is starting up").
# The hot path's raw SQLite writes (storage/fast.py) raise sqlite3's own: locked, read-only,
# disk full or I/O error are its OperationalError.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
    sqlite3.OperationalError)
# Of those, the ones that say "the database is away" rather than "this statement is wrong":
# SQLite locked, unwritable or unopenable (OperationalError), a connection cut or refused, no
# pooled connection in time, a server shutting down or not yet accepting.
_AWAY: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
    sa_exc.DisconnectionError, sqlite3.OperationalError, asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,
    asyncpg.OperatorInterventionError)
_DRIVERS = ("/sqlalchemy/", "/asyncpg/", "/aiosqlite/")


def database_away(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached or written just now (an
    outage the caller may retry), not a bug of the statement.  A bare ``OSError`` counts only
    when it was raised by the database's drivers (a refused connect to PostgreSQL)."""
    if isinstance(exc, _AWAY):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        # asyncpg's errors come wrapped twice: the adapter's, then SQLAlchemy's.
        cause = exc.orig.__cause__ if exc.orig is not None else None
        return exc.connection_invalidated or (cause is not None and database_away(cause))
    if isinstance(exc, OSError):
        tb = exc.__traceback__
        while tb is not None:
            if any(d in tb.tb_frame.f_code.co_filename for d in _DRIVERS):
                return True
            tb = tb.tb_next
    return False


def make_engine(url: str, *, echo: bool = False, busy_timeout_s: float = 15.0) -> AsyncEngine:
    """``busy_timeout_s``: how long a SQLite write waits for a lock another process holds
    before it fails (then HTTP answers 503 ``database-unavailable``, callers the fallback)."""
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
            url, echo=echo, connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
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

        _skip_empty_transaction_ends(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True)


def _skip_empty_transaction_ends(engine: AsyncEngine) -> None:
    """Every session ends its transaction with a rollback or a commit, and aiosqlite runs
    each on its thread: a round trip through the event loop (and a GIL hand-over) even when
    the session only read, which is most of them, and for every shared commit's session.
    sqlite3 knows whether a transaction is open (it begins one only before a write), so
    this engine's dialect ends only those that are; the connection is not in use by
    aiosqlite's thread when a session ends its transaction."""
    dialect = engine.sync_engine.dialect
    rollback, commit = dialect.do_rollback, dialect.do_commit

    def open_transaction(conn) -> bool:  # type: ignore[no-untyped-def]
        raw = getattr(getattr(conn, "driver_connection", None), "_conn", None)
        return raw is None or raw.in_transaction

    def do_rollback(conn) -> None:  # type: ignore[no-untyped-def]
        if open_transaction(conn):
            rollback(conn)

    def do_commit(conn) -> None:  # type: ignore[no-untyped-def]
        if open_transaction(conn):
            commit(conn)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]
    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]


def shown(url: str) -> str:
    """The database URL as a log line may show it: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(home.project_root("migrations") / "migrations"))
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


__all__ = ["Base", "database_away", "make_engine", "make_sessionmaker", "upgrade", "upgrade_async"]
