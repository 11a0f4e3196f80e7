"""Two ccari nodes without a PBX on one fresh PostgreSQL database, cluster on, each serving
its internal and public apps on aiohttp test servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from asyncpg import connect as pg_connect  # (not a test's stand-in for asyncpg.connect)

from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.cluster.postgres import dsn_of
from ccari.config import ClusterConfig, Config, DatabaseConfig
from ccari.demo.seed import seed
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from tests.conftest import _fresh_pg_db
from tests.support.agent_web import AgentPage, open_agent_page
from tests.support.waits import eventually

CHECK_S = 0.2
NODE_TIMEOUT_S = 1.0


@dataclass
class Node:
    name: str
    rt: Runtime
    public: TestClient
    internal: TestClient
    demo: dict[str, Any]
    pages: list[AgentPage] = field(default_factory=list)

    async def close_pages(self) -> None:
        for page in self.pages:
            await page.close()

    async def agent(self, tenant: str, user: str, *, ready: bool = True) -> AgentPage:
        """That agent's page open on this node (ready: her presence set ready)."""
        page = await open_agent_page(str(self.internal.make_url("")), tenant, user,
                                     self.demo[f"{tenant}.{user}.web"])
        self.pages.append(page)
        if ready:
            await page.presence("ready")
        return page


async def eventually_true(check: Callable[[], bool], what: str = "condition") -> None:
    async def now() -> bool:
        return check()

    await eventually(now, timeout=10.0, what=what)


async def cut(connection: asyncpg.Connection | None, url: str) -> None:
    """The server ends ``connection`` (as when a node's link or process dies)."""
    assert connection is not None
    pid = connection.get_server_pid()
    admin = await pg_connect(dsn_of(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


@pytest.fixture
async def cluster_url(pg_server: str) -> str:
    url = await _fresh_pg_db(pg_server)
    await upgrade_async(url)
    return url


def node_config(tmp_path: Path, url: str, name: str) -> Config:
    base = Config(state_dir=str(tmp_path / name), admin_token="admin-token-for-tests", node=name)
    return replace(base, database=DatabaseConfig(url=url),
                   web=replace(base.web, secret_key="test-secret-key"),
                   smtp=replace(base.smtp, intake_port=0),
                   cluster=ClusterConfig(enabled=True, reconnect_max_s=0.5,
                                         leader_check_s=CHECK_S, node_timeout_s=NODE_TIMEOUT_S))


@pytest.fixture
async def start_node(tmp_path: Path, cluster_url: str,
                     ) -> AsyncIterator[Callable[[str], Awaitable[Node]]]:
    """``await start_node("a")``: a seeded node (the demo seeded once)."""
    engine = make_engine(cluster_url)
    async with make_sessionmaker(engine)() as s:
        demo = await seed(s, node_config(tmp_path, cluster_url, "a"))
        await s.commit()
    await engine.dispose()
    nodes: list[Node] = []
    async with contextlib.AsyncExitStack() as stack:
        async def start(name: str) -> Node:
            rt = await stack.enter_async_context(
                runtime(node_config(tmp_path, cluster_url, name), with_pbx=False))
            clients = []
            for app in (public_app(rt), internal_app(rt)):
                client = TestClient(TestServer(app))
                await client.start_server()
                stack.push_async_callback(client.close)  # before its runtime closes
                clients.append(client)
            node = Node(name, rt, clients[0], clients[1], demo)
            stack.push_async_callback(node.close_pages)
            nodes.append(node)
            return node

        yield start


@pytest.fixture
async def two_nodes(start_node: Callable[[str], Awaitable[Node]]) -> tuple[Node, Node]:
    """Nodes a and b; a started first leads routing."""
    a = await start_node("a")
    assert a.rt.leadership is not None
    await eventually_true(lambda: a.rt.leadership is not None and a.rt.leadership.leading)
    b = await start_node("b")
    return a, b
