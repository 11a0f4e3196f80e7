"""The recording policy in provisioning (validated, audited) and a tenant's recordings over
its API: listed, served checked against their checksum, deleted on request or by the
retention; another tenant's is 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.app import Runtime
from ccari.contacts import repo
from ccari.recording import files
from ccari.recording.http import LIBRARY
from ccari.recording.models import Recording
from ccari.storage.models import Tenant
from tests.provisioning.test_http import ADMIN, bearer, error, ok
from tests.voicemail.conftest import wav


async def test_the_policy_is_validated_audited_and_read_back(client: TestClient, rt) -> None:
    acme = bearer(rt, "acme")
    assert await ok(await client.get("/api/tenants/acme/recording", headers=acme)) is None
    message = await error(await client.put("/api/tenants/acme/recording", headers=acme,
                                           json={"mode": "all", "queues": {"nope": "none"}}),
                          422, "bad-recording-policy")
    assert "no queue 'nope'" in message
    await error(await client.put("/api/tenants/acme/recording", headers=acme, data=b"{"),
                400, "bad-json")
    sent = {"mode": "on-demand", "retention_days": 30, "queues": {"main": "all"}}
    policy = {**sent, "agent_playback": False}  # supervisors only, unless it says so
    assert await ok(await client.put("/api/tenants/acme/recording", headers=acme,
                                     json=sent)) == policy
    assert await ok(await client.get("/api/tenants/acme/recording", headers=acme)) == policy
    # Another tenant's policy is not this token's to read or change.
    await error(await client.get("/api/tenants/globex/recording", headers=acme), 403,
                "wrong-tenant")
    [entry, *_] = (await ok(await client.get("/api/tenants/acme/audit", headers=acme)))["audit"]
    assert (entry["kind"], entry["action"], entry["actor"]) == ("recording", "create",
                                                                "tenant:acme")
    assert entry["after"] == policy and entry["before"] is None


async def stored(rt: Runtime, slug: str, started: dt.datetime, audio: bytes) -> Recording:
    """A recording as the recorder leaves it once Asterisk closed it."""
    async with rt.sessions() as s:
        tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None
        contact = await repo.create(s, tenant_id=tenant.id, medium="voice", state="completed",
                                    node=rt.config.node, caller_number="15550199")
        name = f"rec-{contact.id}-1"
        path = files.relative_path(tenant.id, name)
        row = Recording(id=name, tenant_id=tenant.id, contact_id=contact.id,
                        node=rt.config.node, state="stored", started_at=started,
                        ended_at=started, pauses=[[1.0, 2.5]], duration_s=3.0,
                        size=len(audio), path=path,
                        sha256=files.write(rt.config.state_path, path, audio))
        s.add(row)
        await s.commit()
    return row


async def test_a_tenants_recordings_listed_served_and_deleted(client: TestClient, rt) -> None:
    now = dt.datetime.now(dt.UTC)
    audio = wav(3.0)
    mine = await stored(rt, "acme", now, audio)
    theirs = await stored(rt, "globex", now, wav(1.0))
    acme = bearer(rt, "acme")
    listed: dict[str, Any] = await ok(await client.get(
        f"/api/recordings?contact={mine.contact_id}", headers=acme))
    assert listed == {"recordings": [{
        "id": mine.id, "contact_id": mine.contact_id, "state": "stored",
        "started_at": now.isoformat(), "ended_at": now.isoformat(), "duration_s": 3.0,
        "size": len(audio), "sha256": mine.sha256, "pauses": [{"from_s": 1.0, "to_s": 2.5}],
        "audio": f"/api/recordings/{mine.id}/audio"}]}
    assert [r["id"] for r in (await ok(await client.get("/api/recordings", headers=acme)))[
        "recordings"]] == [mine.id]
    resp = await client.get(f"/api/recordings/{mine.id}/audio", headers=acme)
    assert resp.status == 200 and resp.content_type == "audio/wav"
    assert await resp.read() == audio
    # The admin names the tenant; a tenant token never reaches another tenant's.
    assert (await ok(await client.get(f"/api/recordings/{theirs.id}?tenant=globex",
                                      headers=ADMIN)))["id"] == theirs.id
    for method, path in (("GET", ""), ("GET", "/audio"), ("DELETE", "")):
        await error(await client.request(method, f"/api/recordings/{theirs.id}{path}",
                                         headers=acme), 404, "recording-not-found")
    await error(await client.get("/api/recordings"), 401, "token-required")

    # A file that no longer matches its checksum is not served as if it were the call.
    (rt.config.state_path / files.relative_path(mine.tenant_id, mine.id)).write_bytes(wav(3.0, 300))
    await error(await client.get(f"/api/recordings/{mine.id}/audio", headers=acme), 500,
                "recording-damaged")

    # Deletion on request: the file and the row go, the contact's log says so.
    assert await ok(await client.delete(f"/api/recordings/{mine.id}", headers=acme)) == {
        "deleted": mine.id}
    await error(await client.get(f"/api/recordings/{mine.id}", headers=acme), 404,
                "recording-not-found")
    assert not (rt.config.state_path / files.relative_path(mine.tenant_id, mine.id)).exists()
    async with rt.sessions() as s:
        kinds = [(e.kind, e.data) for e in await repo.events(s, mine.tenant_id, mine.contact_id)]
    assert ("recording-deleted", {"recording": mine.id, "by": "tenant"}) in kinds


async def test_the_retention_deletes_what_is_past_the_tenants_days(client: TestClient,
                                                                   rt) -> None:
    now = dt.datetime.now(dt.UTC)
    old = await stored(rt, "acme", now - dt.timedelta(days=31), wav(1.0))
    young = await stored(rt, "acme", now - dt.timedelta(days=29), wav(1.0))
    ageless = await stored(rt, "globex", now - dt.timedelta(days=400), wav(1.0))
    await ok(await client.put("/api/tenants/acme/recording", headers=bearer(rt, "acme"),
                              json={"mode": "all", "retention_days": 30}))
    library = client.app[LIBRARY]
    assert await library.retention_pass() == [old.id]
    async with rt.sessions() as s:
        left = set(await s.scalars(select(Recording.id)))
    assert left == {young.id, ageless.id}
    assert not (rt.config.state_path / (old.path or "")).exists()
