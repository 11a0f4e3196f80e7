"""A real Asterisk configured from a ccari database, for tests that need an instance of
their own (and the agents a load needs)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.admission.models import TrunkPool
from ccari.config import Config
from ccari.demo.seed import seed
from ccari.pbx import PbxProcess, provision, start
from ccari.pbx.errors import PbxError
from ccari.pbx.instance import INNER_BASE, instance_paths, pid_of
from ccari.pbx.runtime import NotProvisionedError, find_runtime, remove_tree
from ccari.storage.models import Agent, AgentSkill, Queue
from ccari.tenants import repo as tenants_repo
from ccari.tenants.pbx import spec_from_db
from ccari.web.security import hash_password


def start_from_db(prepare: Callable[[], Awaitable[Config]]) -> PbxProcess:
    """``prepare()`` seeds a database and returns the config pointing at it; the PBX is
    rendered from that database (numbers, agent phones) and started."""

    async def spec():  # type: ignore[no-untyped-def]
        return await spec_from_db(await prepare())

    return start(asyncio.run(spec()), runtime=provision())


def remove_own_instances() -> list[str]:
    """Delete the stopped instances this test process named after itself (``voice<pid>``,
    ``tls<pid>``...): each is about 200 kB of configuration, logs and spool in the PBX
    root, and a suite run makes dozens.  Returns the names deleted."""
    try:
        runtime = find_runtime()
    except NotProvisionedError:
        return []
    base = runtime.host_path(INNER_BASE)
    own = re.compile(rf"[a-z-]+{os.getpid()}")
    removed = []
    for directory in sorted(base.iterdir()) if base.is_dir() else []:
        if not own.fullmatch(directory.name) or pid_of(instance_paths(directory.name, runtime)):
            continue
        try:
            remove_tree(directory)
        except PbxError:
            continue  # something is still mounted there: left as it is
        removed.append(directory.name)
    return removed


def add_phone_agents(s: AsyncSession, tenant_id: int, count: int, *, prefix: str,
                     phone_host: str, phone_port: int, skill: str = "sales") -> None:
    """``count`` ready voice agents with ``skill``, whose phones are one SIPp UAS."""
    pw = hash_password(f"{prefix}-agent")  # one hash for all: scrypt per agent would dominate
    for i in range(count):
        a = Agent(tenant_id=tenant_id, username=f"a{i}", display_name=f"Agent {i}",
                  password_hash=pw, phone_username=f"{prefix}-a{i}",
                  phone_password=f"{prefix}-phone-pw",
                  phone_contact=f"sip:{prefix}-a{i}@{phone_host}:{phone_port}", presence="ready",
                  slots={"per_medium": {"voice": 1}, "total": 1, "exclusive": ["voice"]})
        a.skills = [AgentSkill(name="skill", value=skill, proficiency=5)]
        s.add(a)


async def carry_a_load(s: AsyncSession, cfg: Config, agents: int, *, prefix: str,
                       phone_host: str, phone_port: int) -> None:
    """The demo seeded with ``agents`` more ready sales agents at acme, whose phones are one
    SIPp UAS, and room for every caller: trunk admission (not what a load test is about)
    and wrap-up out of the way."""
    await seed(s, cfg)
    acme = await tenants_repo.by_slug(s, "acme")
    assert acme is not None
    add_phone_agents(s, acme.id, agents, prefix=prefix, phone_host=phone_host,
                     phone_port=phone_port)
    acme.trunk_ratio, acme.after_hours_trunks = 10, 1000
    pool = await s.get(TrunkPool, 1)
    assert pool is not None
    pool.total_trunks = 1000
    for queue in await s.scalars(select(Queue).where(Queue.tenant_id == acme.id)):
        queue.wrap_up_s = 0
    await s.commit()
