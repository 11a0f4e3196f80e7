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
