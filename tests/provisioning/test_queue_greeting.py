"""A queue's greeting: one of its tenant's own prompts, named ``tenant:<name>``, checked on save
(a missing one or another tenant's refused), kept from deletion while a queue plays it, and
set in the admin page's queue form."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.provisioning.test_http import ADMIN, bearer, error, ok
from tests.provisioning.test_pages import login, post
from tests.provisioning.test_prompts import tone_wav

ADMIN_TOKEN = ADMIN["Authorization"].split()[1]
WAV = {"Content-Type": "audio/wav"}


async def test_a_queue_greets_with_its_tenants_prompt_which_stays_while_used(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    acme, globex = bearer(rt, "acme"), bearer(rt, "globex")
    await ok(await client.put("/api/tenants/acme/prompts/welcome", data=tone_wav(1.0, 700),
                              headers={**acme, **WAV}), 201)
    await ok(await client.put("/api/tenants/globex/prompts/hello", data=tone_wav(1.0, 700),
                              headers={**globex, **WAV}), 201)
    for greeting, error_id in (("tenant:nope", "unknown-prompt"), ("tenant:hello", "unknown-prompt"),
                               ("welcome", "invalid-field"), ("tenant:../x", "invalid-field")):
        await error(await client.put("/api/tenants/acme/queues/sales", headers=acme,
                                     json={"greeting": greeting}), 422, error_id)
    queues = (await ok(await client.get("/api/tenants/acme/queues", headers=acme)))["queues"]
    assert "sales" not in {q["name"] for q in queues}

    made = await ok(await client.put("/api/tenants/acme/queues/sales", headers=acme,
                                     json={"greeting": "tenant:welcome"}))
    assert made["queue"]["greeting"] == "tenant:welcome"
    await error(await client.delete("/api/tenants/acme/prompts/welcome", headers=acme),
                409, "prompt-in-use")
    plain = await ok(await client.put("/api/tenants/acme/queues/sales", headers=acme, json={}))
    assert "greeting" not in plain["queue"]
    await ok(await client.delete("/api/tenants/acme/prompts/welcome", headers=acme))


async def test_the_admin_queue_form_sets_the_greeting_and_shows_a_refusal(
        client: TestClient) -> None:
    await ok(await client.put("/api/tenants/acme/prompts/welcome", data=tone_wav(1.0, 700),
                              headers={**ADMIN, **WAV}), 201)
    csrf = await login(client, ADMIN_TOKEN)
    resp = await post(client, "/admin/tenants/acme/queues", csrf, name="sales",
                      greeting="tenant:<b>gone</b>")
    page = await resp.text()
    assert resp.status == 422 and 'data-error="invalid-field"' in page and "<b>gone" not in page
    resp = await post(client, "/admin/tenants/acme/queues", csrf, name="sales",
                      greeting="tenant:welcome")
    assert resp.status == 303, await resp.text()
    queues = (await ok(await client.get("/api/tenants/acme/queues", headers=ADMIN)))["queues"]
    assert {"name": "sales", "ring_timeout_s": 15, "wrap_up_s": 5.0, "announce_every_s": 30.0,
            "greeting": "tenant:welcome"} in queues
