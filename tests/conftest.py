"""Shared fixtures: databases on both backends, a config pointing into a temp state dir."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from ccari.config import Config, DatabaseConfig
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from tests.support.postgres import postgres_server

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


async def _fresh_pg_db(server_url: str) -> str:
    name = f"t{next(_counter)}"
    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: every storage test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/ccari.db"
    else:
        url = await _fresh_pg_db(request.getfixturevalue("pg_server"))
    await upgrade_async(url)
    return url


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[object]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def cfg(tmp_path: Path, db_url: str) -> Config:
    base = Config(state_dir=str(tmp_path / "var"), admin_token="admin-token-for-tests")
    # The SMTP intake is off unless a test turns it on (on a free port).
    return replace(base, database=DatabaseConfig(url=db_url),
                   web=replace(base.web, secret_key="test-secret-key"),
                   smtp=replace(base.smtp, intake_port=0))
