"""``ccari admin``: the same services from the command line, audited as the unix user."""

from __future__ import annotations

import json

import pytest

from ccari.provisioning.cli import main

DOC = """
[tenant]
slug = "initech"
name = "Initech"

[[menus]]
name = "main"
default = { skill = "support" }
options = [ { digit = "1", label = "sales", attributes = { skill = "sales" } } ]

[[numbers]]
did = "+1 555 0300"
menu = "main"

[[agents]]
username = "dora"
name = "Dora"
phone_username = "initech-dora"
phone_password = "dora-phone-secret"
web_password = "dora-web-secret"
skills = [ { name = "skill", value = "sales", level = 9 } ]
"""


async def admin(cfg, capsys, *argv: str):  # type: ignore[no-untyped-def]
    assert await main(cfg, ["--no-sync", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_load_a_tenant_from_toml_then_list_and_add(cfg, tmp_path, capsys) -> None:
    path = tmp_path / "initech.toml"
    path.write_text(DOC)
    loaded = await admin(cfg, capsys, "load", str(path))
    assert loaded["api_token"] and loaded["pbx"] == "off"
    assert loaded["numbers"] == [{"did": "15550300", "queue": "main", "menu": "main"}]
    assert [t["slug"] for t in await admin(cfg, capsys, "tenants", "list")] == ["initech"]
    await admin(cfg, capsys, "numbers", "create", "initech", "+15550301")
    await admin(cfg, capsys, "numbers", "create", "initech", "+15550302", "--fax")
    numbers = await admin(cfg, capsys, "numbers", "list", "initech")
    assert [(n["did"], n.get("purpose")) for n in numbers] == [
        ("15550300", None), ("15550301", None), ("15550302", "fax")]
    agent = tmp_path / "eve.json"
    agent.write_text(json.dumps({"username": "eve", "name": "Eve", "phone_username": "initech-eve",
                                 "phone_password": "eve-phone-secret",
                                 "web_password": "eve-web-secret"}))
    await admin(cfg, capsys, "agents", "create", "initech", str(agent))
    assert [a["username"] for a in await admin(cfg, capsys, "agents", "list", "initech")] == \
        ["dora", "eve"]
    log = await admin(cfg, capsys, "audit", "initech")
    assert {e["actor"].split(":")[0] for e in log} == {"cli"}
    assert (log[0]["kind"], log[0]["key"]) == ("agent", "eve")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_numbers_after_hours_prompt_and_a_queues_greeting_from_the_cli(
        cfg, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from ccari.provisioning.schemas import Invalid
    from tests.provisioning.test_prompts import tone_wav

    await admin(cfg, capsys, "tenants", "create", "initech", "Initech")
    wav = tmp_path / "closed.wav"
    wav.write_bytes(tone_wav(1, 700))
    await admin(cfg, capsys, "prompts", "upload", "initech", "closed", str(wav))
    # A prompt the tenant does not have: the API's error, nothing saved.
    for argv in (["numbers", "create", "initech", "+15550301", "--after-hours-prompt",
                  "tenant:nope"],
                 ["queues", "set", "initech", "main", "--greeting", "tenant:nope"]):
        with pytest.raises(Invalid) as refused:
            await admin(cfg, capsys, *argv)
        assert refused.value.error_id == "unknown-prompt"
    with pytest.raises(Invalid) as refused:  # a queue route plays no prompt
        await admin(cfg, capsys, "numbers", "create", "initech", "+15550301", "--after-hours",
                    "queue:main", "--after-hours-prompt", "tenant:closed")
    assert refused.value.error_id == "invalid-after-hours"
    assert await admin(cfg, capsys, "numbers", "list", "initech") == []

    made = await admin(cfg, capsys, "numbers", "create", "initech", "+15550301",
                       "--after-hours-prompt", "tenant:closed")
    assert made["number"]["after_hours"] == {"action": "announcement", "prompt": "tenant:closed"}
    made = await admin(cfg, capsys, "numbers", "create", "initech", "+15550302",
                       "--after-hours", "voicemail", "--after-hours-prompt", "tenant:closed")
    assert made["number"]["after_hours"] == {"action": "voicemail", "prompt": "tenant:closed"}

    # The queue keeps what the flags do not change.
    await admin(cfg, capsys, "queues", "set", "initech", "main", "--ring-timeout", "20")
    main = (await admin(cfg, capsys, "queues", "set", "initech", "main", "--greeting",
                        "tenant:closed"))["queue"]
    assert (main["ring_timeout_s"], main["greeting"]) == (20, "tenant:closed")
    night = (await admin(cfg, capsys, "queues", "set", "initech", "night"))["queue"]
    assert "greeting" not in night and night["ring_timeout_s"] == 15
    assert [q["name"] for q in await admin(cfg, capsys, "queues", "list", "initech")] == \
        ["main", "night"]
    main = (await admin(cfg, capsys, "queues", "set", "initech", "main", "--no-greeting"))["queue"]
    assert "greeting" not in main and main["ring_timeout_s"] == 20
    log = await admin(cfg, capsys, "audit", "initech")
    assert [(e["kind"], e["key"]) for e in log[:2]] == [("queue", "main"), ("queue", "night")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_tenants_after_hours_route_from_the_cli(cfg, capsys) -> None:  # type: ignore[no-untyped-def]
    from ccari.provisioning.schemas import Invalid

    await admin(cfg, capsys, "tenants", "create", "initech", "Initech")
    with pytest.raises(Invalid) as refused:
        await admin(cfg, capsys, "after-hours", "set", "initech", "queue:night")
    assert refused.value.error_id == "unknown-queue"
    with pytest.raises(Invalid) as refused:
        await admin(cfg, capsys, "after-hours", "set", "initech", "voicemail", "--prompt",
                    "tenant:nope")
    assert refused.value.error_id == "unknown-prompt"
    await admin(cfg, capsys, "queues", "set", "initech", "night")
    assert await admin(cfg, capsys, "after-hours", "set", "initech", "queue:night") == {
        "after_hours": {"action": "queue", "queue": "night"}}
    assert (await admin(cfg, capsys, "after-hours", "show", "initech"))["after_hours"] == {
        "action": "queue", "queue": "night"}
    assert await admin(cfg, capsys, "after-hours", "clear", "initech") == {"after_hours": None}
    log = await admin(cfg, capsys, "audit", "initech")
    assert [(e["kind"], e["action"]) for e in log[:2]] == [("after-hours", "delete"),
                                                           ("after-hours", "create")]
