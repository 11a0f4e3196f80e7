"""The schema, the demo seed and tenant-scoped lookups, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sqlalchemy import func, select

from ccari.agents import repo as agents_repo
from ccari.contacts import repo as contacts_repo
from ccari.contacts.lifecycle import Fact
from ccari.crm import repo as crm_repo
from ccari.demo.seed import seed, write_manifest
from ccari.storage.models import Agent, Contact, Customer, Tenant, utcnow
from ccari.tenants import repo as tenants_repo
from ccari.web.security import verify_password


async def test_demo_seed_is_idempotent_and_complete(sessions, cfg):
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    async with sessions() as s:
        again = await seed(s, cfg)
        await s.commit()
    assert again == sec
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Tenant)) == 2
        assert await s.scalar(select(func.count()).select_from(Agent)) == 5
        alice = await agents_repo.by_login(s, "acme", "alice")
        assert alice is not None
        assert {(k.name, k.value) for k in alice.skills} == {
            ("skill", "sales"), ("language", "en"), ("tier", "gold")}
        assert verify_password(sec["acme.alice.web"], alice.password_hash)
        assert not verify_password("wrong", alice.password_hash)
        number = await tenants_repo.number_by_did(s, "+15550100")
        assert number is not None and number.tenant_id == alice.tenant_id
        menu = await tenants_repo.menu(s, number.tenant_id, number.ivr_menu_id)
        options = {o.digit: (o.attributes, o.action) for o in menu.options}
        assert options["1"] == ({"skill": "sales"}, None) and options["2"] == ({"skill": "support"}, None)
        assert options["3"] == ({"skill": "support"}, "callback")  # "press 3 to be called back"


async def test_manifest_has_what_a_sip_client_needs(sessions, cfg):
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    path = write_manifest(cfg, sec)
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600  # it holds passwords
    data = json.loads(Path(path).read_text())
    acme = next(t for t in data["tenants"] if t["slug"] == "acme")
    assert acme["numbers"][0]["did"] == "15550100"
    assert {i["digit"]: i["selects"] for i in acme["ivr"]} == {
        "1": {"skill": "sales"}, "2": {"skill": "support"}}
    alice = next(a for a in acme["agents"] if a["username"] == "alice")
    assert alice["sip_username"] == "acme-alice" and alice["sip_password"]
    assert data["carrier"]["source_addresses"] == ["127.0.0.2"]
    assert data["admin_token"] == cfg.admin_token


async def test_lookups_never_cross_tenants(sessions, cfg):
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
    async with sessions() as s:
        acme = await tenants_repo.by_slug(s, "acme")
        globex = await tenants_repo.by_slug(s, "globex")
        alice = await agents_repo.by_login(s, "acme", "alice")
        assert await agents_repo.get(s, globex.id, alice.id) is None
        assert await agents_repo.by_login(s, "globex", "alice") is None
        # The customer is found by any spelling of the number, but only in its tenant.
        for spelling in ("+15550199", "15550199", "+1 555-0199"):
            found = await crm_repo.by_phone(s, acme.id, spelling)
            assert found is not None and found.name == "Ada Lovelace", spelling
        assert await crm_repo.by_phone(s, globex.id, "+15550199") is None
        contact = await contacts_repo.create(
            s, tenant_id=acme.id, medium="voice", state="ivr", arrived_at=utcnow())
        await s.commit()
        assert await contacts_repo.get(s, contact.id, globex.id) is None
        assert (await contacts_repo.get(s, contact.id, acme.id)).id == contact.id


async def test_contact_transitions_are_logged_with_times(sessions, cfg):
    async with sessions() as s:
        await seed(s, cfg)
        acme = await tenants_repo.by_slug(s, "acme")
        t0 = utcnow()
        c = await contacts_repo.create(s, tenant_id=acme.id, medium="voice", state="ivr",
                                       arrived_at=t0, caller_number="15550199")
        await contacts_repo.apply(s, c, Fact.ROUTED, at=t0, queued_at=t0,
                                  attributes={"skill": "sales"})
        await s.commit()
    async with sessions() as s:
        row = await s.get(Contact, c.id)
        assert row.state == "queued" and row.attributes == {"skill": "sales"}
        assert row.queued_at == t0  # aware UTC datetimes survive both backends
        kinds = [e.kind for e in await contacts_repo.events(s, acme.id, c.id)]
        assert kinds == ["created", "queued"]
        assert await s.scalar(select(func.count()).select_from(Customer)) == 1
