"""Whether a tenant listens for fax tones is asked for every new call: the answer is read
for every tenant at once and kept a second, and a change made through this node counts at
once (one made on another node within that second)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, cast

import pytest
from sqlalchemy import select

from ccari.config import Config
from ccari.demo.seed import seed
from ccari.fax import services
from ccari.fax.models import FaxPolicy
from ccari.fax.services import FaxService
from ccari.fax.store import FaxStore
from ccari.storage.models import Tenant


async def test_a_tenants_fax_detection_is_read_once_a_second_and_changes_count(
        sessions: Any, cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with sessions() as s:
        await seed(s, cfg)
        await s.commit()
        acme, globex = (await s.scalars(select(Tenant.id).order_by(Tenant.id))).all()[:2]
    now = [1000.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: now[0])
    faxes = FaxService(sessions, cast(Any, None), FaxStore(tmp_path / "fax"), spool=tmp_path,
                       asterisk_spool=PurePosixPath("/spool"), node="node1")
    assert not await faxes.detects_on_voice(acme)

    await faxes.set_policy(acme, detect_on_voice=True)  # through this node: at once
    assert await faxes.detects_on_voice(acme) and not await faxes.detects_on_voice(globex)

    async with sessions() as s:  # another node turns it on for globex
        s.add(FaxPolicy(tenant_id=globex, detect_on_voice=True))
        await s.commit()
    now[0] += services.POLICY_TTL_S / 2
    assert not await faxes.detects_on_voice(globex)  # as read half a second ago
    now[0] += services.POLICY_TTL_S
    assert await faxes.detects_on_voice(globex) and await faxes.detects_on_voice(acme)

    await faxes.set_policy(acme, detect_on_voice=False)
    assert not await faxes.detects_on_voice(acme)
