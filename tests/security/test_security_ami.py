"""The guard's AMI edge against a fake Asterisk manager: security events in (with the
headers Asterisk 22 sends), the ACL written and res_pjsip reloaded, across a lost
connection; informational events and other addresses' failures block nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ccari.ami import AmiAdapter
from ccari.ami.errors import AmiUnavailable
from ccari.ari import ReconnectPolicy
from ccari.config import Config, PbxConfig, SecurityConfig
from ccari.security import services
from ccari.security.facts import Failure
from ccari.security.plugin import watch
from ccari.security.services import SecurityService
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from tests.ami.ami_fake import FakeAmi
from tests.support.waits import eventually


def event(name: str, address: str, account: str = "acme-alice") -> dict[str, str]:
    return {"Event": name, "Privilege": "security,all", "EventTV": "2026-12-04T23:40:00.000+0000",
            "Severity": "Error", "Service": "PJSIP", "EventVersion": "1",
            "AccountID": account, "SessionID": "0x7f0000000001",
            "LocalAddress": "IPV4/UDP/127.0.0.1/5060",
            "RemoteAddress": f"IPV4/UDP/{address}/5061"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    ami = FakeAmi()
    await ami.start()
    yield ami
    await ami.close()


def guard_cfg(tmp_path: Path) -> Config:
    return replace(Config(state_dir=str(tmp_path)),
                   pbx=PbxConfig(mode="external", render_dir=str(tmp_path / "pbx")),
                   security=SecurityConfig(max_failures=2))


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/ccari.db"
    await upgrade_async(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def service(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> SecurityService:
    return SecurityService(sessions, guard_cfg(tmp_path))


async def test_events_block_across_a_lost_connection(
    fake: FakeAmi, service: SecurityService, tmp_path: Path
) -> None:
    port = fake.server.sockets[0].getsockname()[1]

    def make_ami() -> AmiAdapter:
        return AmiAdapter("127.0.0.1", port, fake.username, fake.secret, timeout=1.0,
                          reconnect=ReconnectPolicy(initial=0.02, maximum=0.1),
                          events="system,security")

    task = asyncio.create_task(watch(service, make_ami), name="security:test")
    try:
        await asyncio.wait_for(service.ready.wait(), 5)
        acl = tmp_path / "pbx" / "ccari-acl.conf"
        assert "deny" not in acl.read_text()
        await fake.push(event("ChallengeSent", "192.0.2.1"))  # every REGISTER gets one
        await fake.push(event("ChallengeResponseFailed", "192.0.2.1"))
        await fake.push(event("InvalidAccountID", "192.0.2.2", "scanner"))
        fake.drop_all()  # Asterisk's manager goes away and comes back
        await fake.wait_for(lambda: fake.logins == 2)
        reloads = fake.count("reload")
        await fake.push(event("ChallengeResponseFailed", "192.0.2.1"))
        await fake.wait_for(lambda: fake.count("reload") == reloads + 1)
        assert [a.get("Module") for a in fake.received if a.get("Action") == "Reload"][-1] \
            == "res_pjsip.so"
        assert "deny = 192.0.2.1/32" in acl.read_text()
        assert "192.0.2.2" not in acl.read_text()  # one failure only
        assert service.failures_total == 3 and service.blocks_total == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class FlakyPbx:
    """Asterisk's manager away for the first ``fail`` reloads."""

    def __init__(self, fail: int) -> None:
        self.fail, self.reloads = fail, 0

    async def reload(self, module: str | None = None) -> None:
        self.reloads += 1
        if self.reloads <= self.fail:
            raise AmiUnavailable("AMI down")


async def test_a_reload_that_failed_is_retried_and_a_restart_restores_the_blocks(
    service: SecurityService, sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "RETRY_S", 0.05)
    pbx = FlakyPbx(fail=2)
    await service.start(pbx)  # the first write of the ACL: its reload fails
    task = asyncio.create_task(service.run_expiry(), name="security:test")
    try:
        for _ in range(2):
            await service.on_failure(Failure("InvalidAccountID", "192.0.2.3", "UDP", "x"))

        async def reloaded() -> bool:
            return pbx.reloads >= 3  # two failures, then the retry that went through

        await eventually(reloaded, 5, "the failed reload to be retried")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    acl = tmp_path / "pbx" / "ccari-acl.conf"
    acl.write_text("; lost\n")
    again = SecurityService(sessions, guard_cfg(tmp_path))  # ccari restarted
    await again.start(FlakyPbx(fail=0))
    assert "deny = 192.0.2.3/32" in acl.read_text()
    assert list(again.tracker.blocked(time.time())) == ["192.0.2.3"]
