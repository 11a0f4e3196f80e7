"""Renaming and deleting a tenant (the admin's), over the API, the admin pages and the CLI.

Renaming keeps the tenant's id, rows, API token and audit trail.  Deleting is refused (409
``tenant-busy``) while the tenant has live contacts or logged-in agents; then every row of
the tenant goes, the other tenants' stay, and the audit log keeps the deletion."""

from __future__ import annotations

import json
import re

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from ccari.contacts import repo as contacts_repo
from ccari.provisioning.cli import main
from ccari.provisioning.models import AuditEntry
from ccari.storage.models import Agent, Contact, IvrMenu, Number, Queue, Tenant
from tests.provisioning.test_http import ADMIN, bearer, error, ok
from tests.provisioning.test_pages import login, post, refused
from tests.provisioning.test_settings_pages import agent_page

ADMIN_TOKEN = ADMIN["Authorization"].split()[1]


async def rows_of(rt, slug: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """How many rows of each kind the tenant (by its slug's id) has; {} when it is gone."""
    async with rt.sessions() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if tenant_id is None:
            return {}
        return {model.__tablename__: await s.scalar(
            select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
            for model in (Agent, Number, Queue, IvrMenu, Contact)}


async def live_contact(rt, slug: str) -> str:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == slug))
        c = await contacts_repo.create(s, tenant_id=tenant_id, medium="chat", state="queued",
                                       node=rt.config.node, caller_name="Ada")
        await s.commit()
        return c.id


async def end(rt, contact_id: str) -> None:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        c = await s.get(Contact, contact_id)
        assert c is not None
        c.state = "abandoned"
        await s.commit()


