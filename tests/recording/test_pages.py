"""The contact's page and its recordings' players (no PBX: the stored recordings are made
up; tests/voice/test_recording_page_browser.py plays a real call's in Chromium): who may
open what, the audio served whole or by range, another tenant's always 404."""

from __future__ import annotations

import datetime as dt
import html

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from ccari.app import Runtime
from ccari.contacts import repo
from ccari.recording import files
from ccari.recording.models import Recording
from ccari.storage.models import Agent, Tenant
from tests.provisioning.test_http import bearer, ok
from tests.supervisor.test_supervisor import login
from tests.voicemail.conftest import wav


async def agent_id(rt: Runtime, username: str) -> int:
    async with rt.sessions() as s:
        found = await s.scalar(select(Agent.id).where(Agent.username == username))
    assert found is not None
    return found


async def recorded_call(rt: Runtime, slug: str, agent: str | None, audio: bytes,
                        caller_name: str = "") -> Recording:
    """A completed call of ``agent``, recorded whole by the policy, its file kept."""
    now = dt.datetime.now(dt.UTC)
    on_call = await agent_id(rt, agent) if agent else None
    async with rt.sessions() as s:
        tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None
        contact = await repo.create(s, tenant_id=tenant.id, medium="voice", state="completed",
                                    node=rt.config.node, caller_number="15550199",
                                    caller_name=caller_name or None, agent_id=on_call)
        name = f"rec-{contact.id}-1"
        path = files.relative_path(tenant.id, name)
        row = Recording(id=name, tenant_id=tenant.id, contact_id=contact.id,
                        node=rt.config.node, state="stored", started_at=now, ended_at=now,
                        pauses=[], duration_s=round(len(audio) / 16000, 3), size=len(audio),
                        path=path, sha256=files.write(rt.config.state_path, path, audio))
        s.add(row)
        await repo.log(s, contact, "recording-started", now, recording=name, agent_id=None,
                       on_call=on_call)
        await repo.log(s, contact, "recording-stored", now, recording=name,
                       duration_s=row.duration_s, sha256=row.sha256)
        await s.commit()
    return row


async def test_the_supervisor_plays_a_contacts_recording_whole_or_by_range(
        client: TestClient, rt: Runtime) -> None:
    audio = wav(2.0)
    mine = await recorded_call(rt, "acme", "alice", audio, caller_name="<b>Ada</b>")
    theirs = await recorded_call(rt, "globex", "carol", wav(1.0))
    # Without a session: the page leads to the login form, the audio is refused.
    resp = await client.get(f"/agent/contacts/{mine.contact_id}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/agent/login"
    resp = await client.get(f"/agent/recordings/{mine.id}/audio")
    assert resp.status == 401 and (await resp.json())["error"] == "login-required"

    await login(client, "sam", rt.demo_secrets["acme.sam.web"])  # type: ignore[attr-defined]
    page = await client.get(f"/agent/contacts/{mine.contact_id}")
    assert page.status == 200
    text = await page.text()
    src = f"/agent/recordings/{mine.id}/audio"
    assert f'<audio controls preload="metadata" src="{src}">' in text
    heard = text.split('class="heard">')[1].split("<")[0]
    assert html.unescape(heard) == "15550199, Alice Sales"  # the caller and the agent on the call
    assert "<b>Ada</b>" not in text and "&lt;b&gt;Ada&lt;/b&gt;" in text
    assert 'data-kind="recording-stored"' in text

    whole = await client.get(src)
    assert whole.status == 200 and whole.content_type == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes" and await whole.read() == audio
    part = await client.get(src, headers={"Range": "bytes=1000-1999"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(audio)}"
    assert await part.read() == audio[1000:2000]
    tail = await client.get(src, headers={"Range": "bytes=-44"})
    assert tail.status == 206 and await tail.read() == audio[-44:]
    # A range the player cannot have: said so, with the size to ask again from.
    for wrong in ("bytes=x-y", "bytes=9-1", f"bytes={len(audio)}-"):
        resp = await client.get(src, headers={"Range": wrong})
        assert resp.status == 416 and (await resp.json())["error"] == "bad-range", wrong
        assert resp.headers["Content-Range"] == f"bytes */{len(audio)}"

    # Another tenant's contact and recording are nobody's here.
    for path in (f"/agent/contacts/{theirs.contact_id}", f"/agent/recordings/{theirs.id}/audio"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["error"] in ("contact-not-found", "recording-not-found")

    # A damaged file is not played as if it were the call, range or not.
    (rt.config.state_path / (mine.path or "")).write_bytes(wav(2.0, 300))
    for headers in ({}, {"Range": "bytes=0-99"}):
        resp = await client.get(src, headers=headers)
        assert resp.status == 500 and (await resp.json())["error"] == "recording-damaged"


async def test_an_agent_plays_her_own_contacts_only_where_the_tenant_allows_it(
        client: TestClient, rt: Runtime) -> None:
    hers = await recorded_call(rt, "acme", "alice", wav(1.0))
    bobs = await recorded_call(rt, "acme", "bob", wav(1.0))
    await login(client, "alice", rt.demo_secrets["acme.alice.web"])  # type: ignore[attr-defined]

    async def statuses() -> list[int]:
        return [(await client.get(path)).status for path in (
            f"/agent/contacts/{hers.contact_id}", f"/agent/recordings/{hers.id}/audio",
            f"/agent/contacts/{bobs.contact_id}", f"/agent/recordings/{bobs.id}/audio")]

    assert await statuses() == [404, 404, 404, 404]  # no policy: supervisors only
    policy = {"mode": "all", "retention_days": None, "queues": {}, "agent_playback": True}
    assert await ok(await client.put("/api/tenants/acme/recording", json=policy,
                                     headers=bearer(rt, "acme"))) == policy
    assert await statuses() == [200, 200, 404, 404]
    await ok(await client.put("/api/tenants/acme/recording", headers=bearer(rt, "acme"),
                              json={**policy, "agent_playback": False}))
    assert await statuses() == [404, 404, 404, 404]
