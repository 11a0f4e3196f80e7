"""A tenant created, used and deleted leaves nothing: no row of any table names it, its files
(recordings, faxes, its prompts' copies for the PBX) are gone, the router has forgotten it
(its blending hold, what it learnt of its handle times, its agents) and the PBX
configuration no longer lists its number or its agent's phone."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from ccari.app import runtime
from ccari.contacts import repo as contacts_repo
from ccari.fax.store import FaxStore
from ccari.provisioning import cli
from ccari.provisioning.http import PROVISIONING
from ccari.provisioning.prompts import PromptFiles
from ccari.recording import files as recording_files
from ccari.routing import Medium
from ccari.storage import all_models
from ccari.storage.models import Base, Contact, Tenant
from ccari.tenants.cleanup import tenant_dirs, vanished
from ccari.tenants.pbx import build_spec
from tests.provisioning.test_http import ADMIN, agent, ok
from tests.provisioning.test_prompts import tone_wav
from tests.support.waits import eventually

assert all_models  # every context's tables in Base.metadata

PDF = b"%PDF-1.4\n%%EOF\n"
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(days=1)


async def rows_naming(rt, tenant_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows with this tenant_id, by table (the audit log keeps the deletion by design)."""
    found = {}
    async with rt.sessions() as s:
        for table in Base.metadata.sorted_tables:
            if "tenant_id" in table.c and table.name != "audit_log":
                n = await s.scalar(select(func.count()).select_from(table)
                                   .where(table.c.tenant_id == tenant_id))
                if n:
                    found[table.name] = n
    return found


async def pbx_config(rt) -> str:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        return repr(await build_spec(s, rt.config))


