"""A fax whose line is busy is dialled again by itself, on the real PBX: SIPp plays the far
end behind the carrier (busy for the first calls, then a phone that answers but is no fax
machine), with the attempts' stable ids in its log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from ccari.app import Runtime, internal_app, runtime
from ccari.config import Config
from tests.fax.conftest import fax_pages
from tests.fax.test_fax_send_pbx import pdf_of
from tests.voice.conftest import eventually
from tests.voice.test_callbacks_pbx import (  # noqa: F401 - fixtures
    Customer,
    callbacks_config,
    customer,
    prepare,
)

pytestmark = pytest.mark.pbx

NUMBER = "12015550142"  # a US number: acme's dial policy lets faxes go there


@pytest.fixture
async def faxing(voice_cfg: Config, callbacks_config: dict[str, Any],  # noqa: F811
                 request: pytest.FixtureRequest) -> AsyncIterator[Runtime]:
    await prepare(voice_cfg)
    cfg = replace(voice_cfg, callbacks=replace(voice_cfg.callbacks, **callbacks_config),
                  fax=replace(voice_cfg.fax, retries=request.param, retry_after_s=1.0))
    async with runtime(cfg) as rt:
        yield rt


def _acme(voice_env: Any) -> dict[str, str]:
    secrets = json.loads((voice_env.state_dir / "demo-secrets.json").read_text())
    return {"Authorization": f"Bearer {secrets['acme.token']}"}


async def _send(client: Any, headers: dict[str, str]) -> str:
    resp = await client.post(f"/api/faxes/outbound?to=%2B{NUMBER}", data=pdf_of(fax_pages(1)),
                             headers={**headers, "Content-Type": "application/pdf"})
    body = await resp.json()
    assert resp.status == 201, body
    return str(body["id"])


async def _final(client: Any, headers: dict[str, str], send_id: str, tries: int) -> Any:
    async def done() -> Any:
        got = await (await client.get(f"/api/faxes/outbound/{send_id}", headers=headers)).json()
        return got if got["status"] == "failed" and len(got["attempts"]) == tries else None

    return await eventually(done, 40, f"the fax to fail after {tries} attempts")


@pytest.mark.parametrize("faxing", [2], indirect=True)
async def test_a_busy_line_is_dialled_again_and_an_answer_without_a_fax_is_not(
        faxing: Runtime, customer: Customer, aiohttp_client: Any,  # noqa: F811
        voice_env: Any) -> None:
    client = await aiohttp_client(internal_app(faxing))
    acme = _acme(voice_env)
    async with customer.phone(busy_first=1, hangup_after_ms=1500):
        send_id = await _send(client, acme)

        async def retrying() -> Any:
            got = await (await client.get(f"/api/faxes/outbound/{send_id}", headers=acme)).json()
            return got if got["status"] == "retrying" else None

        planned = await eventually(retrying, 20, "the busy attempt to plan a retry")
        assert planned["retry_at"] and [a["error"] for a in planned["attempts"]] == ["user-busy"]
        final = await _final(client, acme, send_id, 2)
    # Busy: dialled again by itself with the next id.  Answered by no fax machine: failed
    # for good (a retry would not help), the send waits for a resend.
    assert customer.invites() == [f"fxo-{send_id}-1", f"fxo-{send_id}-2"]
    first, second = final["attempts"]
    assert (first["status"], first["error"]) == ("failed", "user-busy")
    assert second["status"] == "failed" and second["error"] != "user-busy"
    assert final["retry_at"] is None


@pytest.mark.parametrize("faxing", [1], indirect=True)
async def test_retries_stop_at_the_configured_count(
        faxing: Runtime, customer: Customer, aiohttp_client: Any,  # noqa: F811
        voice_env: Any) -> None:
    client = await aiohttp_client(internal_app(faxing))
    acme = _acme(voice_env)
    async with customer.phone(busy_first=99):
        send_id = await _send(client, acme)
        final = await _final(client, acme, send_id, 2)
        assert [a["error"] for a in final["attempts"]] == ["user-busy", "user-busy"]
        # Failed for good; sent again on request, that send has its own retries.
        resp = await client.post(f"/api/faxes/outbound/{send_id}/resend", headers=acme)
        assert resp.status == 201
        again = await _final(client, acme, send_id, 4)
    assert customer.invites() == [f"fxo-{send_id}-{n}" for n in range(1, 5)]
    assert [a["error"] for a in again["attempts"]] == ["user-busy"] * 4
