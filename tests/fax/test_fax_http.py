"""What the fax API refuses to send, before anything is saved or dialled (no PBX needed)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from ccari.app import Runtime, internal_app
from ccari.fax.models import FaxAttempt, FaxSend
from tests.fax.conftest import fax_pages
from tests.fax.test_fax_send_pbx import pdf_of
from tests.public.conftest import demo, rt

__all__ = ["demo", "rt"]
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PDF = "application/pdf"


@pytest.mark.parametrize(("to", "body", "content_type", "status", "error"), [
    ("%2B19005550100", "pdf", PDF, 403, "number-not-allowed"),  # premium rate
    ("%2B8613800138000", "pdf", PDF, 403, "number-not-allowed"),  # not on acme's allow-list
    ("not-a-number", "pdf", PDF, 422, "invalid-number"),
    ("", "pdf", PDF, 422, "invalid-number"),
    ("%2B12015550199", "junk", PDF, 422, "invalid-document"),
    ("%2B12015550199", "pdf", "text/plain", 422, "invalid-document"),
])
async def test_a_refused_fax_is_neither_saved_nor_dialled(
        rt: Runtime, demo: dict[str, Any], aiohttp_client: Any, to: str, body: str,
        content_type: str, status: int, error: str) -> None:
    client = await aiohttp_client(internal_app(rt))
    data = pdf_of(fax_pages(1)) if body == "pdf" else b"%PDF-1.4 not really"
    resp = await client.post(f"/api/faxes/outbound?to={to}", data=data, headers={
        "Authorization": f"Bearer {demo['acme.token']}", "Content-Type": content_type})
    got = await resp.json()
    assert (resp.status, got["error"]) == (status, error), got
    async with rt.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(FaxSend)) == 0
        assert await s.scalar(select(func.count()).select_from(FaxAttempt)) == 0


async def test_sending_needs_a_tenant_token(rt: Runtime, aiohttp_client: Any) -> None:
    client = await aiohttp_client(internal_app(rt))
    resp = await client.post("/api/faxes/outbound?to=%2B12015550199", data=pdf_of(fax_pages(1)),
                             headers={"Content-Type": PDF})
    assert resp.status == 401
    for path in ("/api/faxes", "/api/faxes/x", "/api/faxes/x/pdf", "/api/faxes/outbound/x"):
        assert (await client.get(path)).status == 401
    assert (await client.delete("/api/faxes/x")).status == 401
    assert (await client.get("/agent/faxes/x/pdf")).status == 401
