"""A number's after-hours announcement (or voicemail greeting) from one of its tenant's own
prompts: named ``tenant:<name>`` in the route, checked on save (another tenant's or a missing
one refused), kept from deletion while a number plays it, and set in the admin page's form."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ccari.provisioning.hours import after_hours
from ccari.provisioning.schemas import Invalid
from tests.provisioning.test_http import ADMIN, bearer, error, ok
from tests.provisioning.test_pages import login, post
from tests.provisioning.test_prompts import tone_wav

NUMBER = "/api/tenants/acme/numbers/15550100"
ADMIN_TOKEN = ADMIN["Authorization"].split()[1]


@pytest.mark.parametrize(("route", "canonical"), [
    ({"action": "announcement", "prompt": "tenant:closed"},
     {"action": "announcement", "prompt": "tenant:closed"}),
    ({"prompt": "tenant:closed"}, {"action": "announcement", "prompt": "tenant:closed"}),
    ({"action": "voicemail", "prompt": "tenant:night-vm"},
     {"action": "voicemail", "prompt": "tenant:night-vm"}),
    ({"action": "announcement", "prompt": None}, {"action": "announcement"}),
])
def test_an_after_hours_route_may_name_a_tenant_prompt(
        route: dict[str, Any], canonical: dict[str, Any]) -> None:
    assert after_hours(route) == canonical


@pytest.mark.parametrize(("route", "error_id"), [
    ({"action": "queue", "queue": "night", "prompt": "tenant:closed"}, "invalid-after-hours"),
    ({"action": "announcement", "prompt": "closed"}, "invalid-field"),  # not a tenant's
    ({"action": "announcement", "prompt": "tenant:../../etc/passwd"}, "invalid-field"),
    ({"action": "announcement", "prompt": 7}, "invalid-field"),
])
def test_an_after_hours_prompt_that_is_not_a_tenant_prompt_is_refused(
        route: dict[str, Any], error_id: str) -> None:
    with pytest.raises(Invalid) as refused:
        after_hours(route)
    assert refused.value.error_id == error_id


async def test_a_number_plays_its_tenants_prompt_after_hours_which_stays_while_used(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    acme, globex = bearer(rt, "acme"), bearer(rt, "globex")
    wav = {"Content-Type": "audio/wav"}
    await ok(await client.put("/api/tenants/acme/prompts/closed", data=tone_wav(1.0, 700),
                              headers={**acme, **wav}), 201)
    await ok(await client.put("/api/tenants/globex/prompts/shut", data=tone_wav(1.0, 700),
                              headers={**globex, **wav}), 201)
    # A prompt acme does not have, or globex's, is refused: the number is unchanged.
    for name in ("nope", "shut"):
        await error(await client.put(NUMBER, headers=acme, json={
            "menu": "main", "after_hours": {"action": "announcement", "prompt": f"tenant:{name}"}}),
            422, "unknown-prompt")
    assert "after_hours" not in await ok(await client.get(NUMBER, headers=acme))

    changed = await ok(await client.put(NUMBER, headers=acme, json={
        "menu": "main", "after_hours": {"action": "announcement", "prompt": "tenant:closed"}}))
    assert changed["number"]["after_hours"] == {"action": "announcement", "prompt": "tenant:closed"}
    log = (await ok(await client.get("/api/tenants/acme/audit?limit=1", headers=acme)))["audit"]
    assert log[0]["after"]["after_hours"] == {"action": "announcement", "prompt": "tenant:closed"}

    # In use: not deleted, and still played.
    resp = await client.delete("/api/tenants/acme/prompts/closed", headers=acme)
    await error(resp, 409, "prompt-in-use")
    names = [p["name"] for p in (await ok(await client.get("/api/tenants/acme/prompts",
                                                             headers=acme)))["prompts"]]
    assert names == ["closed"]
    # The number back to ccari's announcement: the prompt can go.
    await ok(await client.put(NUMBER, headers=acme, json={
        "menu": "main", "after_hours": {"action": "announcement"}}))
    await ok(await client.delete("/api/tenants/acme/prompts/closed", headers=acme))


async def test_the_admin_form_sets_the_after_hours_prompt_and_shows_a_refusal(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    await ok(await client.put("/api/tenants/acme/prompts/closed", data=tone_wav(1.0, 700),
                              headers={**ADMIN, "Content-Type": "audio/wav"}), 201)
    csrf = await login(client, ADMIN_TOKEN)
    base = "/admin/tenants/acme"
    resp = await post(client, base + "/numbers", csrf, did="+15550100", menu="main",
                      after_hours_prompt="tenant:<b>gone</b>")
    page = await resp.text()
    assert resp.status == 422 and 'data-error="invalid-field"' in page
    assert "<b>gone</b>" not in page
    resp = await post(client, base + "/numbers", csrf, did="+15550100", menu="main",
                      after_hours_prompt="tenant:gone")
    assert resp.status == 422 and 'data-error="unknown-prompt"' in await resp.text()

    resp = await post(client, base + "/numbers", csrf, did="+15550100", menu="main",
                      after_hours="voicemail", after_hours_prompt="tenant:closed")
    assert resp.status == 303, await resp.text()
    number = await ok(await client.get(NUMBER, headers=ADMIN))
    assert number["after_hours"] == {"action": "voicemail", "prompt": "tenant:closed"}
    page = await (await client.get(base + "?edit=number:15550100")).text()
    assert 'name="after_hours_prompt" type="text" value="tenant:closed"' in page
