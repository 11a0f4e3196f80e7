"""``GET /metrics`` takes no token because it holds no tenant's figures: process series only,
none with a label, none naming a tenant.  A series per tenant would fail here first (and
then needs the admin token or a metrics token of its own)."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from ccari.app import internal_app, runtime
from ccari.demo.seed import seed

SAMPLE = re.compile(r"^ccari_[a-z0-9_]+ (-?[0-9.e+-]+|NaN|[+-]Inf)$")


async def test_metrics_show_process_figures_only(cfg, sessions, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        client: TestClient = await aiohttp_client(internal_app(rt))
        resp = await client.get("/metrics")
        assert resp.status == 200
        text = await resp.text()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples, text  # the series registered without a PBX (wallboards, SIP guard)
    assert [line for line in samples if not SAMPLE.match(line)] == []  # no {label="..."}
    for name in ("acme", "globex", "Acme", "Globex"):
        assert name not in text
