"""The admin pages on the internal app: login, CSRF, forms through the provisioning model
(errors shown beside the form), escaped names, the audit log, and other tenants refused."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from tests.provisioning.test_http import ADMIN

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def login(client: TestClient, token: str) -> str:
    """Log in through the form; the session's CSRF token."""
    page = await client.get("/admin/login")
    csrf = CSRF.search(await page.text())
    assert csrf is not None
    resp = await client.post("/admin/login", data={"csrf": csrf[1], "token": token},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return await session_csrf(client)


async def session_csrf(client: TestClient, path: str = "/admin") -> str:
    resp = await client.get(path)
    found = CSRF.search(await resp.text())
    assert resp.status == 200 and found is not None
    return found[1]


async def post(client: TestClient, path: str, csrf: str, **form: str):  # type: ignore[no-untyped-def]
    return await client.post(path, data={"csrf": csrf, **form}, allow_redirects=False)


async def refused(resp, status: int, error_id: str) -> None:  # type: ignore[no-untyped-def]
    body = await resp.json()
    assert (resp.status, body["error"]) == (status, error_id), body


async def test_without_a_login_the_pages_send_to_the_login_and_forms_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    resp = await client.get("/admin", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/login")
    resp = await client.get("/admin/tenants/acme", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/login")
    await refused(await post(client, "/admin/tenants", "x", slug="evil", name="Evil"),
                  401, "not-logged-in")
    await refused(await post(client, "/admin/tenants/acme/agents/alice/delete", "x"),
                  401, "not-logged-in")


async def test_a_wrong_token_does_not_log_in(client) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/admin/login")
    csrf = CSRF.search(await page.text())
    assert csrf is not None
    resp = await client.post("/admin/login", data={"csrf": csrf[1], "token": "nope"},
                             allow_redirects=False)
    assert resp.status == 401 and "Unknown token." in await resp.text()
    assert (await client.get("/admin", allow_redirects=False)).status == 303


async def test_forms_without_the_sessions_csrf_token_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    await login(client, ADMIN["Authorization"].split()[1])
    await refused(await post(client, "/admin/tenants", "forged", slug="evil", name="Evil"),
                  403, "csrf-failed")
    resp = await client.post("/admin/tenants", data={"slug": "evil", "name": "Evil"})
    await refused(resp, 403, "csrf-failed")
    await refused(await post(client, "/admin/tenants/acme/agents/alice/delete", ""),
                  403, "csrf-failed")
    tenants = await (await client.get("/api/tenants", headers=ADMIN)).json()
    assert "evil" not in {t["slug"] for t in tenants["tenants"]}
    assert "alice" in {a["username"] for a in (await (await client.get(
        "/api/tenants/acme/agents", headers=ADMIN)).json())["agents"]}


async def test_a_tenant_built_in_the_forms_is_the_apis_tenant_and_is_audited(client) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, ADMIN["Authorization"].split()[1])
    resp = await post(client, "/admin/tenants", csrf, slug="initech", name="Initech")
    assert resp.status == 201
    assert re.search(r"shown only now: <code>[\w-]{20,}</code>", await resp.text())
    base = "/admin/tenants/initech"
    for path, form in (
        ("/queues", {"name": "vip", "ring_timeout_s": "20"}),
        ("/menus", {"name": "plans", "options": "1 | new line | plan=new\n2 | upgrade | plan=upgrade"}),
        ("/menus", {"name": "main", "default": "skill=support",
                    "options": "1 | sales | skill=sales | plans\n2 | support | skill=support\n"
                               "3 | call me | | callback"}),
        ("/agents", {"username": "dora", "name": "Dora", "site": "Austin", "role": "agent",
                     "device": "sip", "skills": "skill=sales 8\nplan=new 6",
                     "slots_voice": "1", "slots_chat": "2", "slots_total": "2",
                     "exclusive_voice": "on", "phone_username": "initech-dora",
                     "phone_password": "dora-phone-secret", "web_password": "dora-web-secret"}),
        ("/numbers", {"did": "+1 555 0300", "menu": "main", "queue": "vip"}),
        ("/hours", {"time_zone": "America/Chicago", "weekly": "mon tue wed thu fri 08:00-17:00",
                    "holidays": "2026-12-25\n2026-12-24 08:00-12:00"}),
    ):
        resp = await post(client, base + path, csrf, **form)
        assert resp.status == 303, (path, await resp.text())
    doc = await (await client.get("/api/tenants/initech", headers=ADMIN)).json()
    assert [q["name"] for q in doc["queues"]] == ["main", "vip"]
    assert doc["queues"][1]["ring_timeout_s"] == 20
    menus = {m["name"]: m for m in doc["menus"]}
    assert menus["main"]["default"] == {"skill": "support"}
    assert [(o["digit"], o["attributes"], o["menu"], o["action"]) for o in menus["main"]["options"]] \
        == [("1", {"skill": "sales"}, "plans", None), ("2", {"skill": "support"}, None, None),
            ("3", {}, None, "callback")]
    assert [o["attributes"] for o in menus["plans"]["options"]] == [{"plan": "new"},
                                                                    {"plan": "upgrade"}]
    (dora,) = doc["agents"]
    assert dora["skills"] == [{"name": "plan", "value": "new", "level": 6},
                              {"name": "skill", "value": "sales", "level": 8}]
    assert dora["slots"] == {"per_medium": {"voice": 1, "chat": 2}, "total": 2,
                             "exclusive": ["voice"]}
    assert doc["numbers"] == [{"did": "15550300", "queue": "vip", "menu": "main"}]
    assert doc["hours"]["weekly"] == [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                       "open": "08:00", "close": "17:00"}]
    assert doc["hours"]["holidays"][0] == {"date": "2026-12-24",
                                           "hours": [{"open": "08:00", "close": "12:00"}]}
    page = await (await client.get(base)).text()
    assert "create agent dora" in page and "create menu main" in page  # the audit log

    # Editing an agent: the form comes filled in (without passwords), the change is saved.
    page = await (await client.get(base + "?edit=agent:dora")).text()
    assert 'value="update"' in page and "skill=sales 8" in page and "dora-phone-secret" not in page
    resp = await post(client, base + "/agents", csrf, mode="update", username="dora",
                      name="Dora Q", skills="skill=sales 3", phone_username="initech-dora",
                      phone_password="dora-phone-secret")
    assert resp.status == 303, await resp.text()
    doc = await (await client.get("/api/tenants/initech/agents/dora", headers=ADMIN)).json()
    assert (doc["name"], doc["skills"]) == ("Dora Q", [{"name": "skill", "value": "sales",
                                                         "level": 3}])


async def test_what_the_model_refuses_is_shown_beside_the_form(client) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, ADMIN["Authorization"].split()[1])
    for path, form, status, error_id in (
        ("/agents", {"username": "zed", "name": "Zed", "skills": "skill=sales 11",
                     "phone_username": "acme-zed", "phone_password": "zed-phone-secret",
                     "web_password": "zed-web-secret"}, 422, "invalid-field"),
        ("/agents", {"username": "zed", "name": "Zed", "phone_username": "acme-alice",
                     "phone_password": "zed-phone-secret", "web_password": "zed-web-secret"},
         409, "phone-taken"),
        ("/menus", {"name": "loop", "options": "1 | again | | loop"}, 422, "menu-cycle"),
        ("/numbers", {"did": "15550200"}, 409, "number-taken"),  # globex's
        ("/numbers", {"did": "12"}, 422, "invalid-number"),
        ("/hours", {"time_zone": "Mars/Olympus", "weekly": "mon 09:00-17:00"}, 422,
         "invalid-time-zone"),
        ("/menus/main/delete", {}, 409, "menu-in-use"),
    ):
        resp = await post(client, "/admin/tenants/acme" + path, csrf, **form)
        page = await resp.text()
        assert resp.status == status, (path, page)
        assert f'data-error="{error_id}"' in page, (path, error_id)
    page = await (await client.get("/admin/tenants/acme")).text()
    assert "zed" not in page and "Mars" not in page


