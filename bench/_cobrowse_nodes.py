"""Many co-browse sessions at once, the customer on one ccari node and the agent's mirror on
another (``python -m bench.cobrowse --nodes 2 --sessions 100``).

Chromium for 100 customer pages and 100 mirrors is too heavy for a 2-core box, so the
sessions' websockets are driven by aiohttp clients: each customer socket sends rrweb batches
shaped as ``cobrowse.js`` flushes them (generated here, not recorded from a browser): first
a full snapshot of a shop page of about 60 kB (more than a notification's 8000 bytes: it
crosses through the frames table), then, every ``--interval`` seconds, a batch with a text
mutation, mouse moves and a custom event stamped with ``time.perf_counter()``; the agent's
mirror socket, on the other node, takes the time when that batch arrives.  Nodes and clients
run in this one process (one clock, one event loop): the figures include the clients' work.

Phases of one run: ``1 node`` (cluster off, SQLite, as a single ccari runs: the baseline),
then ``N nodes`` (cluster on, a private PostgreSQL): customers on the first node, mirrors on
the others in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bench._common import serving
from ccari.app import Runtime, internal_app, public_app, runtime
from ccari.config import ClusterConfig, Config, DatabaseConfig
from ccari.contacts import repo as contacts_repo
from ccari.demo.seed import seed
from ccari.public.models import TenantSite
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Agent, Tenant
from tests.support.agent_web import open_agent_page

WARMUP = 2  # batches per session not counted




@dataclass
class Served:
    rt: Runtime
    public: str
    internal: str




def snapshot(rng: random.Random, now_ms: float) -> dict[str, Any]:
    """An rrweb full snapshot (type 2) of a product list: ~60 kB of serialized DOM."""
    next_id = iter(range(1, 10**6))

    def el(tag: str, children: list[dict[str, Any]], **attrs: str) -> dict[str, Any]:
        return {"type": 2, "tagName": tag, "attributes": attrs, "childNodes": children,
                "id": next(next_id)}

    def txt(text: str) -> dict[str, Any]:
        return {"type": 3, "textContent": text, "id": next(next_id)}

    items = [el("li", [el("h3", [txt(f"Product {i}")]),
                       el("p", [txt(" ".join(rng.choice(("soft", "blue", "large", "cotton",
                                                         "warm", "light")) for _ in range(40)))]),
                       el("span", [txt(f"{rng.randint(5, 500)}.99 EUR")], **{"class": "price"})],
                 **{"class": "item", "data-sku": f"sku-{i:05d}"}) for i in range(80)]
    body = el("body", [el("h1", [txt("Shop")], id="title"), el("p", [txt("-")], id="change"),
                       el("ul", items, id="list")])
    html = el("html", [el("head", [el("title", [txt("Shop")])]), body])
    return {"type": 2, "timestamp": now_ms,
            "data": {"node": {"type": 0, "childNodes": [html], "id": 0},
                     "initialOffset": {"left": 0, "top": 0}}}


def increment(rng: random.Random, n: int, now_ms: float) -> dict[str, Any]:
    """One flush of the recorder: a text change, mouse moves, a custom event with the time."""
    return {"type": "events", "events": [
        {"type": 3, "timestamp": now_ms, "data": {
            "source": 0, "texts": [{"id": 6, "value": f"change-{n}"}], "attributes": [],
            "removes": [], "adds": []}},
        {"type": 3, "timestamp": now_ms, "data": {"source": 1, "positions": [
            {"x": rng.randint(0, 1000), "y": rng.randint(0, 700), "id": 5, "timeOffset": -k * 50}
            for k in range(5)]}},
        {"type": 5, "timestamp": now_ms, "data": {"tag": "bench", "payload": {
            "n": n, "t": time.perf_counter()}}}]}


async def _nodes(stack: contextlib.AsyncExitStack, tmp: Path, url: str,
                 count: int) -> tuple[list[Served], dict[str, Any]]:
    """``count`` nodes on ``url`` (seeded), and the demo's secrets."""
    await upgrade_async(url)
    out: list[Served] = []
    sec: dict[str, Any] = {}
    for i in range(count):
        base = Config(state_dir=str(tmp / f"n{i}"), admin_token="bench-admin", node=f"n{i + 1}")
        cfg = replace(base, database=DatabaseConfig(url=url),
                      web=replace(base.web, secret_key="bench-secret"),
                      smtp=replace(base.smtp, intake_port=0),
                      cluster=ClusterConfig(enabled=count > 1))
        if i == 0:
            engine = make_engine(url)
            async with make_sessionmaker(engine)() as s:
                sec = await seed(s, cfg)
                await s.commit()
            await engine.dispose()
        rt = await stack.enter_async_context(runtime(cfg, with_pbx=False))
        internal = await stack.enter_async_context(serving(internal_app(rt)))
        public = await stack.enter_async_context(serving(public_app(rt)))
        out.append(Served(rt, public, internal))
    return out, sec


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"socket closed waiting for {kind}: {msg}")
            data = msg.json()
            if data.get("type") == kind:
                return data  # type: ignore[no-any-return]


