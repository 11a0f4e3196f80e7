"""Secrets stay secret: the suite's log watch works, ccari's own logs and its error answers
never show a password, a token or a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url

from ccari.admission.records import AdmissionRecords
from ccari.app import internal_app, public_app, runtime
from ccari.demo.seed import seed
from tests.conftest import _fresh_pg_db
from tests.support.secret_watch import SecretWatch


async def test_the_watch_fails_a_test_whose_logs_hold_a_secret(
        no_secret_in_logs: SecretWatch) -> None:
    watch = no_secret_in_logs
    token = secrets.token_urlsafe(24)  # drawn like every ccari token: known at once
    assert token in watch.known
    logging.getLogger("ccari.example").info("the token is %s", token)
    assert watch.leaks() == [f"ccari.example: {token[:4]}… (32 characters)"]
    try:
        raise RuntimeError(f"failed with {token}")
    except RuntimeError:
        logging.getLogger("ccari.example").exception("in a traceback")
    assert len(watch.leaks()) == 1  # once per logger, whatever the count
    watch.start_test()  # this test's logs are forgotten: it passes
    logging.getLogger("ccari.example").debug("the token is %s…", token[:4])
    assert watch.leaks() == []


@pytest.fixture
async def rt(cfg, sessions) -> Any:
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    async with runtime(cfg, with_pbx=False) as rt:
        rt.demo_secrets = sec  # type: ignore[attr-defined]
        yield rt


async def test_errors_never_echo_a_secret_or_a_traceback(rt, aiohttp_client, monkeypatch) -> None:
    internal = await aiohttp_client(internal_app(rt))
    public = await aiohttp_client(public_app(rt))
    sec: dict[str, str] = rt.demo_secrets
    acme, globex = sec["acme.token"], sec["globex.token"]
    answers = [
        # a wrong or foreign credential is refused without being repeated
        await internal.get("/api/admission/decisions",
                           headers={"Authorization": f"Bearer {acme}x"}),
        await internal.get("/api/admission/decisions",
                           headers={"Authorization": f"Token {globex}"}),
        await internal.get(f"/api/admission/decisions?tenant={acme}",
                           headers={"Authorization": f"Bearer {rt.config.admin_token}"}),
        await public.get("/v1/wait", params={"token": f"{acme}.{globex}"}),
        await public.get("/v1/callbacks/x", headers={"Authorization": f"Bearer {acme}"}),
        # bad input carrying a secret: the error names the field, not the value
        await internal.put("/api/admission/policy", data=f'{{"ratio": "{acme}"}}',
                           headers={"Authorization": f"Bearer {acme}",
                                    "Content-Type": "application/json"}),
        await internal.put("/api/admission/policy", data=f"{{{globex}",
                           headers={"Authorization": f"Bearer {acme}",
                                    "Content-Type": "application/json"}),
    ]

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(AdmissionRecords, "decisions", failing)
    # (a 500 is in no OpenAPI document: this client is not held to them)
    async with TestClient(TestServer(internal_app(rt))) as bare:
        resp = await bare.get("/api/admission/decisions", headers={"Authorization": f"Bearer {acme}"})
        await resp.read()
        answers.append(resp)
    statuses = []
    for resp in answers:
        text = await resp.text()
        statuses.append(resp.status)
        body = await resp.json()
        assert set(body) == {"error", "message"}, text
        for secret in (acme, globex, rt.config.admin_token, rt.config.web.secret_key):
            assert secret not in text and secret[:12] not in text
        assert "Traceback" not in text and "File \"" not in text and "database" not in text
    assert statuses[-1] == 500 and all(400 <= s < 500 for s in statuses[:-1]), statuses


async def test_migrate_logs_its_database_without_the_password(
        pg_server: str, tmp_path: Path, no_secret_in_logs: SecretWatch) -> None:
    password = "pw-" + secrets.token_urlsafe(16)  # trust auth: any password is let in
    url = make_url(await _fresh_pg_db(pg_server)).set(password=password)
    log = tmp_path / "migrate.log"
    no_secret_in_logs.watch_file(log)
    env = {**os.environ, "CCARI_STATE_DIR": str(tmp_path / "var"),
           "CCARI_DATABASE_URL": url.render_as_string(hide_password=False)}
    with log.open("wb") as fh:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ccari", "migrate", env=env, stdout=fh, stderr=fh)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, log.read_text()
    text = log.read_text()
    assert "is up to date" in text and "***" in text  # shown, with its password masked
    assert password not in text
