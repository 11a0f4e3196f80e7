"""A real Asterisk of its own for the fax tests, with acme's fax number, and ccari on it.

The remote fax machine is the same Asterisk: an AMI ``Originate`` of a Local channel to the
fax number, through the carrier's context, whose other end runs ``SendFax()`` on a TIFF
generated here with Pillow (G.711-style audio fax over the Local channel, spandsp at both
ends).  Faxes ccari sends are dialled as Local channels to its own fax number, so ccari's
receiving side is the remote machine that counts their pages.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from ccari.ami import AmiAdapter
from ccari.app import Runtime, runtime, with_secrets
from ccari.config import Config, DatabaseConfig, PbxConfig
from ccari.demo.seed import seed
from ccari.pbx import PbxProcess
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Agent, Number, Queue, Tenant
from tests.support.pbx import start_from_db
from tests.support.sipp import free_port
from tests.support.waits import eventually

FAX_DID = "12015550109"  # acme's fax number (a US number: acme may send faxes to +1)
SENDER = "15550199"  # Ada Lovelace, acme's demo customer
STATION = "ACME TEST 1"


@dataclass(frozen=True)
class FaxEnv:
    state_dir: Path
    pbx_config: PbxConfig

    def config(self, db_url: str) -> Config:
        base = Config(state_dir=str(self.state_dir), admin_token="fax-admin-token")
        return with_secrets(replace(
            base, database=DatabaseConfig(url=db_url), pbx=self.pbx_config,
            web=replace(base.web, secret_key="fax-test-secret"),
            smtp=replace(base.smtp, intake_port=0),
            # Faxes ccari sends go back to its own fax number through the carrier's context.
            fax=replace(base.fax, dial="Local/{digits}@from-carrier")))


async def prepare_db(env: FaxEnv, url: str) -> tuple[Config, dict[str, Any]]:
    """The demo tenants, acme's fax number (its main queue) and alice with a fax slot."""
    await upgrade_async(url)
    cfg = env.config(url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            demo = await seed(s, cfg)
            acme = await s.scalar(select(Tenant).where(Tenant.slug == "acme"))
            assert acme is not None
            queue = await s.scalar(select(Queue).where(Queue.tenant_id == acme.id))
            assert queue is not None
            s.add(Number(tenant_id=acme.id, did=FAX_DID, queue_id=queue.id, purpose="fax"))
            alice = await s.scalar(select(Agent).where(Agent.tenant_id == acme.id,
                                                       Agent.username == "alice"))
            assert alice is not None
            alice.slots = {"per_medium": {"voice": 1, "fax": 1}, "total": 2,
                           "exclusive": ["voice"]}
            await s.commit()
    finally:
        await engine.dispose()
    return cfg, demo


@pytest.fixture(scope="session")
def fax_env(tmp_path_factory: pytest.TempPathFactory) -> FaxEnv:
    name = f"fax{os.getpid()}"
    return FaxEnv(tmp_path_factory.mktemp("fax-state"), PbxConfig(
        instance=name, app_name=f"ccari-{name}", sip_port=free_port("127.0.0.1"),
        ari_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        ami_port=free_port("127.0.0.1", socket.SOCK_STREAM),
        rtp_start=12000, rtp_end=19998, carrier_match=("127.0.0.2",), agent_qualify_s=0))


@pytest.fixture(scope="session")
def fax_pbx(fax_env: FaxEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PbxProcess]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fax-db')}/spec.db"

    async def prepare() -> Config:
        return (await prepare_db(fax_env, url))[0]

    proc = start_from_db(prepare)
    yield proc
    proc.stop()


def _idle(pbx: PbxProcess) -> bool:
    return "0 active channels" in pbx.rx("core show channels count")


@pytest.fixture
async def fax_db(fax_env: FaxEnv, fax_pbx: PbxProcess,
                 tmp_path: Path) -> AsyncIterator[tuple[Config, dict[str, Any]]]:
    yield await prepare_db(fax_env, f"sqlite+aiosqlite:///{tmp_path}/ccari.db")

    async def idle() -> bool:
        return await asyncio.to_thread(_idle, fax_pbx)

    try:
        await eventually(idle, 15, "Asterisk to have no channel left")
    except AssertionError:
        fax_pbx.rx("channel request hangup all")
        raise


@pytest.fixture
async def ccari(fax_db: tuple[Config, dict[str, Any]]) -> AsyncIterator[Runtime]:
    async with runtime(fax_db[0]) as rt:
        yield rt


@pytest.fixture
async def ami(fax_pbx: PbxProcess) -> AsyncIterator[AmiAdapter]:
    spec = fax_pbx.spec
    adapter = AmiAdapter("127.0.0.1", spec.ports.ami, spec.ami_user, spec.ami_secret)
    await adapter.connect()
    yield adapter
    await adapter.close()


def fax_pages(count: int) -> list[Image.Image]:
    """Fax pages as a fax machine sends them: 1728 dots wide, bilevel, each page different."""
    pages = []
    for n in range(1, count + 1):
        page = Image.new("1", (1728, 1100), 1)
        draw = ImageDraw.Draw(page)
        draw.rectangle((100, 100, 1628, 1000), outline=0, width=6)
        for i in range(n):  # n bars: page n is told apart from the others
            draw.rectangle((200 + i * 160, 300, 300 + i * 160, 800), fill=0)
        draw.text((200, 150), f"ccari fax test page {n} of {count}", fill=0)
        pages.append(page)
    return pages


def write_tiff(pbx: PbxProcess, name: str, pages: list[Image.Image]) -> PurePosixPath:
    """A class F TIFF (CCITT group 4, 204x98 dpi) where Asterisk can read it; its path as
    Asterisk sees it."""
    inner = pbx.paths.inner / "spool" / "faxtest" / f"{name}.tif"
    host = pbx.paths.runtime.host_path(inner)
    host.parent.mkdir(parents=True, exist_ok=True)
    pages[0].save(host, save_all=True, append_images=pages[1:], compression="group4",
                  dpi=(204, 98))
    return inner


def cell(text: str, fax_id: str, name: str) -> str:
    """The text of one cell of the fax's row on the fax list page (tags dropped, entities
    read)."""
    row = text.split(f'data-fax="{fax_id}"', 1)[1].split("</tr>", 1)[0]
    inner = row.split(f'class="{name}"', 1)[1].split(">", 1)[1].split("</td>", 1)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inner)).split())
