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