async def test_hostile_names_are_shown_as_text(client) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, ADMIN["Authorization"].split()[1])
    hostile = '<img src=x onerror="alert(1)">'
    resp = await post(client, "/admin/tenants", csrf, slug="hostile", name=hostile)
    assert resp.status == 201
    resp = await post(client, "/admin/tenants/hostile/agents", csrf, username="eve",
                      name="<script>alert(2)</script>", site="</td><b>x", skills="skill=<i>x 3",
                      phone_username="hostile-eve", phone_password="eve-phone-secret",
                      web_password="eve-web-secret")
    assert resp.status == 303, await resp.text()
    for path in ("/admin", "/admin/tenants/hostile"):
        page = await (await client.get(path)).text()
        assert "<img src=x" not in page and "<script>alert" not in page and "<i>x" not in page
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    page = await (await client.get("/admin/tenants/hostile")).text()
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "skill=&lt;i&gt;x (3)" in page


async def test_a_tenants_login_sees_only_its_own_tenant(rt, client) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, rt.demo_secrets["acme.token"])
    resp = await client.get("/admin", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/tenants/acme")
    await refused(await client.get("/admin/tenants/globex"), 403, "wrong-tenant")
    await refused(await client.get("/admin/tenants/nosuch"), 403, "wrong-tenant")
    await refused(await post(client, "/admin/tenants/globex/agents/carol/delete", csrf),
                  403, "wrong-tenant")
    await refused(await post(client, "/admin/tenants/globex/queues", csrf, name="x"),
                  403, "wrong-tenant")
    await refused(await post(client, "/admin/tenants", csrf, slug="mine", name="Mine"),
                  403, "admin-only")
    await refused(await post(client, "/admin/tenants/acme/numbers", csrf, did="15550999"),
                  403, "admin-only")
    # Another tenant's object named under its own tenant is not there.
    resp = await post(client, "/admin/tenants/acme/agents/carol/delete", csrf)
    assert resp.status == 404 and 'data-error="agent-not-found"' in await resp.text()
    carol = await client.get("/api/tenants/globex/agents/carol", headers=ADMIN)
    assert carol.status == 200
    # Its own changes are audited under its name.
    resp = await post(client, "/admin/tenants/acme/queues", csrf, name="night")
    assert resp.status == 303
    audit = await (await client.get("/api/tenants/acme/audit", headers=ADMIN)).json()
    assert (audit["audit"][0]["actor"], audit["audit"][0]["key"]) == ("tenant:acme", "night")
