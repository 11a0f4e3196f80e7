"""The admin pages' tenant settings: the recording policy, fair blending's hold, the wrap-up
codes and a number's own business hours, through the same model as the API (what it refuses
shown beside the form, escaped), audited, and another tenant's refused."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from ccari.provisioning import codes
from ccari.provisioning.http import PROVISIONING
from tests.provisioning.test_http import ADMIN, bearer, error, ok
from tests.provisioning.test_pages import login, post, refused

ADMIN_TOKEN = ADMIN["Authorization"].split()[1]
BASE = "/admin/tenants/acme"


async def test_the_settings_set_in_the_forms_are_the_apis_and_are_audited(
        rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, ADMIN_TOKEN)
    for path, form in (
        ("/recording", {"mode": "on-demand", "retention_days": "90", "overrides": "main all",
                        "agent_playback": "1"}),
        ("/blending", {"blend_hold_s": "12.5"}),
        ("/dispositions", {"codes": "sale\nno-sale\n\ncall-back"}),
        ("/numbers", {"did": "+1 555 0100", "menu": "main", "queue": "main",
                      "after_hours": "voicemail", "hours_time_zone": "Europe/London",
                      "hours_weekly": "mon tue wed thu fri 08:00-20:00",
                      "hours_holidays": "2026-12-25"}),
    ):
        resp = await post(client, BASE + path, csrf, **form)
        assert resp.status == 303, (path, await resp.text())
    api = "/api/tenants/acme"
    assert await ok(await client.get(api + "/recording", headers=ADMIN)) == {
        "mode": "on-demand", "retention_days": 90, "queues": {"main": "all"},
        "agent_playback": True}
    assert (await ok(await client.get(api + "/routing", headers=ADMIN)))["routing"][
        "blend_hold_s"] == 12.5
    acme = await client.app[PROVISIONING].tenant_id("acme")
    assert rt.queue.router.rules.hold_for(str(acme)) == 12.5
    assert await ok(await client.get(api + "/dispositions", headers=ADMIN)) == {
        "codes": ["sale", "no-sale", "call-back"], "effective": ["sale", "no-sale", "call-back"]}
    number = await ok(await client.get(api + "/numbers/15550100", headers=ADMIN))
    assert number["hours"] == {"time_zone": "Europe/London",
                               "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                           "open": "08:00", "close": "20:00"}],
                               "holidays": [{"date": "2026-12-25"}]}
    assert number["after_hours"] == {"action": "voicemail"}

    page = await (await client.get(BASE)).text()
    assert re.search(r'id="recording-now">Mode <strong>on-demand</strong>, queue main: all;\s+'
                     r"kept 90 days", page), page
    assert "A call waits 12.5 s" in page
    assert "<code>sale</code>, <code>no-sale</code>, <code>call-back</code>" in page
    assert "own (Europe/London): mon tue wed thu fri 08:00-20:00" in page
    kinds = {e["kind"] for e in (await ok(await client.get(api + "/audit?limit=5",
                                                            headers=ADMIN)))["audit"]}
    assert {"recording", "routing", "dispositions", "number"} <= kinds

    # The number's edit form comes back filled in; emptied hours fall back to the tenant's.
    page = await (await client.get(BASE + "?edit=number:15550100")).text()
    assert 'name="hours_time_zone" type="text" value="Europe/London"' in page
    assert "mon tue wed thu fri 08:00-20:00</textarea>" in page
    resp = await post(client, BASE + "/numbers", csrf, did="+15550100", menu="main")
    assert resp.status == 303
    number = await ok(await client.get(api + "/numbers/15550100", headers=ADMIN))
    assert "hours" not in number and "after_hours" not in number

    # Emptied codes and hold: the node's again.
    for path, form in (("/dispositions", {"codes": ""}), ("/blending", {"blend_hold_s": ""})):
        assert (await post(client, BASE + path, csrf, **form)).status == 303
    node = list(rt.config.voice.dispositions_of("acme"))
    assert await ok(await client.get(api + "/dispositions", headers=ADMIN)) == {
        "codes": None, "effective": node}
    assert (await ok(await client.get(api + "/routing", headers=ADMIN)))["routing"][
        "blend_hold_s"] is None


async def test_what_the_model_refuses_is_shown_beside_the_settings_forms(
        client: TestClient) -> None:
    csrf = await login(client, ADMIN_TOKEN)
    for path, form, status, error_id in (
        ("/recording", {"mode": "sometimes"}, 422, "bad-recording-policy"),
        ("/recording", {"mode": "all", "retention_days": "soon"}, 422, "bad-recording-policy"),
        ("/recording", {"mode": "all", "overrides": "<b>nosuch</b> all"}, 422,
         "bad-recording-policy"),
        ("/recording", {"mode": "all", "overrides": "main"}, 422, "invalid-field"),
        ("/blending", {"blend_hold_s": "-1"}, 422, "invalid-field"),
        ("/blending", {"blend_hold_s": "a while"}, 422, "invalid-field"),
        ("/dispositions", {"codes": "Sale!"}, 422, "invalid-field"),
        ("/dispositions", {"codes": "sale\nsale"}, 422, "duplicate"),
        ("/numbers", {"did": "+15550100", "hours_time_zone": "Mars/Olympus",
                      "hours_weekly": "mon 09:00-17:00"}, 422, "invalid-time-zone"),
        ("/numbers", {"did": "+15550100", "hours_time_zone": "UTC",
                      "hours_weekly": "mon 18:00-09:00"}, 422, "inverted-hours"),
    ):
        resp = await post(client, BASE + path, csrf, **form)
        page = await resp.text()
        assert resp.status == status, (path, form, page)
        assert f'data-error="{error_id}"' in page, (path, form, error_id)
        assert "<b>nosuch</b>" not in page
    api = "/api/tenants/acme"
    assert await ok(await client.get(api + "/recording", headers=ADMIN)) is None
    assert (await ok(await client.get(api + "/dispositions", headers=ADMIN)))["codes"] is None
    assert "hours" not in await ok(await client.get(api + "/numbers/15550100", headers=ADMIN))


async def test_a_refused_queue_name_is_shown_escaped(client: TestClient) -> None:
    csrf = await login(client, ADMIN_TOKEN)
    resp = await post(client, BASE + "/recording", csrf, mode="all",
                      overrides='<img src=x onerror="alert(1)"> all')
    page = await resp.text()
    assert resp.status == 422 and "<img src=x" not in page
    assert "&lt;img src=x onerror=" in page


async def test_a_tenants_login_sets_its_own_settings_only(rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, rt.demo_secrets["acme.token"])
    assert (await post(client, BASE + "/dispositions", csrf, codes="sale")).status == 303
    for path, form in (("/recording", {"mode": "all"}), ("/blending", {"blend_hold_s": "1"}),
                       ("/dispositions", {"codes": "sale"})):
        await refused(await post(client, "/admin/tenants/globex" + path, csrf, **form),
                      403, "wrong-tenant")
    assert await ok(await client.get("/api/tenants/globex/recording", headers=ADMIN)) is None
    assert (await ok(await client.get("/api/tenants/globex/dispositions",
                                      headers=ADMIN)))["codes"] is None
    log = (await ok(await client.get("/api/tenants/acme/audit?limit=1", headers=ADMIN)))["audit"]
    assert (log[0]["actor"], log[0]["kind"], log[0]["after"]) == (
        "tenant:acme", "dispositions", {"codes": ["sale"]})


# ---- the wrap-up codes over the API ------------------------------------------------------------
@pytest.mark.parametrize(("body", "error_id"), [
    ({"codes": []}, "invalid-field"),
    ({"codes": ["ok", "ok"]}, "duplicate"),
    ({"codes": ["Has Space"]}, "invalid-field"),
    ({"codes": ["x" * 41]}, "invalid-field"),
    ({"codes": [7]}, "invalid-field"),
    ({"codes": "sale"}, "invalid-field"),
    ({}, "invalid-field"),
    ({"codes": ["ok"], "more": 1}, "unknown-field"),
    (["ok"], "invalid-field"),
])
async def test_bad_codes_are_refused(rt, client: TestClient, body: object,
                                     error_id: str) -> None:  # type: ignore[no-untyped-def]
    await error(await client.put("/api/tenants/acme/dispositions", json=body,
                                 headers=bearer(rt, "acme")), 422, error_id)


@pytest.mark.parametrize(("body", "codes_out"), [
    ({"codes": None}, None),
    ({"codes": ["a"]}, ["a"]),
    ({"codes": ["sale", "no-sale", "follow_up", "x" * 40]}, ["sale", "no-sale", "follow_up",
                                                             "x" * 40]),
    ({"codes": [f"c{i}" for i in range(codes.MAX_CODES)]},
     [f"c{i}" for i in range(codes.MAX_CODES)]),
])
def test_codes_parse(body: object, codes_out: list[str] | None) -> None:
    assert codes.codes(body) == codes_out


async def test_the_agent_page_offers_the_tenants_own_codes(rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    await ok(await client.put("/api/tenants/acme/dispositions", headers=bearer(rt, "acme"),
                              json={"codes": ["sale", "no-sale"]}))
    page = await agent_page(rt, client, "acme", "alice")
    assert offered(page) == ["sale", "no-sale"]
    page = await agent_page(rt, client, "globex", "carol")  # globex keeps the node's
    assert offered(page) == list(rt.config.voice.dispositions_of("globex"))


def offered(page: str) -> list[str]:
    """The codes of the wrap-up's drop-down."""
    select = page.split('class="disposition"', 1)[1].split("</select>", 1)[0]
    return re.findall(r"<option>([^<]+)</option>", select)


async def agent_page(rt, client: TestClient, tenant: str, username: str) -> str:  # type: ignore[no-untyped-def]
    """The agent page of an agent logged in through the login form."""
    form = await (await client.get("/agent/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    resp = await client.post("/agent/login", allow_redirects=False, data={
        "csrf": csrf[1], "tenant": tenant, "username": username,
        "password": rt.demo_secrets[f"{tenant}.{username}.web"]})
    assert resp.status == 303, await resp.text()
    return await (await client.get("/agent")).text()
