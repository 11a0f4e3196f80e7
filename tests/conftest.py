"""Shared fixtures: databases on both backends, a config pointing into a temp state dir."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import hypothesis
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ccari.app import Runtime, internal_app, runtime
from ccari.config import Config, DatabaseConfig
from ccari.demo.seed import seed
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.web.openapi import LISTENER
from tests.support.openapi import Conformances
from tests.support.pbx import remove_own_instances
from tests.support.postgres import postgres_server
from tests.support.secret_watch import WATCH as SECRETS
from tests.support.secret_watch import SecretWatch

_counter = itertools.count()
# Property tests are about what comes out, not how fast: no per-example deadline (the suite
# runs on a 2-core box beside a real Asterisk, where one example may wait for the CPU).
hypothesis.settings.register_profile("ccari", deadline=None)
hypothesis.settings.load_profile("ccari")


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


# ---- the demo tenants in a ccari without Asterisk, and a client of its internal app ----------
@pytest.fixture
async def rt(cfg: Config, sessions: Any) -> AsyncIterator[Runtime]:
    """(A test module or directory that needs more sets up its own ``rt``.)"""
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        rt.demo_secrets = sec  # type: ignore[attr-defined]
        yield rt


@pytest.fixture
async def client(rt: Runtime, aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(internal_app(rt))


# ---- every HTTP answer the suite sees is held to the OpenAPI documents -----------------------
@pytest.fixture
def openapi_conformance() -> Iterator[Conformances]:
    """The documents' checks of this test's apps; a violation fails the test at teardown."""
    checks = Conformances()
    yield checks
    assert not checks.violations, "answers the OpenAPI document does not allow:\n" + "\n".join(
        checks.violations)


@pytest.fixture
def aiohttp_client(aiohttp_client: Any, openapi_conformance: Conformances) -> Any:
    async def make(app: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(app, web.Application) and LISTENER in app:
            openapi_conformance.watch(app)
        return await aiohttp_client(app, *args, **kwargs)

    return make


@pytest.fixture
def aiohttp_server(aiohttp_server: Any, openapi_conformance: Conformances) -> Any:
    async def make(app: web.Application, *args: Any, **kwargs: Any) -> Any:
        if LISTENER in app:
            openapi_conformance.watch(app)
        return await aiohttp_server(app, *args, **kwargs)

    return make


# ---- the slow files first ------------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a real-PBX or Chromium test run first, each file's tests kept together and
    in their order: with one worker per core (``./ccari.sh test``) the long scenarios start
    early and the many quick tests fill in at the end, instead of one worker finishing a long
    PBX file alone."""
    slow = {item.path for item in items
            if item.get_closest_marker("pbx") or item.get_closest_marker("browser")
            or "pbx" in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: item.path not in slow)  # stable: order kept within each group


# ---- no secret in any log line ---------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    SECRETS.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    SECRETS.uninstall()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that passed leaves no Asterisk instance of its own behind in the PBX root (one
    that failed keeps them: their logs say what Asterisk saw)."""
    if exitstatus == 0 and not session.testsfailed:
        remove_own_instances()


@pytest.fixture(autouse=True)
def no_secret_in_logs() -> Iterator[SecretWatch]:
    """Fails the test (at teardown, after every other fixture has logged its last) when a
    log record or a ccari process log of the test holds a known secret."""
    SECRETS.start_test()
    yield SECRETS
    leaks = SECRETS.leaks()
    if leaks:
        pytest.fail("secrets in the logs:\n" + "\n".join(leaks), pytrace=False)