async def phase(tmp: Path, url: str, *, nodes: int, sessions: int, changes: int,
                interval: float, seed_: int = 1) -> list[float]:
    """Latencies (ms) of every counted batch, customer socket to mirror socket."""
    rng = random.Random(seed_)
    async with contextlib.AsyncExitStack() as stack:
        served, sec = await _nodes(stack, tmp, url, nodes)
        home, agents = served[0], served[1:] or served[:1]
        rt = home.rt
        async with rt.sessions() as s:
            acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
            assert acme is not None
            alice = await s.scalar(select(Agent).where(Agent.tenant_id == acme.id,
                                                       Agent.username == "alice"))
            assert alice is not None
            site = await s.get(TenantSite, acme.id)
            assert site is not None
            site.origins = [*site.origins, home.public]
            await s.commit()
        pages = [await open_agent_page(a.internal, "acme", "alice", sec["acme.alice.web"])
                 for a in agents]
        for page in pages:
            stack.push_async_callback(page.close)
        clients = [await stack.enter_async_context(aiohttp.ClientSession(
            a.internal, cookie_jar=p.http.cookie_jar, connector=aiohttp.TCPConnector(limit=0)))
            for a, p in zip(agents, pages, strict=True)]
        customers = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        pairs = []
        for i in range(sessions):
            agent_node, client = agents[i % len(agents)], clients[i % len(agents)]
            now = dt.datetime.now(dt.UTC)
            async with rt.sessions() as s:
                contact = await contacts_repo.create(
                    s, tenant_id=acme.id, medium="chat", state="connected", agent_id=alice.id,
                    arrived_at=now, queued_at=now)
                await s.commit()
            token = rt.tokens.issue(acme.id)[0]
            customer = await customers.ws_connect(
                f"{home.public}/v1/cobrowse/ws?token={token}", headers={"Origin": home.public},
                max_msg_size=0)
            code = (await _next(customer, "hello"))["code"]
            assert agent_node.rt.cobrowse is not None
            assert await agent_node.rt.cobrowse.link_by_code(acme.id, contact.id, code)
            await _next(customer, "linked")
            view = await client.ws_connect(f"/agent/cobrowse/ws?contact={contact.id}",
                                           max_msg_size=0)
            await _next(customer, "snapshot")
            page = f"{home.public}/shop/{i}"
            await customer.send_json({"type": "events", "events": [
                {"type": 4, "timestamp": time.time() * 1000,
                 "data": {"href": page, "width": 1280, "height": 720}},
                snapshot(rng, time.time() * 1000)]})
            await _next(view, "events")
            pairs.append((customer, view))

        latencies: list[float] = []

        async def watch(view: aiohttp.ClientWebSocketResponse) -> None:
            got = 0
            async for msg in view:
                arrived = time.perf_counter()
                data = json.loads(msg.data)
                if data.get("type") != "events":
                    continue
                for event in data["events"]:
                    if event.get("type") == 5:
                        got += 1
                        if event["data"]["payload"]["n"] >= WARMUP:
                            latencies.append((arrived - event["data"]["payload"]["t"]) * 1000)
                if got == changes:
                    return

        async def drive(customer: aiohttp.ClientWebSocketResponse, offset: float) -> None:
            await asyncio.sleep(offset)
            for n in range(changes):
                await customer.send_str(json.dumps(increment(rng, n, time.time() * 1000)))
                await asyncio.sleep(interval)

        async with asyncio.timeout(60 + changes * interval * 4):
            await asyncio.gather(*(watch(v) for _, v in pairs),
                                 *(drive(c, rng.random() * interval) for c, _ in pairs))
        for customer, view in pairs:
            await customer.close()
            await view.close()
    return latencies