async def test_a_deleted_tenant_leaves_no_row_file_router_state_or_pbx_config(
        rt, client: TestClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    service = client.app[PROVISIONING]
    service.prompt_files = prompts = PromptFiles(tmp_path / "pbx-sounds")  # as with the PBX
    made = await ok(await client.post("/api/tenants", headers=ADMIN,
                                      json={"slug": "initech", "name": "Initech"}), 201)
    own = {"Authorization": f"Bearer {made['api_token']}"}
    base = "/api/tenants/initech"
    await ok(await client.put(f"{base}/prompts/hello", data=tone_wav(1, 700),
                              headers={**own, "Content-Type": "audio/wav"}), 201)
    await ok(await client.post(f"{base}/menus", headers=own, json={
        "name": "main", "prompt": "tenant:hello",
        "options": [{"digit": "1", "label": "sales", "attributes": {"skill": "sales"}}]}), 201)
    await ok(await client.post(f"{base}/agents", headers=own, json=agent("dora")), 201)
    await ok(await client.post(f"{base}/numbers", headers=ADMIN,
                               json={"did": "+1 555 0300", "menu": "main"}), 201)
    await ok(await client.put(f"{base}/routing", headers=own, json={"blend_hold_s": 9}))
    tid = await service.tenant_id("initech")
    assert "15550300" in await pbx_config(rt) and "initech-dora" in await pbx_config(rt)

    # Used: dora logs in and out on the agent page, a contact comes and goes (its handle
    # time learnt), a recording and a fax are kept.
    form = await (await client.get("/agent/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    resp = await client.post("/agent/login", allow_redirects=False, data={
        "csrf": csrf[1], "tenant": "initech", "username": "dora", "password": "web-secret-1"})
    assert resp.status == 303, await resp.text()
    page = await (await client.get("/agent")).text()
    out = re.search(r'action="/agent/logout" class="inline"><input type="hidden" '
                    r'name="csrf" value="([^"]+)"', page)
    assert out is not None
    assert (await client.post("/agent/logout", data={"csrf": out[1]},
                              allow_redirects=False)).status == 303
    async with rt.sessions() as s:
        c = await contacts_repo.create(s, tenant_id=tid, medium="chat", state="completed",
                                       node=rt.config.node, caller_name="Ada")
        await s.commit()
    router = rt.queue.router
    for n in range(20):
        router.record_handle_time(str(tid), Medium.CHAT, "*", 30.0 + n)
    recording_files.write(rt.config.state_path, recording_files.relative_path(tid, f"rec-{c.id}"),
                          tone_wav(1, 700))
    FaxStore(rt.config.state_path / "fax").keep_outbound(tid, "send-1", PDF)
    assert all(d.is_dir() for d in tenant_dirs(rt.config.state_path, tid))
    assert prompts.present() == {(tid, "hello")}
    assert router.rules.hold_for(str(tid)) == 9.0
    assert router._stats.handle.samples(str(tid), Medium.CHAT, "*") is not None
    assert (await rows_naming(rt, tid)).keys() >= {"agents", "numbers", "ivr_menus", "queues",
                                                   "contacts", "tenant_prompts"}

    assert (await ok(await client.delete(base, headers=ADMIN)))["deleted"] == "initech"
    assert await rows_naming(rt, tid) == {}
    async with rt.sessions() as s:
        assert await s.get(Contact, c.id) is None
    assert not any(d.exists() for d in tenant_dirs(rt.config.state_path, tid))
    assert prompts.present() == set() and not (prompts.root / str(tid)).exists()
    assert str(tid) not in router.rules.tenant_hold_after
    assert router._stats.handle.samples(str(tid), Medium.CHAT, "*") is None
    assert router.taking_work(str(tid)) == 0 and router.waiting(str(tid)) == []
    config = await pbx_config(rt)
    assert "15550300" not in config and "initech" not in config
    # The other tenants keep theirs.
    assert (await rows_naming(rt, await service.tenant_id("acme"))).keys() >= {"agents",
                                                                               "numbers"}


@pytest.mark.parametrize(("known", "now", "gone"), [
    ({(1, T0), (2, T0)}, {(1, T0), (2, T0)}, []),
    ({(1, T0), (2, T0)}, {(1, T0)}, [2]),
    ({(1, T0), (2, T0)}, {(1, T0), (2, T1)}, [2]),  # id 2 given again: another tenant
    ({(1, T0)}, {(1, T0), (3, T1)}, []),            # a new one is not gone
    (set(), set(), []),
])
def test_a_tenant_is_gone_when_its_id_and_creation_time_are(known, now, gone) -> None:  # type: ignore[no-untyped-def]
    assert vanished(known, now) == gone


async def test_a_tenant_deleted_by_the_cli_is_forgotten_by_the_running_ccari(
        cfg, capsys) -> None:  # type: ignore[no-untyped-def]
    async def admin(*argv: str) -> Any:  # ``ccari admin``: another process, the same database
        assert await cli.main(cfg, ["--no-sync", *argv]) == 0
        return json.loads(capsys.readouterr().out)

    await admin("tenants", "create", "initech", "Initech")
    await admin("tenants", "create", "hooli", "Hooli")
    async with runtime(replace(cfg, tenants_check_s=0.2), with_pbx=False) as rt:
        async with rt.sessions() as s:
            ids = {t.slug: t.id for t in await s.scalars(select(Tenant))}
        router = rt.queue.router
        for tid in ids.values():
            await rt.queue.set_blend_hold(tid, 9)
            for n in range(20):
                router.record_handle_time(str(tid), Medium.CHAT, "*", 30.0 + n)
            FaxStore(rt.config.state_path / "fax").keep_outbound(tid, "send-1", PDF)
        gone, kept = ids["initech"], ids["hooli"]

        assert (await admin("tenants", "delete", "initech"))["deleted"] == "initech"

        async def forgotten() -> bool:
            return str(gone) not in router.rules.tenant_hold_after
        await eventually(forgotten, 5, "the running ccari to forget the deleted tenant")
        assert router._stats.handle.samples(str(gone), Medium.CHAT, "*") is None
        assert not any(d.exists() for d in tenant_dirs(rt.config.state_path, gone))
        # The other tenant keeps all it had.
        assert router.rules.hold_for(str(kept)) == 9.0
        assert router._stats.handle.samples(str(kept), Medium.CHAT, "*") is not None
        assert (rt.config.state_path / "fax" / str(kept)).is_dir()
