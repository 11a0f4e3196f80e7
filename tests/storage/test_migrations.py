"""The Alembic history: one head, and the models and the migrations say the same thing."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.script import ScriptDirectory

from ccari.storage.db import alembic_config


def test_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_heads()
    assert len(heads) == 1, f"several heads {heads}: add a merge revision"


async def test_models_match_the_migrations_then_downgrade_to_base(db_url: str) -> None:
    cfg = alembic_config(db_url)  # db_url is already upgraded to head
    await asyncio.to_thread(command.check, cfg)  # raises if autogenerate would add anything
    await asyncio.to_thread(command.downgrade, cfg, "base")
    await asyncio.to_thread(command.upgrade, cfg, "heads")


async def test_upgrading_gives_agents_who_take_web_work_a_voicemail_slot(db_url: str, cfg, sessions) -> None:
    from sqlalchemy import select

    from ccari.demo.seed import seed
    from ccari.storage.models import Agent

    cfg_alembic = alembic_config(db_url)
    async with sessions() as s:
        await seed(s, cfg)
        for agent in await s.scalars(select(Agent)):
            agent.slots = {"per_medium": {"voice": 1, "email": 2}, "total": 2}
        first = await s.scalar(select(Agent).order_by(Agent.id))
        first.slots = {"per_medium": {"voice": 1}, "total": 1}  # a phone-only agent
        await s.commit()
    await asyncio.to_thread(command.downgrade, cfg_alembic, "0005")
    await asyncio.to_thread(command.upgrade, cfg_alembic, "heads")
    async with sessions() as s:
        slots = {a.id: a.slots["per_medium"] for a in await s.scalars(select(Agent).order_by(Agent.id))}
    phone_only, *web = slots.values()
    assert phone_only == {"voice": 1}
    assert web and all(m == {"voice": 1, "email": 2, "voicemail": 1} for m in web)


async def test_ccaris_own_keys_live_apart_from_the_routing_attributes_and_downgrade_restores_them(
        db_url: str, cfg, sessions) -> None:
    import sqlalchemy as sa
    from sqlalchemy import select

    from ccari.contacts import repo
    from ccari.demo.seed import seed
    from ccari.storage.models import Contact, IvrOption, Tenant

    cfg_alembic = alembic_config(db_url)
    async with sessions() as s:
        await seed(s, cfg)
        acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
        call = await repo.create(s, tenant_id=acme.id, medium="voice", state="completed",
                                 attributes={"skill": "sales", "tier": "gold"},
                                 meta={"ivr": ["9", "1"], "overflow": "voicemail"})
        chat = await repo.create(s, tenant_id=acme.id, medium="chat", state="queued",
                                 attributes={}, meta={"page_url": "https://shop/", "reserved_agent": "2"})
        mail = await repo.create(s, tenant_id=acme.id, medium="email", state="queued",
                                 attributes={"skill": "support"})
        await s.commit()
        ids = {"call": call.id, "chat": chat.id, "mail": mail.id}
    contacts = sa.table("contacts", sa.column("id", sa.String()), sa.column("attributes", sa.JSON()))
    options = sa.table("ivr_options", sa.column("digit", sa.String()), sa.column("attributes", sa.JSON()))

    await asyncio.to_thread(command.downgrade, cfg_alembic, "0006")
    async with sessions() as s:
        old = dict((await s.execute(select(contacts.c.id, contacts.c.attributes))).all())
        digits = dict((await s.execute(select(options.c.digit, options.c.attributes))).all())
    assert old[ids["call"]] == {"skill": "sales", "tier": "gold", "_ivr": ["9", "1"],
                                "_overflow": "voicemail"}
    assert old[ids["chat"]] == {"_page_url": "https://shop/", "_reserved_agent": "2"}
    assert old[ids["mail"]] == {"skill": "support"}
    assert digits["3"] == {"_action": "callback", "skill": "support"}  # "press 3 to be called back"

    await asyncio.to_thread(command.upgrade, cfg_alembic, "heads")
    async with sessions() as s:
        rows = {c.id: c for c in await s.scalars(select(Contact))}
        option = await s.scalar(select(IvrOption).where(IvrOption.digit == "3"))
    assert (rows[ids["call"]].attributes, rows[ids["call"]].meta) == (
        {"skill": "sales", "tier": "gold"}, {"ivr": ["9", "1"], "overflow": "voicemail"})
    assert (rows[ids["chat"]].attributes, rows[ids["chat"]].meta) == (
        {}, {"page_url": "https://shop/", "reserved_agent": "2"})
    assert (rows[ids["mail"]].attributes, rows[ids["mail"]].meta) == ({"skill": "support"}, {})
    assert (option.attributes, option.action) == ({"skill": "support"}, "callback")
