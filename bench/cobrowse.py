"""Co-browse latency: a change on the customer's page until the agent's mirror shows it.

Two Chromium pages on loopback (one browser, two contexts): the customer on a tenant site of
its own origin sharing with ``cobrowse.js``; the agent on ccari's agent page, the mirror in
the contact's pane.  Each of ``--changes`` steps sets a paragraph's text on the customer's
page, then waits until the mirror's replayed page holds it:

* ``applied``: the replayed DOM changed (a MutationObserver in the mirror);
* ``shown``: the next animation frame after that (when it is painted): the figure.

Baseline, same run: ``transport``, an rrweb custom event taking the same path (recorder,
batching, public websocket, relay, internal websocket, replayer) without a DOM to rebuild.
Times are ``performance.timeOrigin + performance.now()`` of each page (one machine clock).

    python -m bench.cobrowse                 # 200 changes
    python -m bench.cobrowse --changes 1000

Last line: ``p50_ms=… p99_ms=… sessions=1 nodes=1`` (``shown``; the goal is p99 under
100 ms).

Several sessions across nodes (aiohttp clients instead of Chromium, see
``bench/_cobrowse_nodes.py``): the same sessions on one node (the baseline), then with each
customer on one node and her agent's mirror on another, on a private PostgreSQL:

    python -m bench.cobrowse --nodes 2 --sessions 100     # 40 batches per session
    python -m bench.cobrowse --nodes 2 --quick            # 20 sessions, 10 batches

Last line: ``p50_ms=… p99_ms=… sessions=… nodes=…`` (across nodes; the goal is p99 under
50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from playwright.async_api import Frame, Page
from sqlalchemy import select

from bench._common import free_port, percentile, serving, table
from ccari.app import internal_app, public_app, runtime
from ccari.config import Config, DatabaseConfig
from ccari.contacts import repo as contacts_repo
from ccari.demo.seed import seed
from ccari.public.models import TenantSite
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Agent, Tenant
from tests.cobrowse.site import agent_login, link, share, site_app
from tests.support.browser import chromium

MEDIUM = "webhelp"
WATCH = """() => {
  const seen = new Map(), waiters = new Map();
  const done = (key, at) => {
    seen.set(key, at);
    const w = waiters.get(key);
    if (w) { waiters.delete(key); w(at); }
  };
  const doc = window.ccariMirror.frame().contentDocument;
  new MutationObserver(() => {
    const el = doc.getElementById("change");
    const text = el && el.textContent;
    if (!text || seen.has("applied:" + text)) return;
    done("applied:" + text, performance.timeOrigin + performance.now());
    requestAnimationFrame(() => done("shown:" + text, performance.timeOrigin + performance.now()));
  }).observe(doc, {subtree: true, childList: true, characterData: true});
  window.ccariMirror.replayer().on("custom-event", (e) => done("custom:" + e.data.payload.n,
    performance.timeOrigin + performance.now()));
  window.benchWait = (key) => seen.has(key) ? seen.get(key) : new Promise((r) => waiters.set(key, r));
}"""
CHANGE = """(n) => { const t = performance.timeOrigin + performance.now();
  document.getElementById("change").textContent = "change-" + n; return t; }"""
CUSTOM = """(n) => { const t = performance.timeOrigin + performance.now();
  window.rrweb.record.addCustomEvent("bench", {n}); return t; }"""




async def prepare(tmp: Path) -> tuple[Config, dict[str, Any]]:
    url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    await upgrade_async(url)
    base = Config(state_dir=str(tmp / "var"), admin_token="bench-admin")
    cfg = replace(base, database=DatabaseConfig(url=url),
                  web=replace(base.web, secret_key="bench-secret", public_port=free_port()))
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as s:
        sec = await seed(s, cfg)
        for agent in await s.scalars(select(Agent)):
            agent.slots = {"per_medium": {"voice": 1, "chat": 3, MEDIUM: 1}, "total": 3}
        await s.commit()
    await engine.dispose()
    return cfg, sec


async def transport(agent_frame: Frame, customer: Page, n: int) -> float:
    started = await customer.evaluate(CUSTOM, n)
    arrived = await agent_frame.evaluate("(k) => window.benchWait(k)", f"custom:{n}")
    return float(arrived) - float(started)


async def run(args: argparse.Namespace) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="ccari-bench-cobrowse-") as tmp:
        cfg, sec = await prepare(Path(tmp))
        async with runtime(cfg, with_pbx=False) as rt:
            assert rt.offers is not None
            rt.offers.register_medium(MEDIUM)
            async with rt.sessions() as s:
                acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
                assert acme is not None
            token = rt.tokens.issue(acme.id)[0]
            public_port, site_port = cfg.web.public_port, free_port()
            async with serving(internal_app(rt), free_port()) as internal, \
                    serving(public_app(rt), public_port) as public, \
                    serving(site_app(public, token), site_port) as site:
                async with rt.sessions() as s:
                    row = await s.get(TenantSite, acme.id)
                    assert row is not None
                    row.origins = [*row.origins, site]
                    await s.commit()
                async with chromium() as browser:
                    agent_ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
                    customer_ctx = await browser.new_context(viewport={"width": 1000, "height": 700})
                    agent = await agent_login(agent_ctx, internal, sec["acme.alice.web"])
                    now = dt.datetime.now(dt.UTC)
                    async with rt.sessions() as s:
                        contact = await contacts_repo.create(
                            s, tenant_id=acme.id, medium=MEDIUM, state="queued", arrived_at=now,
                            queued_at=now)
                        await s.commit()
                    await rt.queue.enqueue(contact)
                    item = f".work-item[data-contact='{contact.id}']"
                    await agent.click(f"{item}[data-status=offered] .accept")
                    await agent.wait_for_selector(f"{item}[data-status=connected]")
                    customer = await customer_ctx.new_page()
                    await customer.goto(f"{site}/shop/")
                    mirror = await link(agent, contact.id, await share(customer))
                    await mirror.frame_locator("#cb-stage iframe").locator("#title").wait_for()
                    frame = next(f for f in agent.frames if "/agent/cobrowse/" in f.url)
                    await frame.evaluate(WATCH)
                    out: dict[str, list[float]] = {"transport": [], "applied": [], "shown": []}
                    for n in range(args.warmup + args.changes):
                        floor = await transport(frame, customer, n)
                        started = await customer.evaluate(CHANGE, n)
                        applied = await frame.evaluate("(k) => window.benchWait(k)", f"applied:change-{n}")
                        shown = await frame.evaluate("(k) => window.benchWait(k)", f"shown:change-{n}")
                        if n >= args.warmup:
                            out["transport"].append(floor)
                            out["applied"].append(float(applied) - float(started))
                            out["shown"].append(float(shown) - float(started))
                    await browser.close()
    return out


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    out = await run(args)
    rows = [(name, len(v), percentile(v, 50), percentile(v, 90), percentile(v, 99), max(v))
            for name, v in out.items()]
    print(table(("path", "n", "p50_ms", "p90_ms", "p99_ms", "max_ms"), rows))
    base, shown = percentile(out["transport"], 50), percentile(out["shown"], 50)
    print(f"mirror shown vs transport baseline (p50): {shown / base:.2f}x "
          f"({shown - base:+.1f} ms for recording, replaying and painting the change)")
    print(f"p50_ms={shown:.1f} p99_ms={percentile(out['shown'], 99):.1f} sessions=1 nodes=1")


async def main_nodes(args: argparse.Namespace) -> None:
    from bench import _cobrowse_nodes as load
    from tests.support.postgres import postgres_server

    logging.basicConfig(level=logging.WARNING)
    sizes = {"sessions": args.sessions, "changes": args.changes, "interval": args.interval}
    with tempfile.TemporaryDirectory(prefix="ccari-bench-cobrowse-") as tmp:
        one = await load.phase(Path(tmp) / "one", f"sqlite+aiosqlite:///{tmp}/one.db",
                               nodes=1, **sizes)
        with postgres_server() as url:
            many = await load.phase(Path(tmp) / "many", url, nodes=args.nodes, **sizes)
    rows = [(name, len(v), percentile(v, 50), percentile(v, 90), percentile(v, 99), max(v))
            for name, v in (("1 node", one), (f"{args.nodes} nodes", many))]
    print(f"{args.sessions} sessions at once, a batch every {args.interval} s each; "
          "customer socket to mirror socket")
    print(table(("path", "n", "p50_ms", "p90_ms", "p99_ms", "max_ms"), rows))
    print(f"p50_ms={percentile(many, 50):.1f} p99_ms={percentile(many, 99):.1f} "
          f"sessions={args.sessions} nodes={args.nodes}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cobrowse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--changes", type=int, default=None,
                   help="measured changes (default 200; batches per session across nodes: 40)")
    p.add_argument("--warmup", type=int, default=10, help="changes not counted (default 10)")
    p.add_argument("--nodes", type=int, default=1, help="ccari nodes (2+: aiohttp clients)")
    p.add_argument("--sessions", type=int, default=1, help="sessions at once (with --nodes)")
    p.add_argument("--interval", type=float, default=0.5,
                   help="seconds between a session's batches (with --nodes; default 0.5)")
    p.add_argument("--quick", action="store_true", help="with --nodes: 20 sessions, 10 batches")
    args = p.parse_args(argv)
    if args.nodes < 2 and (args.sessions > 1 or args.quick):
        p.error("--sessions and --quick go with --nodes 2 or more (one Chromium session otherwise)")
    if args.quick:
        args.sessions, args.changes = min(args.sessions, 20) if args.sessions > 1 else 20, 10
    if args.changes is None:
        args.changes = 40 if args.nodes > 1 else 200
    return args


if __name__ == "__main__":
    args = parse()
    asyncio.run(main_nodes(args) if args.nodes > 1 else main(args))