async def test_a_rename_keeps_the_tenants_id_rows_token_and_audit_trail(
        rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    before = await rows_of(rt, "acme")
    async with rt.sessions() as s:
        acme_id = await s.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
    await ok(await client.put("/api/tenants/acme/queues/night", headers=ADMIN, json={}))
    renamed = await ok(await client.patch("/api/tenants/acme", headers=ADMIN,
                                          json={"slug": "acme-uk", "name": "Acme UK"}))
    assert renamed == {"tenant": {"slug": "acme-uk", "name": "Acme UK"}, "pbx": "off"}
    await error(await client.get("/api/tenants/acme", headers=ADMIN), 404, "tenant-not-found")
    assert await rows_of(rt, "acme-uk") == before | {"queues": before["queues"] + 1}
    async with rt.sessions() as s:
        assert await s.scalar(select(Tenant.id).where(Tenant.slug == "acme-uk")) == acme_id
    # Its own token still works, under the new slug; the audit trail is whole.
    mine = await ok(await client.get("/api/tenants", headers=bearer(rt, "acme")))
    assert mine == {"tenants": [{"slug": "acme-uk", "name": "Acme UK"}]}
    log = (await ok(await client.get("/api/tenants/acme-uk/audit", headers=bearer(rt, "acme"))
                    ))["audit"]
    assert [(e["action"], e["kind"], e["key"]) for e in log[:2]] == [
        ("rename", "tenant", "acme-uk"), ("create", "queue", "night")]
    assert (log[0]["before"], log[0]["after"]) == ({"slug": "acme", "name": "Acme Broadband"},
                                                   {"slug": "acme-uk", "name": "Acme UK"})
    # The name alone; then refusals.
    await ok(await client.patch("/api/tenants/acme-uk", headers=ADMIN, json={"name": "Acme"}))
    await error(await client.patch("/api/tenants/acme-uk", headers=ADMIN,
                                   json={"slug": "globex"}), 409, "tenant-exists")
    await error(await client.patch("/api/tenants/acme-uk", headers=ADMIN,
                                   json={"slug": "Not A Slug"}), 422, "invalid-field")
    await error(await client.patch("/api/tenants/acme-uk", headers=ADMIN,
                                   json={"colour": "red"}), 422, "unknown-field")
    await error(await client.patch("/api/tenants/acme-uk", headers=bearer(rt, "acme"),
                                   json={"name": "Mine"}), 403, "admin-only")
    await error(await client.patch("/api/tenants/globex", headers=bearer(rt, "acme"),
                                   json={"name": "Mine"}), 403, "wrong-tenant")
    assert (await ok(await client.get("/api/tenants/globex", headers=ADMIN)))["tenant"][
        "name"] == "Globex Energy"


@pytest.mark.parametrize("busy", ["contact", "agent"])
async def test_a_busy_tenant_is_not_deleted_then_all_its_rows_go_and_only_its(
        rt, client: TestClient, busy: str) -> None:  # type: ignore[no-untyped-def]
    globex = await rows_of(rt, "globex")
    acme = await rows_of(rt, "acme")
    assert acme["agents"] and acme["numbers"] and acme["ivr_menus"]
    if busy == "contact":
        contact = await live_contact(rt, "acme")
    else:
        page = await agent_page(rt, client, "acme", "alice")  # alice logs in
    message = await error(await client.delete("/api/tenants/acme", headers=ADMIN),
                          409, "tenant-busy")
    assert ("1 live contact" if busy == "contact" else "1 logged-in agent") in message
    assert await rows_of(rt, "acme") == acme | ({"contacts": acme["contacts"] + 1}
                                               if busy == "contact" else {})
    if busy == "contact":
        await end(rt, contact)
    else:  # alice logs out
        agent_csrf = re.search(r'action="/agent/logout" class="inline"><input type="hidden" '
                               r'name="csrf" value="([^"]+)"', page)
        assert agent_csrf is not None
        resp = await client.post("/agent/logout", data={"csrf": agent_csrf[1]},
                                 allow_redirects=False)
        assert resp.status == 303
    await error(await client.delete("/api/tenants/acme", headers=bearer(rt, "acme")),
                403, "admin-only")
    assert await ok(await client.delete("/api/tenants/acme", headers=ADMIN)) == {
        "deleted": "acme", "pbx": "off"}
    assert await rows_of(rt, "acme") == {}
    assert await rows_of(rt, "globex") == globex
    await error(await client.get("/api/tenants/acme", headers=ADMIN), 404, "tenant-not-found")
    await error(await client.get("/api/tenants", headers=bearer(rt, "acme")), 401,
                "bad-token")
    async with rt.sessions() as s:
        kept = (await s.scalars(select(AuditEntry).where(AuditEntry.tenant == "acme")
                                .order_by(AuditEntry.id.desc()))).first()
    assert kept is not None and (kept.action, kept.kind, kept.actor) == ("delete", "tenant",
                                                                          "admin")
    assert kept.before is not None and "alice" in json.dumps(kept.before)
    assert "phone_password" not in json.dumps(kept.before)


async def test_the_admin_renames_and_deletes_in_the_pages(rt, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    csrf = await login(client, rt.demo_secrets["acme.token"])
    for path, form in (("/rename", {"slug": "mine", "name": "Mine"}), ("/delete", {})):
        await refused(await post(client, "/admin/tenants/acme" + path, csrf, **form),
                      403, "admin-only")
    csrf = await login(client, ADMIN_TOKEN)
    page = await (await client.get("/admin/tenants/globex")).text()
    assert 'id="rename-form"' in page and 'value="globex"' in page
    resp = await post(client, "/admin/tenants/globex/rename", csrf, slug="acme", name="Globex")
    assert resp.status == 409 and 'data-error="tenant-exists"' in await resp.text()
    resp = await post(client, "/admin/tenants/globex/rename", csrf, slug="globex-energy",
                      name="Globex <Energy>")
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/tenants/globex-energy")
    page = await (await client.get("/admin/tenants/globex-energy")).text()
    assert "Globex &lt;Energy&gt;" in page and "rename tenant globex-energy" in page
    await live_contact(rt, "globex-energy")
    resp = await post(client, "/admin/tenants/globex-energy/delete", csrf)
    assert resp.status == 409 and 'data-error="tenant-busy"' in await resp.text()
    async with rt.sessions() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == "globex-energy"))
        for c in await s.scalars(select(Contact).where(Contact.tenant_id == tenant_id)):
            c.state = "completed"
        await s.commit()
    resp = await post(client, "/admin/tenants/globex-energy/delete", csrf)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin")
    page = await (await client.get("/admin")).text()
    assert "globex" not in page.lower() and "acme" in page
    assert await rows_of(rt, "globex-energy") == {}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_cli_renames_and_deletes(rt, cfg, capsys) -> None:  # type: ignore[no-untyped-def]
    async def admin(*argv: str):  # type: ignore[no-untyped-def]
        assert await main(cfg, ["--no-sync", *argv]) == 0
        return json.loads(capsys.readouterr().out)

    out = await admin("tenants", "rename", "globex", "globex2", "--name", "Globex Two")
    assert out == {"tenant": {"slug": "globex2", "name": "Globex Two"}, "pbx": "off"}
    assert await admin("tenants", "delete", "globex2") == {"deleted": "globex2", "pbx": "off"}
    assert [t["slug"] for t in await admin("tenants", "list")] == ["acme"]
    log = await admin("audit", "acme")
    assert all(e["tenant"] == "acme" for e in log)
    async with rt.sessions() as s:
        last = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()))).first()
    assert last is not None and (last.action, last.tenant, last.actor[:4]) == (
        "delete", "globex2", "cli:")
