"""The customers through the REST API: read back what was written, search, refusals with
their stable ids, the audit log, another tenant's customers out of reach, and the CSV
export and all-or-nothing import; an imported customer is who the screen pop finds."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.crm import repo
from ccari.storage.models import Tenant
from tests.provisioning.test_http import ADMIN, bearer

ADA = {"name": "Grace Hopper", "email": "grace@example.com",
       "phones": ["+44 1632 960001", "+1 415 555 0100"],
       "entitlements": [{"service": "broadband", "level": "gold"}]}


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json() if status != 204 else None


async def refused(resp: Any, status: int, error_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert (resp.status, body["error"]) == (status, error_id), body
    return body


async def test_a_customer_is_created_read_searched_changed_and_deleted(client: TestClient,
                                                                       rt: Any) -> None:
    acme = bearer(rt, "acme")
    made = await ok(await client.post("/api/customers", json=ADA, headers=acme), 201)
    assert made == {**ADA, "id": made["id"], "phones": ["14155550100", "441632960001"]}
    assert await ok(await client.get(f"/api/customers/{made['id']}", headers=acme)) == made
    for q in ("hopper", "GRACE@EXAMPLE", "1632 960001", "+1 (415) 555-0100"):
        found = await ok(await client.get("/api/customers", params={"q": q}, headers=acme))
        assert [c["id"] for c in found["customers"]] == [made["id"]], q
    nobody = await ok(await client.get("/api/customers", params={"q": "%"}, headers=acme))
    assert nobody == {"customers": [], "total": 0}  # LIKE wildcards are text
    changed = await ok(await client.put(f"/api/customers/{made['id']}", headers=acme, json={
        "name": "Grace B. Hopper", "phones": ["+441632960001"]}))
    assert (changed["name"], changed["email"], changed["phones"], changed["entitlements"]) == (
        "Grace B. Hopper", None, ["441632960001"], [])
    await ok(await client.delete(f"/api/customers/{made['id']}", headers=acme), 204)
    await refused(await client.get(f"/api/customers/{made['id']}", headers=acme),
                  404, "customer-not-found")
    audit = (await ok(await client.get("/api/tenants/acme/audit", headers=acme)))["audit"]
    entries = [e for e in audit if e["kind"] == "customer"]
    mine = [(e["action"], e["before"], e["after"]) for e in entries]
    assert [a for a, _, _ in mine] == ["delete", "update", "create", "create"]
    assert mine[1][1]["name"] == "Grace Hopper" and mine[1][2]["name"] == "Grace B. Hopper"
    assert [e["actor"].startswith("tenant:") for e in entries] == [True] * 3 + [False]
    # The oldest: the demo's own customer, made by its seed through the same model.
    assert (entries[-1]["actor"], entries[-1]["after"]["name"]) == ("demo", "Ada Lovelace")


async def test_the_list_pages_and_the_admin_names_the_tenant(client: TestClient) -> None:
    for n in range(5):
        await ok(await client.post("/api/customers", params={"tenant": "globex"}, headers=ADMIN,
                                   json={"name": f"Customer {n}"}), 201)
    page = await ok(await client.get("/api/customers", headers=ADMIN, params={
        "tenant": "globex", "q": "customer", "limit": "2", "offset": "2"}))
    assert page["total"] == 5 and [c["name"] for c in page["customers"]] == [
        "Customer 2", "Customer 3"]
    await refused(await client.get("/api/customers", headers=ADMIN), 403, "tenant-required")
    await refused(await client.get("/api/customers", headers=ADMIN,
                                   params={"tenant": "globex", "limit": "x"}), 400, "bad-limit")


@pytest.mark.parametrize(("body", "status", "error_id"), [
    ({**ADA, "email": "ada@"}, 422, "bad-email"),
    ({**ADA, "phones": ["not a phone"]}, 422, "bad-phone"),
    ({**ADA, "name": ""}, 422, "bad-name"),
    ({**ADA, "entitlements": [{"service": "tv"}]}, 422, "bad-entitlement"),
    ({**ADA, "phones": ["+1 415 555 0100", "+33 1 42 68 53 00"]}, 409, "phone-taken"),
])
async def test_what_cannot_be_taken_is_refused_and_nothing_changes(
        client: TestClient, rt: Any, body: dict[str, Any], status: int, error_id: str) -> None:
    acme = bearer(rt, "acme")
    first = await ok(await client.post("/api/customers", json={
        "name": "First", "phones": ["+14155550100"]}, headers=acme), 201)
    before = await ok(await client.get("/api/customers", headers=acme))
    await refused(await client.post("/api/customers", json=body, headers=acme), status, error_id)
    if error_id == "phone-taken":  # the number stays with its owner on a change too
        other = await ok(await client.post("/api/customers", json={"name": "Other"},
                                           headers=acme), 201)
        await refused(await client.put(f"/api/customers/{other['id']}", json=body, headers=acme),
                      409, "phone-taken")
        await ok(await client.delete(f"/api/customers/{other['id']}", headers=acme), 204)
    assert await ok(await client.get("/api/customers", headers=acme)) == before
    assert first in before["customers"]


async def test_another_tenants_customer_is_not_found(client: TestClient, rt: Any) -> None:
    theirs = await ok(await client.post("/api/customers", params={"tenant": "globex"},
                                        headers=ADMIN, json=ADA), 201)
    acme = bearer(rt, "acme")
    for method in ("GET", "PUT", "DELETE"):
        resp = await client.request(method, f"/api/customers/{theirs['id']}", headers=acme,
                                    json={"name": "Mine now"} if method == "PUT" else None)
        await refused(resp, 404, "customer-not-found")
    await refused(await client.get("/api/customers", params={"tenant": "globex"}, headers=acme),
                  403, "wrong-tenant")
    # acme may use the same number: a phone is unique within a tenant.
    await ok(await client.post("/api/customers", json=ADA, headers=acme), 201)
    assert await ok(await client.get(f"/api/customers/{theirs['id']}", headers=ADMIN,
                                     params={"tenant": "globex"})) == theirs


async def _export(client: TestClient, headers: dict[str, str]) -> str:
    resp = await client.get("/api/customers.csv", headers=headers)
    assert resp.status == 200 and resp.content_type == "text/csv"
    return await resp.text()


async def test_export_then_import_into_an_empty_tenant_gives_the_same_customers(
        client: TestClient, rt: Any) -> None:
    acme = bearer(rt, "acme")
    await ok(await client.post("/api/customers", json=ADA, headers=acme), 201)
    await ok(await client.post("/api/customers", headers=acme, json={
        "name": "=HYPERLINK(\"http://evil\")", "email": "-x@example.com"}), 201)
    text = await _export(client, acme)
    assert "'=HYPERLINK" in text and "'-x@example.com" in text
    globex = {"tenant": "globex"}
    assert (await ok(await client.get("/api/customers", headers=ADMIN, params=globex)))[
        "total"] == 0
    csv_in = {**ADMIN, "Content-Type": "text/csv"}
    counts = await ok(await client.post("/api/customers/import", data=text.encode(),
                                        headers=csv_in, params=globex))
    assert counts == {"created": 3, "updated": 0, "unchanged": 0}  # with the demo's Ada
    resp = await client.get("/api/customers.csv", headers=ADMIN, params=globex)
    assert await resp.text() == text
    # Again: every row matches its customer and nothing changes.
    again = await ok(await client.post("/api/customers/import", data=text.encode(),
                                       headers=csv_in, params=globex))
    assert again == {"created": 0, "updated": 0, "unchanged": 3}


async def test_an_import_updates_by_phone_or_email_and_is_all_or_nothing(
        client: TestClient, rt: Any) -> None:
    acme = {**bearer(rt, "acme"), "Content-Type": "text/csv"}
    ada = await ok(await client.post("/api/customers", json=ADA, headers=acme), 201)
    bob = await ok(await client.post("/api/customers", headers=acme, json={
        "name": "Bob", "email": "bob@example.com"}), 201)
    before = await ok(await client.get("/api/customers", headers=acme))
    bad = ("name,email,phones,entitlements\n"
           "Ada L.,,+441632960001,tv:gold\n"
           "Carl,carl@,,\n"                                    # row 3
           "Dora,,+14155550100;+33142685300,\n"                # row 4: Grace's other number
           "Eve,,+33142685300,\n")                             # row 5: row 4's number
    body = await refused(await client.post("/api/customers/import", data=bad, headers=acme),
                         422, "bad-csv")
    assert [(r["row"], r["error"]) for r in body["rows"]] == [
        (2, "duplicate-row"), (3, "bad-email"), (4, "duplicate-row"), (5, "duplicate-row")]
    assert "row 3" in body["message"]
    assert await ok(await client.get("/api/customers", headers=acme)) == before
    both = ("name,email,phones,entitlements\n"
            "Ada L.,,+441632960001;+33142685300,tv:gold\n"
            "Robert,BOB@example.com,+4930123456,\n"
            "Carl,carl@example.com,,\n")
    counts = await ok(await client.post("/api/customers/import", data=both, headers=acme))
    assert counts == {"created": 1, "updated": 2, "unchanged": 0}
    now = {c["id"]: c for c in (await ok(await client.get("/api/customers", headers=acme)))["customers"]}
    assert now[ada["id"]]["phones"] == ["33142685300", "441632960001"]  # its own, kept
    assert now[ada["id"]]["email"] is None  # the row says none: the record is the row
    assert (now[bob["id"]]["name"], now[bob["id"]]["phones"]) == ("Robert", ["4930123456"])
    conflict = ("name,email,phones,entitlements\n"
                "Mix,,+33142685300;+4930123456,\n")            # Ada's and Bob's numbers
    body = await refused(await client.post("/api/customers/import", data=conflict,
                                           headers=acme), 422, "bad-csv")
    assert [(r["row"], r["error"]) for r in body["rows"]] == [(2, "phone-taken")]


async def test_an_import_too_large_or_not_utf8_is_refused(client: TestClient, rt: Any) -> None:
    acme = {**bearer(rt, "acme"), "Content-Type": "text/csv"}
    await refused(await client.post("/api/customers/import", headers=acme,
                                    data=b"name,email,phones,entitlements\n\xff,,,\n"),
                  422, "bad-csv")
    limit = rt.config.crm.import_max_bytes
    big = b"name,email,phones,entitlements\n" + b"x,,,\n" * (limit // 5 + 1)
    await refused(await client.post("/api/customers/import", headers=acme, data=big),
                  413, "csv-too-large")


async def test_the_screen_pop_finds_an_imported_customer_by_the_callers_number(
        client: TestClient, rt: Any) -> None:
    acme = {**bearer(rt, "acme"), "Content-Type": "text/csv"}
    text = "name,email,phones,entitlements\nZoe Caller,,+1 (201) 555-0177,support:platinum\n"
    await ok(await client.post("/api/customers/import", data=text, headers=acme))
    async with rt.sessions() as s:
        acme_id = await s.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
        globex_id = await s.scalar(select(Tenant.id).where(Tenant.slug == "globex"))
        found = await repo.by_phone(s, acme_id, "12015550177")  # as the carrier sends it
        card = repo.card(found)
        assert card is not None and (card["name"], card["entitlements"]) == (
            "Zoe Caller", [{"service": "support", "level": "platinum"}])
        assert await repo.by_phone(s, globex_id, "+12015550177") is None
