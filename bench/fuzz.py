"""Every HTTP route of both listeners, fuzzed from the OpenAPI documents.

``python -m bench.fuzz [--requests N] [--seconds S] [--seed N]``

ccari runs in a thread of this process without a PBX, on a temporary SQLite database with the
demo data and an object of every kind in both tenants (``tests/support/world.py``), its two
listeners on free local ports.  Schemathesis generates the requests of every documented
operation from the listener's document, data that fits the schema and data that does not
(alternating rounds; in half the rounds the path ids are real ones of the caller's tenant so
the handlers get past their look-ups), each sent with every kind of credential the listener
knows: none, the admin token, a tenant's API token, an agent's and a supervisor's session
(cookie + CSRF token), the admin pages' sessions (their forms get the session's real CSRF
field, so the fuzz reaches what each form does), a customer token (with the site's Origin).
Rounds go on until ``--requests`` are sent or ``--seconds`` are spent.

A **server error** is a 5xx or a traceback in a body.  A **schema violation** is an answer
the document does not allow for that operation (status, content type, JSON body), as the
test suite's own check sees it (``tests/support/openapi.py``, a middleware on both apps).
Each finding is printed with how to reproduce it; the last line is
``requests=... server_errors=0 schema_violations=0 routes=... seconds=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.transport.requests import REQUESTS_TRANSPORT, binary_serializer

from bench._common import parser
from ccari.app import internal_app, public_app, runtime
from ccari.config import Config, DatabaseConfig
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.web.openapi import LISTENERS, Listener, document
from tests.support.openapi import Conformance
from tests.support.world import TENANTS, World, populate, sign_in

KINDS = {"internal": ("none", "admin", "tenant", "agent", "supervisor", "admin-page",
                      "tenant-page"),
         "public": ("none", "customer")}
BY_SCHEME = {"adminToken": ("admin",), "tenantToken": ("tenant",),
             "agentSession": ("agent", "supervisor"), "customerToken": ("customer",),
             "customerTokenQuery": ("customer",), "adminSession": ("admin-page", "tenant-page")}
REQUESTS_TRANSPORT.serializer("application/pdf")(binary_serializer)  # fax documents
TRACEBACK = (b"Traceback (most recent call last)", b'File "/')


@dataclass
class Findings:
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    by_status: Counter[int] = field(default_factory=Counter)
    routes: set[tuple[str, str, str]] = field(default_factory=set)


class Server:
    """ccari on two local ports, in a thread with its own event loop."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.checks = {name: Conformance(name) for name in LISTENERS}
        self.urls: dict[str, str] = {}
        self.world: World | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="ccari-under-fuzz", daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait(120)
        if self._failed is not None or self.world is None:
            raise RuntimeError("ccari did not start") from self._failed
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    @property
    def violations(self) -> list[str]:
        return [v for c in self.checks.values() for v in c.violations]

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by __enter__
            self._failed = exc
            self._ready.set()

    def config(self) -> Config:
        base = Config(state_dir=str(self.tmp / "var"), admin_token="fuzz-admin-token",
                      log_level="CRITICAL")
        return replace(base, database=DatabaseConfig(url=f"sqlite+aiosqlite:///{self.tmp}/c.db"),
                       web=replace(base.web, secret_key="fuzz-secret-key"),
                       smtp=replace(base.smtp, intake_port=0))

    async def _serve(self) -> None:
        from aiohttp import web

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        cfg = self.config()
        await upgrade_async(cfg.database.url)
        engine = make_engine(cfg.database.url)
        world = await populate(make_sessionmaker(engine), cfg)
        await engine.dispose()
        async with runtime(cfg, with_pbx=False) as rt:
            runners = []
            for name, app in (("internal", internal_app(rt)), ("public", public_app(rt))):
                self.checks[name].watch(app)
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                self.urls[name] = f"http://127.0.0.1:{port}"
                runners.append(runner)
            await sign_in(world, self.urls["internal"], self.urls["public"])
            for check in self.checks.values():
                check.violations.clear()  # the sign-in's answers are not the fuzzer's
            self.world = world
            self._ready.set()
            await self._stop.wait()
            for runner in runners:
                await runner.cleanup()


def operations(listener: Listener) -> Iterator[Any]:
    schema = schemathesis.openapi.from_dict(document(listener))
    for result in schema.get_all_operations():
        yield result.ok()


def kinds(listener: Listener, op: Any) -> tuple[str, ...]:
    """The credentials an operation takes, and none; every kind for a public one."""
    schemes = {name for req in op.definition.raw.get("security", []) for name in req}
    if not schemes:
        return KINDS[listener]
    return ("none", *sorted({k for name in schemes for k in BY_SCHEME[name]}))


