"""The database away: HTTP answers 503 ``database-unavailable`` with Retry-After (never a 500
or a traceback), and ccari serves again by itself once it is back, with every acknowledged
request kept.  On SQLite locked by another process, and on PostgreSQL stopped (a private
cluster of the test, ``pg_ctl stop -m immediate`` then started again on the same port)."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from bench._faults import Postgres
from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.callbacks.models import Callback
from ccari.config import Config, DatabaseConfig
from ccari.demo.seed import seed
from ccari.storage.db import database_away, make_engine, make_sessionmaker, upgrade_async
from ccari.tenants import repo as tenants_repo
from tests.support.unwritable import unwritable
from tests.support.waits import eventually

ORIGIN = "http://127.0.0.1:8081"  # the demo tenants' allowed site
WEEK_AHEAD = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()


@dataclass
class Served:
    rt: Runtime
    public: TestClient
    internal: TestClient
    customer: dict[str, str]
    tenant: dict[str, str]
    acked: list[str]

    async def callback(self, n: int) -> Any:
        """A callback request a week ahead (stored, not dialled); its id kept when acked."""
        resp = await self.public.post("/v1/callbacks", headers=self.customer, json={
            "phone": f"+1201555{n:04d}", "when": WEEK_AHEAD})
        if resp.status == 201:
            self.acked.append((await resp.json())["id"])
        return resp

    async def kept(self) -> set[str]:
        async with self.rt.sessions() as s:
            return set(await s.scalars(select(Callback.id).where(Callback.id.in_(self.acked))))


@asynccontextmanager
async def served(url: str, tmp: Path, aiohttp_client: Any, **db: Any) -> AsyncIterator[Served]:
    base = Config(state_dir=str(tmp / "var"), admin_token="admin-token-for-tests")
    cfg = replace(base, database=DatabaseConfig(url=url, **db),
                  web=replace(base.web, secret_key="test-secret-key"),
                  smtp=replace(base.smtp, intake_port=0))
    await upgrade_async(url)
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        secrets = await seed(s, cfg)
        await s.commit()
    await engine.dispose()
    async with runtime(cfg, with_pbx=False) as rt:
        async with rt.sessions() as s:
            acme = await tenants_repo.by_slug(s, "acme")
        token, _ = rt.tokens.issue(acme.id)
        yield Served(rt, await aiohttp_client(public_app(rt)),
                     await aiohttp_client(internal_app(rt)),
                     {"Authorization": f"Bearer {token}", "Origin": ORIGIN},
                     {"Authorization": f"Bearer {secrets['acme.token']}"}, [])


async def unavailable(resp: Any) -> None:
    assert resp.status == 503, await resp.text()
    assert await resp.json() == {"error": "database-unavailable",
                                 "message": "the database is unavailable; try again shortly"}
    assert resp.headers["Retry-After"] == "5"


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [r.getMessage() for r in logged]


async def test_sqlite_locked_by_another_process_answers_503_and_serves_again(
        tmp_path: Path, aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ccari.db"
    async with served(f"sqlite+aiosqlite:///{path}", tmp_path, aiohttp_client,
                      busy_timeout_s=0.5) as w:
        assert (await w.callback(1)).status == 201
        lock = sqlite3.connect(path, isolation_level=None)  # e.g. a backup tool's write lock
        lock.execute("BEGIN EXCLUSIVE")
        try:
            caplog.clear()
            for n in (2, 3):
                await unavailable(await w.callback(n))
            # Reads go on under another's write lock (WAL): the callbacks stay listed.
            listed = await w.internal.get("/api/callbacks", headers=w.tenant)
            assert listed.status == 200, await listed.text()
            no_traceback(caplog)
        finally:
            lock.rollback()
            lock.close()
        assert (await w.callback(4)).status == 201  # no restart: the next write is stored
        assert await w.kept() == set(w.acked) and len(w.acked) == 2


async def test_sqlite_file_made_read_only_answers_503_and_serves_again(
        tmp_path: Path, aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The database file and its directory unwritable while ccari runs (a file system gone
    read-only, a wrong restore): writes answer 503, reads go on, and the next write once it
    is writable again is stored."""
    path = tmp_path / "db" / "ccari.db"
    path.parent.mkdir()
    async with served(f"sqlite+aiosqlite:///{path}", tmp_path, aiohttp_client) as w:
        assert (await w.callback(1)).status == 201
        with unwritable(path):
            caplog.clear()
            for n in (2, 3):
                await unavailable(await w.callback(n))
            listed = await w.internal.get("/api/callbacks", headers=w.tenant)
            assert listed.status == 200, await listed.text()
            no_traceback(caplog)
        assert (await w.callback(4)).status == 201  # no restart: the next write is stored
        assert await w.kept() == set(w.acked) and len(w.acked) == 2


@pytest.mark.timeout(120)
async def test_postgres_stopped_answers_503_and_serves_again_when_back(
        tmp_path: Path, aiohttp_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    pg = Postgres()
    pg.init()
    try:
        async with served(pg.url, tmp_path, aiohttp_client) as w:
            assert (await w.callback(1)).status == 201
            pg.stop()  # immediate: the pooled connections are cut, as by a crash
            caplog.clear()
            await unavailable(await w.callback(2))
            await unavailable(await w.internal.get("/api/callbacks", headers=w.tenant))
            no_traceback(caplog)
            pg.start()

            async def stored() -> bool:
                return (await w.callback(3)).status == 201

            await eventually(stored, 30, "a callback request to be stored again")
            listed = await w.internal.get("/api/callbacks", headers=w.tenant)
            assert listed.status == 200, await listed.text()
            assert await w.kept() == set(w.acked) and len(w.acked) == 2
    finally:
        pg.destroy()


def _raised_by(path: str, exc: BaseException) -> BaseException:
    """``exc`` as raised by code in a file at ``path`` (a driver's, or ccari's own)."""
    code = compile("raise exc", path, "exec")
    try:
        exec(code, {"exc": exc})
    except BaseException as caught:  # noqa: BLE001 - the traceback is what is wanted
        return caught
    raise AssertionError("not raised")


def _wrapped(cause: BaseException) -> Exception:
    """A driver error as asyncpg's SQLAlchemy adapter raises it: its own, from asyncpg's."""
    adapted = Exception(str(cause))
    adapted.__cause__ = cause
    return adapted


@pytest.mark.parametrize(("exc", "away"), [
    (sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")), True),
    (sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error")), True),
    (sa_exc.TimeoutError("QueuePool limit reached"), True),
    (sqlite3.OperationalError("database is locked"), True),  # the hot path's raw writes
    (sa_exc.InterfaceError("SELECT", {}, Exception("connection is closed")), True),
    (asyncpg.CannotConnectNowError("the database system is starting up"), True),
    (sa_exc.DBAPIError("SELECT", {}, _wrapped(asyncpg.CannotConnectNowError("shutting down"))),
     True),
    (sa_exc.DBAPIError("SELECT", {}, _wrapped(asyncpg.UniqueViolationError("dup"))), False),
    (_raised_by("/venv/site-packages/asyncpg/connect_utils.py", ConnectionRefusedError()), True),
    # Bugs stay 500s: a constraint, a bad statement, an OSError of ccari's own (a full disk).
    (sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE failed")), False),
    (sa_exc.ProgrammingError("SELECT", {}, Exception("syntax error")), False),
    (_raised_by("/srv/ccari/ccari/fax/store.py", OSError(28, "No space left on device")), False),
    (ValueError("bad"), False),
])
def test_database_away_tells_an_outage_from_a_bug(exc: BaseException, away: bool) -> None:
    assert database_away(exc) is away
