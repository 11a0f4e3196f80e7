"""The leader's weight keeper and the node's registration against a real PostgreSQL, with
Kamailio's RPC played by a small HTTP server (or nobody at all)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.config import Config, DatabaseConfig, EdgeConfig, PbxConfig
from ccari.edge import plugin, repo
from ccari.edge.keeper import WeightKeeper
from ccari.edge.models import EdgeDestination
from ccari.edge.rpc import KamailioRpc
from ccari.metrics import Metrics
from ccari.storage.db import make_engine, make_sessionmaker
from tests.edge.conftest import carrying
from tests.support.kamailio import RPC_KEY
from tests.support.sipp import free_tcp_port
from tests.support.waits import eventually


@dataclass
class FakeKamailio:
    """Answers dispatcher.list (one inactive destination), reload and set_state."""

    port: int
    calls: list[tuple[str, list[Any]]] = field(default_factory=list)
    inactive_uri: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {RPC_KEY}":
            return web.Response(status=401, text="unauthorized\n")  # as Kamailio's config
        body = await request.json()
        self.calls.append((body["method"], body.get("params", [])))
        result: Any = "Ok."
        if body["method"] == "dispatcher.list":
            result = {"NRSETS": 1, "RECORDS": [{"SET": {"ID": 1, "TARGETS": [{"DEST": {
                "URI": self.inactive_uri, "FLAGS": "IP", "PRIORITY": 0,
                "ATTRS": {"BODY": "rweight=100", "RWEIGHT": 100}}}]}}]}
        return web.json_response({"jsonrpc": "2.0", "result": result, "id": body["id"]})

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]


@contextlib.asynccontextmanager
async def fake_kamailio(port: int) -> AsyncIterator[FakeKamailio]:
    fake = FakeKamailio(port)
    app = web.Application()
    app.router.add_post("/RPC", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
async def sessions(edge_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(edge_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessions() as s:
        return {d.description: d.attrs for d in await s.scalars(select(EdgeDestination))}


async def test_kamailio_away_is_logged_once_retried_and_then_reloaded(
        sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    async with sessions() as s:
        await repo.register(s, "a", "sip:10.0.0.1:5060", capacity=4)
        await repo.register(s, "b", "sip:10.0.0.2:5060", capacity=4)
        await s.commit()
    await carrying(sessions, {"a": 3})
    port = free_tcp_port()
    async with aiohttp.ClientSession() as http:
        keeper = WeightKeeper(sessions, KamailioRpc(http, f"http://127.0.0.1:{port}/RPC",
                                                    RPC_KEY, timeout_s=1),
                              leading=lambda: True, every_s=60, default_capacity=30)
        caplog.set_level(logging.INFO, logger="ccari.edge")
        for _ in range(3):
            await keeper._round()  # nobody on the port: the node goes on
        away = [r for r in caplog.records if "RPC" in r.getMessage()]
        assert len(away) == 1 and away[0].levelno == logging.WARNING
        assert not keeper.reachable
        # The weights are in the table all the same (Kamailio reads them when it starts).
        assert await rows(sessions) == {"a": "rweight=25;capacity=4", "b": "rweight=100;capacity=4"}

        async with fake_kamailio(port) as fake:
            fake.inactive_uri = "sip:10.0.0.2:5060"
            await keeper._round()
            assert keeper.reachable and "weights kept again" in caplog.text
            # Kamailio forgets on reload that b was inactive: it is set inactive again.
            assert fake.calls == [("dispatcher.list", []), ("dispatcher.reload", []),
                                  ("dispatcher.set_state", ["ip", 1, "sip:10.0.0.2:5060"])]
            await keeper._round()  # nothing changed: no reload
            assert fake.methods().count("dispatcher.reload") == 1
            await carrying(sessions, {"a": 4})
            await keeper._round()
            assert fake.methods().count("dispatcher.reload") == 2
            assert (await rows(sessions))["a"] == "rweight=1;capacity=4"


async def test_a_node_with_another_rpc_key_says_so_once_and_changes_nothing_there(
        sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    async with sessions() as s:
        await repo.register(s, "a", "sip:10.0.0.1:5060", capacity=4)
        await s.commit()
    port = free_tcp_port()
    async with aiohttp.ClientSession() as http, fake_kamailio(port) as fake:
        keeper = WeightKeeper(sessions, KamailioRpc(http, f"http://127.0.0.1:{port}/RPC",
                                                    "not-the-edges-key-0123"),
                              leading=lambda: True, every_s=60, default_capacity=30)
        caplog.set_level(logging.INFO, logger="ccari.edge")
        for _ in range(3):
            await keeper._round()
        refused = [r for r in caplog.records if "RPC" in r.getMessage()]
        assert len(refused) == 1 and refused[0].levelno == logging.WARNING
        assert "edge.rpc_key" in refused[0].getMessage()
        assert not keeper.reachable and fake.calls == []


async def test_a_node_that_does_not_lead_changes_nothing(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        await repo.register(s, "a", "sip:10.0.0.1:5060", capacity=4)
        await s.commit()
    await carrying(sessions, {"a": 2})
    port = free_tcp_port()
    leads = False
    async with aiohttp.ClientSession() as http, fake_kamailio(port) as fake:
        keeper = WeightKeeper(sessions, KamailioRpc(http, f"http://127.0.0.1:{port}/RPC", RPC_KEY),
                              leading=lambda: leads, every_s=0.05, default_capacity=30)
        keeper.start()
        try:
            async def rounds() -> bool:
                return keeper.rounds >= 3

            await eventually(rounds, 5, "a few rounds")
            assert fake.calls == [] and await rows(sessions) == {"a": "rweight=100;capacity=4"}
            leads = True

            async def reloaded() -> bool:
                return "dispatcher.reload" in fake.methods()

            await eventually(reloaded, 5, "the new leader's reload")
            assert await rows(sessions) == {"a": "rweight=50;capacity=4"}
        finally:
            await keeper.close()


@dataclass
class FakeRuntime:
    config: Config
    sessions: async_sessionmaker[AsyncSession]
    carries_calls: bool = True
    leadership: None = None
    metrics: Metrics = field(default_factory=Metrics)


async def test_a_node_registers_its_asterisk_at_start_once(
        sessions: async_sessionmaker[AsyncSession], edge_url: str, tmp_path: Path) -> None:
    cfg = Config(state_dir=str(tmp_path), node="web1", database=DatabaseConfig(url=edge_url),
                 pbx=PbxConfig(sip_port=5072),
                 edge=EdgeConfig(enabled=True, node_capacity=12, update_s=60, rpc_key=RPC_KEY,
                                 rpc_url=f"http://127.0.0.1:{free_tcp_port()}/RPC"))
    for config in (cfg, replace(cfg, edge=replace(cfg.edge, destination="sip:10.0.0.9:5060"))):
        async with contextlib.AsyncExitStack() as stack:
            await plugin.install(FakeRuntime(config, sessions), stack)  # type: ignore[arg-type]
    async with sessions() as s:
        found = [(d.setid, d.destination, d.attrs, d.description)
                 for d in await s.scalars(select(EdgeDestination))]
    # Registered again with a new address: the same row, its weight kept.
    assert found == [(1, "sip:10.0.0.9:5060", "rweight=100;capacity=12", "web1")]
    web = FakeRuntime(replace(cfg, node="web2"), sessions, carries_calls=False)
    async with contextlib.AsyncExitStack() as stack:
        await plugin.install(web, stack)  # type: ignore[arg-type]
    assert list(await rows(sessions)) == ["web1"]  # a web-only node has no Asterisk
