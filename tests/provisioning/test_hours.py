"""Business hours through the provisioning API and ``ccari admin``: a tenant's calendar, a
number's own calendar and after-hours route, what cannot be taken, and the audit log."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from aiohttp.test_utils import TestClient

from ccari.provisioning import schemas as sch
from ccari.provisioning.cli import main
from ccari.provisioning.services import Provisioning
from tests.provisioning.test_http import ADMIN, bearer, error, ok

OFFICE = {"time_zone": "Europe/Paris",
          "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "18:00"},
                     {"days": ["sat"], "open": "22:00", "close": "26:00"}],
          "holidays": [{"date": "2026-12-24", "hours": [{"open": "09:00", "close": "12:00"}]},
                       {"date": "2026-12-25"}]}

NONE = {"hours": None, "open_now": None, "next_change": None}


@pytest.mark.parametrize(("now", "open_now", "next_change"), [
    ("2026-12-07T10:00:00+01:00", True, "2026-12-07T18:00:00+01:00"),  # a Monday
    ("2026-12-24T12:30:00+01:00", False, "2026-12-26T22:00:00+01:00"),  # Christmas Eve, noon
    ("2026-12-27T01:30:00+01:00", True, "2026-12-27T02:00:00+01:00"),  # Saturday's night
])
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_hours_say_whether_the_tenant_is_open_now_and_until_when(
        sessions, now: str, open_now: bool, next_change: str) -> None:
    svc = Provisioning(sessions, clock=lambda: dt.datetime.fromisoformat(now).timestamp())
    await svc.create_tenant("admin", sch.TenantSpec("initech", "Initech"))
    tenant_id = await svc.tenant_id("initech")
    assert await svc.put_hours("admin", tenant_id, OFFICE) == {
        "hours": OFFICE, "open_now": open_now, "next_change": next_change}
    assert await svc.hours(tenant_id) == {
        "hours": OFFICE, "open_now": open_now, "next_change": next_change}


async def test_a_tenant_sets_its_hours_and_a_number_its_own_and_the_audit_log_has_both(
        client: TestClient, rt) -> None:
    acme = bearer(rt, "acme")
    base = "/api/tenants/acme"
    assert await ok(await client.get(f"{base}/hours", headers=acme)) == NONE
    saved = await ok(await client.put(f"{base}/hours", json=OFFICE, headers=acme))
    assert saved["hours"] == OFFICE and isinstance(saved["open_now"], bool)
    assert dt.datetime.fromisoformat(saved["next_change"]).utcoffset() in (
        dt.timedelta(hours=1), dt.timedelta(hours=2))  # Paris time
    assert (await ok(await client.get(base, headers=acme)))["hours"] == OFFICE
    # Unchanged: nothing recorded; changed: before and after.
    await ok(await client.put(f"{base}/hours", json=OFFICE, headers=acme))
    later = {**OFFICE, "holidays": []}
    await ok(await client.put(f"{base}/hours", json=later, headers=acme))

    number = (await ok(await client.get(f"{base}/numbers", headers=acme)))["numbers"][0]
    night = {"time_zone": "UTC", "weekly": [{"days": ["sun"], "open": "00:00", "close": "24:00"}]}
    body = {"queue": number["queue"], "menu": number["menu"], "hours": night,
            "after_hours": {"action": "voicemail"}}
    updated = await ok(await client.put(f"{base}/numbers/{number['did']}", json=body, headers=acme))
    assert updated["number"]["hours"] == {**night, "holidays": []}
    assert updated["number"]["after_hours"] == {"action": "voicemail"}

    await ok(await client.delete(f"{base}/hours", headers=acme))
    assert await ok(await client.get(f"{base}/hours", headers=acme)) == NONE
    log = (await ok(await client.get(f"{base}/audit", headers=ADMIN)))["audit"]
    hours = [(e["action"], e["before"], e["after"]) for e in log if e["kind"] == "hours"]
    assert hours == [("delete", later, None), ("update", OFFICE, later), ("create", None, OFFICE)]
    changed = next(e for e in log if e["kind"] == "number")
    assert changed["actor"] == "tenant:acme"
    assert changed["after"]["after_hours"] == {"action": "voicemail"}
    assert "after_hours" not in changed["before"]


def week(*intervals: tuple[list[str], str, str], zone: str = "UTC") -> dict[str, object]:
    return {"time_zone": zone,
            "weekly": [{"days": d, "open": o, "close": c} for d, o, c in intervals]}


@pytest.mark.parametrize(("body", "error_id"), [
    (week(zone="Mars/Olympus"), "invalid-time-zone"),
    (week(zone="../../etc/passwd"), "invalid-time-zone"),
    ({"weekly": []}, "invalid-time-zone"),
    (week((["mon"], "17:00", "09:00")), "inverted-hours"),
    (week((["mon"], "09:00", "09:00")), "inverted-hours"),
    (week((["mon"], "20:00", "44:01")), "inverted-hours"),  # more than 24 hours
    (week((["mon"], "09:00", "12:00"), (["mon"], "11:00", "13:00")), "overlapping-hours"),
    (week((["fri"], "20:00", "27:00"), (["sat"], "02:00", "05:00")), "overlapping-hours"),
    (week((["sun"], "20:00", "27:00"), (["mon"], "02:00", "05:00")), "overlapping-hours"),
    (week((["mon"], "9:00", "12:00")), "invalid-time"),
    (week((["mon"], "24:00", "25:00")), "invalid-time"),
    (week((["funday"], "09:00", "12:00")), "invalid-field"),
    ({**week(), "holidays": [{"date": "2026-13-01"}]}, "invalid-date"),
    ({**week(), "holidays": [{"date": "2026-12-25"}, {"date": "2026-12-25"}]}, "duplicate"),
    ({**week(), "holidays": [{"date": "2026-12-24", "hours": [
        {"open": "09:00", "close": "12:00"}, {"open": "10:00", "close": "11:00"}]}]},
     "overlapping-hours"),
    ({**week(), "colour": "red"}, "unknown-field"),
])
async def test_a_calendar_ccari_cannot_take_is_refused_and_nothing_changes(
        client: TestClient, rt, body: dict[str, object], error_id: str) -> None:
    acme = bearer(rt, "acme")
    assert await error(await client.put("/api/tenants/acme/hours", json=body, headers=acme),
                       422, error_id)
    assert await ok(await client.get("/api/tenants/acme/hours", headers=acme)) == NONE


@pytest.mark.parametrize(("after_hours", "status", "error_id"), [
    ({"action": "fax"}, 422, "invalid-after-hours"),
    ({"action": "queue"}, 422, "invalid-field"),  # which queue?
    ({"action": "queue", "queue": "night"}, 422, "unknown-queue"),
    ({"action": "voicemail", "queue": "main"}, 422, "invalid-after-hours"),
])
async def test_an_after_hours_route_ccari_cannot_take_is_refused(
        client: TestClient, rt, after_hours: dict[str, str], status: int, error_id: str) -> None:
    acme = bearer(rt, "acme")
    did = (await ok(await client.get("/api/tenants/acme/numbers", headers=acme)))["numbers"][0]["did"]
    await error(await client.put(f"/api/tenants/acme/numbers/{did}",
                                 json={"after_hours": after_hours}, headers=acme), status, error_id)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_cli_sets_shows_and_clears_hours_and_a_number_s_route(
        cfg, tmp_path, capsys) -> None:
    async def admin(*argv: str):  # type: ignore[no-untyped-def]
        assert await main(cfg, ["--no-sync", *argv]) == 0
        return json.loads(capsys.readouterr().out)

    await admin("tenants", "create", "initech", "Initech")
    path = tmp_path / "hours.json"
    path.write_text(json.dumps(OFFICE))
    assert (await admin("hours", "set", "initech", str(path)))["hours"] == OFFICE
    assert (await admin("hours", "show", "initech"))["hours"] == OFFICE
    made = await admin("numbers", "create", "initech", "+15550301", "--after-hours", "queue:main")
    assert made["number"]["after_hours"] == {"action": "queue", "queue": "main"}
    assert await admin("hours", "clear", "initech") == NONE
    log = await admin("audit", "initech")
    assert [(e["kind"], e["action"]) for e in log[:3]] == [
        ("hours", "delete"), ("number", "create"), ("hours", "create")]
    assert {e["actor"].split(":")[0] for e in log} == {"cli"}


async def test_a_whole_tenant_document_carries_its_hours_and_applies_again_unchanged(
        client: TestClient) -> None:
    doc = {"tenant": {"slug": "initech", "name": "Initech"}, "hours": OFFICE,
           "queues": [{"name": "night"}],
           "numbers": [{"did": "+15550301", "after_hours": {"action": "queue", "queue": "night"}},
                       {"did": "+15550302", "hours": {**OFFICE, "holidays": []}}]}
    made = await ok(await client.put("/api/tenants/initech", json=doc, headers=ADMIN), 201)
    assert made["hours"] == OFFICE
    first, second = made["numbers"]
    assert first["after_hours"] == {"action": "queue", "queue": "night"} and "hours" not in first
    assert second["hours"] == {**OFFICE, "holidays": []} and "after_hours" not in second
    before = (await ok(await client.get("/api/tenants/initech/audit", headers=ADMIN)))["audit"]
    again = {k: v for k, v in made.items() if k not in ("api_token", "pbx")}
    assert (await ok(await client.put("/api/tenants/initech", json=again, headers=ADMIN)))[
        "hours"] == OFFICE
    after = (await ok(await client.get("/api/tenants/initech/audit", headers=ADMIN)))["audit"]
    assert after == before  # the same document again: nothing changed, nothing recorded
    wrong = {**doc, "numbers": [{"did": "+15550303", "after_hours": {"action": "queue",
                                                                     "queue": "nope"}}]}
    await error(await client.put("/api/tenants/initech", json=wrong, headers=ADMIN),
                422, "unknown-queue")