def fuzz_one(server: Server, http: requests.Session, found: Findings, listener: Listener,
             op: Any, kind: str, mode: GenerationMode, examples: int, seed: int, with_ids: bool,
             deadline: float) -> None:
    base = server.urls[listener]
    world = server.world
    assert world is not None
    tenant = TENANTS[seed % 2]
    headers = world.headers(kind, tenant, server.urls["public"])
    csrf = world.csrf(kind, tenant)
    names = [p.name for p in op.path_parameters]
    known = world.objects[tenant].ids(op.path)
    ids = {n: known[n] for n in names if n in known} if with_ids else None
    strategy = op.as_strategy(generation_mode=mode, path_parameters=ids)

    @hypothesis.settings(max_examples=examples, database=None, deadline=None, derandomize=False,
                         suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate],
                         verbosity=hypothesis.Verbosity.quiet)
    @hypothesis.seed(seed)
    @given(case=strategy)
    def send(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        http.cookies.clear()
        if csrf and isinstance(case.body, dict) and "csrf" in case.body:
            case.body["csrf"] = csrf  # past the form's CSRF check, to what the form does
        try:
            resp = case.call(base_url=base, session=http, headers=headers, timeout=15,
                             allow_redirects=False)
        except requests.RequestException as exc:
            found.server_errors.append(f"{kind} {op.method.upper()} {op.path}: no answer ({exc})")
            return
        found.requests += 1
        if resp.status_code == 200 and op.path == "/api/tenants/{tenant}/token" and ids:
            # The tenant's token was rotated: the next operations use the new one.
            world.credentials[tenant].tenant_token = resp.json()["api_token"]
        found.by_status[resp.status_code] += 1
        found.routes.add((listener, op.method.upper(), op.path))
        body = resp.content or b""
        if resp.status_code >= 500 or any(t in body for t in TRACEBACK):
            found.server_errors.append(
                f"{kind} {resp.request.method} {resp.request.url} -> {resp.status_code}: "
                f"{body[:300]!r}\n    body sent: {(resp.request.body or b'')[:300]!r}")

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing about this operation can break its schema (no parameters, no body)


def run(requests_wanted: int, seconds: float, seed: int, log: Any = print) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + seconds
    found = Findings()
    with tempfile.TemporaryDirectory(prefix="ccari-fuzz-") as tmp, Server(Path(tmp)) as server:
        ops = [(listener, op, kind) for listener in LISTENERS for op in operations(listener)
               for kind in kinds(listener, op)]
        http = requests.Session()
        for round_no in itertools.count():
            if found.requests >= requests_wanted or time.monotonic() > deadline:
                break
            mode = GenerationMode.POSITIVE if round_no % 2 == 0 else GenerationMode.NEGATIVE
            # Four kinds of round (fitting or not, real ids or not), each a share of the run.
            per_op = max(2, -(-requests_wanted // (4 * len(ops))))
            for n, (listener, op, kind) in enumerate(ops):
                if found.requests >= requests_wanted or time.monotonic() > deadline:
                    break
                fuzz_one(server, http, found, listener, op, kind, mode, per_op, seed + round_no * 1000 + n,
                         with_ids=round_no % 4 < 2, deadline=deadline)
            log(f"round {round_no} ({mode}): {found.requests} requests, "
                f"{len(found.server_errors)} server errors, {len(server.violations)} violations")
        http.close()
        violations = sorted(set(server.violations))
    return {"requests": found.requests, "server_errors": sorted(set(found.server_errors)),
            "violations": violations, "routes": len(found.routes),
            "operations": len({(listener, op.method, op.path) for listener, op, _ in ops}),
            "by_status": dict(sorted(found.by_status.items())),
            "seconds": time.monotonic() - started}


def main(argv: list[str] | None = None) -> None:
    p: argparse.ArgumentParser = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--requests", type=int, default=10_000, help="at least this many (10,000)")
    p.add_argument("--seconds", type=float, default=290.0, help="time bound (290 s)")
    p.add_argument("--log", help="write ccari's errors (with their tracebacks) to this file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR if args.log else logging.CRITICAL, filename=args.log)
    out = run(args.requests * (3 if args.full else 1), args.seconds, args.seed)
    for line in out["server_errors"]:
        print("SERVER ERROR", line)
    for line in out["violations"]:
        print("SCHEMA VIOLATION", line)
    print("statuses:", " ".join(f"{k}={v}" for k, v in out["by_status"].items()))
    print(f"requests={out['requests']} server_errors={len(out['server_errors'])} "
          f"schema_violations={len(out['violations'])} routes={out['routes']}/{out['operations']} "
          f"seconds={out['seconds']:.0f}")


if __name__ == "__main__":
    main()
