"""An agent added to the database reaches Asterisk: the managed reload and the AMI reload
that `ccari pbx-sync` uses with an admin's own Asterisk."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ccari.__main__ import _ami_reload
from ccari.config import Config
from ccari.pbx import PbxProcess, render
from ccari.pbx.instance import reload
from ccari.storage.db import make_engine, make_sessionmaker
from ccari.storage.models import Agent, AgentSkill, Tenant
from ccari.tenants.pbx import build_spec
from ccari.web.security import hash_password

pytestmark = pytest.mark.pbx


async def add_agent(cfg: Config, username: str) -> object:
    engine = make_engine(cfg.database.url)
    try:
        async with make_sessionmaker(engine)() as s:
            from sqlalchemy import select

            acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
            agent = Agent(tenant_id=acme.id, username=username, display_name=username,
                          password_hash=hash_password("x"), phone_username=f"acme-{username}",
                          phone_password="new-phone-password")
            agent.skills = [AgentSkill(name="skill", value="sales")]
            s.add(agent)
            await s.commit()
            return await build_spec(s, cfg)
    finally:
        await engine.dispose()


async def endpoint_known(cfg: Config, name: str) -> int:
    p = cfg.pbx
    url = f"http://127.0.0.1:{p.ari_port}/ari/endpoints/PJSIP/{name}"
    async with aiohttp.ClientSession() as http, http.get(
            url, params={"api_key": f"{p.ari_user}:{p.ari_password}"}) as resp:
        return resp.status


async def test_managed_reload_makes_a_new_agent_phone_known(voice_cfg: Config, voice_pbx: PbxProcess):
    assert await endpoint_known(voice_cfg, "acme-dave") == 404
    spec = await add_agent(voice_cfg, "dave")
    commands = await asyncio.to_thread(reload, spec)
    assert "module reload res_pjsip.so" in commands
    assert await endpoint_known(voice_cfg, "acme-dave") == 200


async def test_ami_reload_of_an_external_asterisk(voice_cfg: Config, voice_pbx: PbxProcess):
    assert await endpoint_known(voice_cfg, "acme-erin") == 404
    spec = await add_agent(voice_cfg, "erin")
    # What an admin's Asterisk would read: the rendered files, then a reload over AMI.
    await asyncio.to_thread(render, spec, voice_pbx.paths.etc, voice_pbx.paths.dirs)
    await _ami_reload(voice_cfg)
    assert await endpoint_known(voice_cfg, "acme-erin") == 200
