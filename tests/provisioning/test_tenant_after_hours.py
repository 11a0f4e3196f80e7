"""A tenant's after-hours route: what its numbers without a route of their own take outside
hours (a number's own wins; without either, ccari's announcement).  Set through the API, the
admin form and the CLI, checked like a number's, audited, and kept from a prompt's deletion."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ccari.provisioning.hours import route_of
from ccari.tenants.directory import AfterHours, NumberDirectory
from ccari.voice.calls import QueueSettings
from tests.provisioning.test_http import ADMIN, bearer, error, ok
from tests.provisioning.test_pages import login, post
from tests.provisioning.test_prompts import tone_wav

AFTER = "/api/tenants/acme/after-hours"
VOICEMAIL = {"action": "voicemail"}
NIGHT = {"action": "queue", "queue": "night"}
CLOSED = {"action": "announcement", "prompt": "tenant:closed"}


@pytest.mark.parametrize(("number", "tenant", "taken"), [
    (None, None, {"action": "announcement"}),   # neither: the built-in announcement
    (None, VOICEMAIL, VOICEMAIL),               # the tenant's for a number without its own
    (None, NIGHT, NIGHT),
    (NIGHT, VOICEMAIL, NIGHT),                  # the number's own wins
    (CLOSED, NIGHT, CLOSED),
    ({"action": "announcement"}, VOICEMAIL, {"action": "announcement"}),  # even the default
])
def test_a_numbers_own_route_wins_over_its_tenants_which_wins_over_the_announcement(
        number: dict[str, Any] | None, tenant: dict[str, Any] | None,
        taken: dict[str, Any]) -> None:
    assert route_of(number, tenant) == taken


async def test_the_tenants_route_is_checked_audited_and_taken_by_numbers_without_their_own(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    acme, globex = bearer(rt, "acme"), bearer(rt, "globex")
    assert await ok(await client.get(AFTER, headers=acme)) == {"after_hours": None}
    await ok(await client.put("/api/tenants/globex/queues/night", headers=globex, json={}))
    for body, error_id in ((NIGHT, "unknown-queue"),  # globex's queue, not acme's
                           ({"action": "queue"}, "invalid-field"),
                           ({"action": "hang-up"}, "invalid-after-hours"),
                           ({"action": "queue", "queue": "main", "prompt": "tenant:closed"},
                            "invalid-after-hours"),
                           (CLOSED, "unknown-prompt")):
        await error(await client.put(AFTER, headers=acme, json=body), 422, error_id)
    await error(await client.put("/api/tenants/globex/after-hours", headers=acme,
                                 json=VOICEMAIL), 403, "wrong-tenant")
    assert await ok(await client.get(AFTER, headers=acme)) == {"after_hours": None}

    await ok(await client.put("/api/tenants/acme/queues/night", headers=acme, json={}))
    assert await ok(await client.put(AFTER, headers=acme, json=NIGHT)) == {"after_hours": NIGHT}
    log = (await ok(await client.get("/api/tenants/acme/audit?limit=1", headers=acme)))["audit"]
    assert (log[0]["kind"], log[0]["action"], log[0]["before"], log[0]["after"]) == (
        "after-hours", "create", None, NIGHT)
    directory = NumberDirectory(rt.sessions, QueueSettings.of(None, rt.config.voice))
    route = await directory.route("15550100")  # acme's number, no route of its own
    assert route is not None and route.after_hours.action == "queue"
    assert route.after_hours.queue_id is not None
    # A number's own route still wins.
    await ok(await client.put("/api/tenants/acme/numbers/15550100", headers=acme, json={
        "menu": "main", "after_hours": VOICEMAIL}))
    directory.invalidate()
    route = await directory.route("15550100")
    assert route is not None and route.after_hours == AfterHours("voicemail")
    assert (await directory.route("15550200")).after_hours == AfterHours()  # type: ignore[union-attr]

    # A prompt the tenant's route plays stays while it does.
    await ok(await client.put("/api/tenants/acme/prompts/closed", data=tone_wav(1.0, 700),
                              headers={**acme, "Content-Type": "audio/wav"}), 201)
    await ok(await client.put(AFTER, headers=acme, json=CLOSED))
    await error(await client.delete("/api/tenants/acme/prompts/closed", headers=acme), 409,
                "prompt-in-use")
    assert await ok(await client.delete(AFTER, headers=acme)) == {"after_hours": None}
    await ok(await client.delete("/api/tenants/acme/prompts/closed", headers=acme))
    log = (await ok(await client.get("/api/tenants/acme/audit?limit=3", headers=acme)))["audit"]
    assert [(e["kind"], e["action"]) for e in log] == [
        ("prompt", "delete"), ("after-hours", "delete"), ("after-hours", "update")]


async def test_the_admin_form_sets_the_tenants_route_and_shows_a_refusal(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, ADMIN["Authorization"].split()[1])
    base = "/admin/tenants/acme"
    resp = await post(client, base + "/after-hours", csrf, after_hours="queue",
                      after_hours_queue="<b>x</b>")
    page = await resp.text()
    assert resp.status == 422 and 'data-error="invalid-field"' in page and "<b>x</b>" not in page
    resp = await post(client, base + "/after-hours", csrf, after_hours="voicemail")
    assert resp.status == 303, await resp.text()
    assert await ok(await client.get(AFTER, headers=ADMIN)) == {"after_hours": VOICEMAIL}
    page = await (await client.get(base)).text()
    assert "Numbers without their own route: <strong>voicemail</strong>" in page
    assert '<option selected>voicemail</option>' in page
    resp = await post(client, base + "/after-hours", csrf, after_hours="")  # the announcement
    assert resp.status == 303, await resp.text()
    assert await ok(await client.get(AFTER, headers=ADMIN)) == {"after_hours": None}
