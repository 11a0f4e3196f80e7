"""The customers' admin pages: forms through the same model (errors beside the form), names
escaped, CSRF and logins checked, another tenant's customers refused; then in Chromium an
admin adds a customer, imports a small CSV and sees both in the list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from playwright.async_api import Dialog

from ccari.app import Runtime, internal_app
from tests.provisioning.test_http import ADMIN, bearer
from tests.provisioning.test_pages import login, post, refused, session_csrf
from tests.support.browser import chromium
from tests.support.listener import listening

PAGE = "/admin/tenants/acme/customers"


def csv_form(csrf: str, text: str) -> FormData:
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("file", text.encode(), filename="customers.csv", content_type="text/csv")
    return form


async def test_a_customer_added_changed_and_deleted_through_the_forms_escaped(
        client: TestClient, rt: Any) -> None:
    csrf = await login(client, bearer(rt, "acme")["Authorization"].split()[1])
    resp = await post(client, PAGE, csrf, name="<script>alert(1)</script>",
                      email="x@example.com", phones="+44 1632 960001\n+1 415 555 0100",
                      entitlements="tv:gold\nbroadband:basic")
    assert (resp.status, resp.headers["Location"]) == (303, PAGE)
    page = await (await client.get(PAGE, params={"q": "script"})).text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "+441632960001" in page and "tv: gold" in page
    made = (await (await client.get("/api/customers", params={"q": "script"},
                                    headers=bearer(rt, "acme"))).json())["customers"][0]
    # Refused by the model: the page again, the error beside the form, what was typed kept.
    resp = await post(client, PAGE, csrf, name="Bad", email="bad@", phones="", entitlements="")
    text = await resp.text()
    assert resp.status == 422 and 'data-error="bad-email"' in text and 'value="bad@"' in text
    edit = await (await client.get(PAGE, params={"edit": str(made["id"])})).text()
    assert f'name="id" value="{made["id"]}"' in edit
    resp = await post(client, PAGE, csrf, id=str(made["id"]), name="Renamed",
                      email="", phones="+441632960001", entitlements="")
    assert resp.status == 303
    got = await (await client.get(f"/api/customers/{made['id']}", headers=bearer(rt, "acme"))).json()
    assert (got["name"], got["phones"], got["entitlements"]) == ("Renamed", ["441632960001"], [])
    resp = await post(client, f"{PAGE}/{made['id']}/delete", "wrong", )
    await refused(resp, 403, "csrf-failed")
    assert (await post(client, f"{PAGE}/{made['id']}/delete", csrf)).status == 303
    assert (await client.get(f"/api/customers/{made['id']}",
                             headers=bearer(rt, "acme"))).status == 404


async def test_an_import_refused_lists_its_rows_and_the_export_is_the_apis(
        client: TestClient, rt: Any) -> None:
    csrf = await login(client, bearer(rt, "acme")["Authorization"].split()[1])
    resp = await client.post(f"{PAGE}/import", data=csv_form(
        csrf, "name,email,phones,entitlements\nOk,,,\nBad,bad@,,\n"), allow_redirects=False)
    text = await resp.text()
    assert resp.status == 422 and 'data-error="bad-csv"' in text
    assert "row 3: <code>bad-email</code>" in text
    resp = await client.post(f"{PAGE}/import", data=csv_form(
        csrf, "name,email,phones,entitlements\nOk,,+4930123456,\n"), allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, PAGE + "?created=1&updated=0")
    assert "1 created, 0 updated" in await (await client.get(resp.headers["Location"])).text()
    mine = await (await client.get(PAGE + ".csv")).text()
    api = await (await client.get("/api/customers.csv", headers=bearer(rt, "acme"))).text()
    assert mine == api and "Ok,,'+4930123456," in mine
    await refused(await client.post(f"{PAGE}/import", data=csv_form("wrong", "x"),
                                    allow_redirects=False), 403, "csrf-failed")


async def test_pages_of_another_tenant_or_without_login_are_refused(client: TestClient,
                                                                     rt: Any) -> None:
    resp = await client.get(PAGE, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/login")
    await refused(await post(client, PAGE, "x", name="Evil"), 401, "not-logged-in")
    theirs = await (await client.post("/api/customers", params={"tenant": "globex"},
                                      headers=ADMIN, json={"name": "Theirs"})).json()
    csrf = await login(client, bearer(rt, "acme")["Authorization"].split()[1])
    await refused(await client.get("/admin/tenants/globex/customers"), 403, "wrong-tenant")
    await refused(await post(client, "/admin/tenants/globex/customers", csrf, name="Evil"),
                  403, "wrong-tenant")
    # Their id through my tenant's path: not found, and nothing changed.
    await refused(await post(client, f"{PAGE}/{theirs['id']}/delete", csrf),
                  404, "customer-not-found")
    resp = await post(client, PAGE, csrf, id=str(theirs["id"]), name="Mine now")
    assert resp.status == 404 and 'data-error="customer-not-found"' in await resp.text()
    assert (await (await client.get(f"/api/customers/{theirs['id']}", headers=ADMIN,
                                    params={"tenant": "globex"})).json())["name"] == "Theirs"
    assert await session_csrf(client, PAGE) == csrf


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_admin_adds_a_customer_and_imports_a_csv_in_chromium(rt: Runtime,
                                                                      tmp_path: Path) -> None:
    upload = tmp_path / "customers.csv"
    upload.write_text("name,email,phones,entitlements\n"
                      "Linus Import,linus@example.com,+33 1 42 68 53 00,support:gold\n"
                      "Margaret Import,,'+4930123456,\n")
    async with listening(internal_app(rt)) as base:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/admin")
            await page.fill("#login [name=token]", ADMIN["Authorization"].split()[1])
            async with page.expect_navigation():
                await page.click("#login button[type=submit]")
            await page.goto(f"{base}/admin/tenants/acme")
            async with page.expect_navigation():
                await page.click("#customers-link")
            for name, value in {"name": "Grace <b>Hopper</b>", "email": "grace@example.com",
                                "phones": "+1 415 555 0100", "entitlements": "tv:gold"}.items():
                await page.fill(f"#customer-form [name={name}]", value)
            async with page.expect_navigation():
                await page.click("#customer-form button[type=submit]")
            assert await page.locator(".error").count() == 0
            await page.set_input_files("#import-form [name=file]", str(upload))
            async with page.expect_navigation():
                await page.click("#import-form button[type=submit]")
            assert await page.text_content("#import-done") == "Imported: 2 created, 0 updated."
            names = await page.locator("#customers-table .customer-name").all_text_contents()
            assert names == ["Ada Lovelace", "Grace <b>Hopper</b>", "Linus Import",
                             "Margaret Import"]
            row = page.locator("tr", has=page.locator("td:text-is('Linus Import')"))
            assert "+33142685300" in (await row.text_content() or "")
            await page.fill("#customer-search [name=q]", "4930")
            async with page.expect_navigation():
                await page.click("#customer-search button[type=submit]")
            assert await page.locator("#customers-table .customer-name").all_text_contents() == [
                "Margaret Import"]

            async def accept(dialog: Dialog) -> None:
                await dialog.accept()

            page.once("dialog", accept)
            async with page.expect_navigation():
                await page.click("tr:has-text('Margaret Import') form.delete button")
            assert "Margaret Import" not in (await page.text_content("#customers-table") or "")
