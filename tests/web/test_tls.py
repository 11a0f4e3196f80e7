"""HTTPS on both web listeners (``web.tls_cert`` / ``web.tls_key``), with a self-signed
certificate made for the test: pages and API answer over TLS with HSTS, the agent's cookies
are Secure, and plain HTTP on those ports gets nothing."""

from __future__ import annotations

import re
import ssl
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from ccari.app import internal_app, listen, runtime
from ccari.config import Config, WebConfig, load
from ccari.demo.seed import seed
from ccari.errors import ConfigError
from ccari.web.tls import HSTS, server_context
from tests.support.certs import self_signed
from tests.support.sipp import free_tcp_port


def cookies_set(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {h.split("=", 1)[0]: h for h in resp.headers.getall("Set-Cookie", [])}


async def test_both_listeners_speak_https_only_with_hsts_and_secure_cookies(
        cfg: Config, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pem = self_signed(tmp_path / "tls")
    cfg = replace(cfg, web=replace(cfg.web, internal_port=free_tcp_port(),
                                   public_port=free_tcp_port(), tls_cert=str(pem.cert),
                                   tls_key=str(pem.key)))
    async with sessions() as s:
        sec = await seed(s, cfg)
        await s.commit()
    trust = ssl.create_default_context(cafile=str(pem.cert))
    ports = (cfg.web.internal_port, cfg.web.public_port)
    async with runtime(cfg, with_pbx=False) as rt:
        runners = await listen(rt, server_context(cfg.web))
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust),
                                             cookie_jar=aiohttp.CookieJar(unsafe=True)) as https:
                for port in ports:
                    async with https.get(f"https://127.0.0.1:{port}/healthz") as resp:
                        assert resp.status == 200 and await resp.json() == {"status": "ok"}
                        assert resp.headers["Strict-Transport-Security"] == HSTS
                base = f"https://127.0.0.1:{cfg.web.internal_port}"
                async with https.get(f"{base}/agent/login") as resp:
                    form = await resp.text()
                    assert "Secure" in cookies_set(resp)["ccari_login_csrf"]
                csrf = re.search(r'name="csrf" value="([^"]+)"', form)
                assert csrf is not None
                async with https.post(f"{base}/agent/login", allow_redirects=False, data={
                        "csrf": csrf.group(1), "tenant": "acme", "username": "alice",
                        "password": sec["acme.alice.web"]}) as resp:
                    assert resp.status == 303, await resp.text()
                    assert resp.headers["Strict-Transport-Security"] == HSTS  # a redirect too
                    session = cookies_set(resp)["ccari_agent"]
                    assert "Secure" in session and "HttpOnly" in session
                async with https.get(f"{base}/agent", allow_redirects=False) as resp:
                    assert resp.status == 200  # the Secure session cookie came back over TLS
                async with https.get(f"{base}/api/contacts", headers={
                        "Authorization": f"Bearer {sec['acme.token']}"}) as resp:
                    assert resp.status == 200 and "contacts" in await resp.json()
            async with aiohttp.ClientSession() as plain:
                for port in ports:
                    with pytest.raises(aiohttp.ClientError):
                        async with plain.get(f"http://127.0.0.1:{port}/healthz") as resp:
                            await resp.read()
            # A client that does not trust the certificate does not get through either.
            async with aiohttp.ClientSession() as untrusting:
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await untrusting.get(f"https://127.0.0.1:{ports[0]}/healthz")
        finally:
            for runner in runners:
                await runner.cleanup()


async def test_over_plain_http_no_hsts_and_no_secure_cookie(
        cfg: Config, sessions, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    async with runtime(cfg, with_pbx=False) as rt:
        client: TestClient = await aiohttp_client(internal_app(rt))
        resp = await client.get("/agent/login")
        assert resp.status == 200
        assert "Strict-Transport-Security" not in resp.headers
        assert "Secure" not in cookies_set(resp)["ccari_login_csrf"]


@pytest.mark.parametrize("what", ["missing", "not-a-certificate", "key-of-another"])
def test_a_certificate_that_cannot_load_stops_the_start(tmp_path: Path, what: str) -> None:
    pem, other = self_signed(tmp_path / "a"), self_signed(tmp_path / "b")
    cert, key = {
        "missing": (tmp_path / "none.crt", pem.key),
        "not-a-certificate": (pem.key, pem.key),
        "key-of-another": (pem.cert, other.key),
    }[what]
    with pytest.raises(ConfigError, match="web.tls_cert"):
        server_context(WebConfig(tls_cert=str(cert), tls_key=str(key)))


def test_no_certificate_is_plain_http() -> None:
    assert server_context(WebConfig()) is None
    assert WebConfig().scheme == "http" and WebConfig(tls_cert="c", tls_key="k").scheme == "https"


@pytest.mark.parametrize("env", [
    {"CCARI_WEB_TLS_CERT": "/etc/ccari/web.crt"},  # a certificate without its key
    {"CCARI_WEB_TLS_KEY": "/etc/ccari/web.key"},
    {"CCARI_PBX_SIP_TLS_PORT": "5061"},  # a SIP TLS port without certificate and key
    {"CCARI_PBX_SIP_TLS_CERT": "/c", "CCARI_PBX_SIP_TLS_KEY": "/k"},  # files, no port
    {"CCARI_PBX_SIP_TLS_PORT": "70000", "CCARI_PBX_SIP_TLS_CERT": "/c",
     "CCARI_PBX_SIP_TLS_KEY": "/k"},
])
def test_half_a_tls_setting_stops_the_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="tls_"):
        load(env=env)


def test_whole_tls_settings_load() -> None:
    cfg = load(env={"CCARI_WEB_TLS_CERT": "/c", "CCARI_WEB_TLS_KEY": "/k",
                    "CCARI_PBX_SIP_TLS_PORT": "5061", "CCARI_PBX_SIP_TLS_CERT": "/c",
                    "CCARI_PBX_SIP_TLS_KEY": "/k"})
    assert (cfg.web.tls_cert, cfg.pbx.sip_tls_port) == ("/c", 5061)
