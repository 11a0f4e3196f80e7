"""What the fuzzing run (``bench/fuzz.py``) and the isolation table found, one test each."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ccari.config import Config
from tests.support.world import World, serving

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
NON_ASCII = "caf\u00e9"  # sent as Latin-1 bytes; aiohttp reads them as non-ASCII text


@pytest.fixture
async def served(cfg: Config, sessions: Any, aiohttp_server: Any) -> Any:
    async with serving(cfg, sessions, aiohttp_server) as found:
        yield found


async def answer(http: aiohttp.ClientSession, method: str, url: str,
                 **kwargs: Any) -> tuple[int, str]:
    async with http.request(method, url, allow_redirects=False, **kwargs) as resp:
        body = await resp.json()
        return resp.status, body["error"]


async def test_secrets_compared_with_non_ascii_text_are_refused_not_a_server_error(
        served: tuple[World, dict[str, str]]) -> None:
    """A token or CSRF token with non-ASCII characters was a 500 (``hmac.compare_digest``
    refuses non-ASCII strings)."""
    world, urls = served
    internal, acme = urls["internal"], world.objects["acme"]
    agent = world.credentials["acme"]
    cookie = {"Cookie": f"ccari_agent={agent.agent_cookie}"}
    supervisor = {"Cookie": f"ccari_agent={agent.supervisor_cookie}"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        assert await answer(http, "GET", f"{internal}/api/contacts", headers={
            "Authorization": f"Bearer {NON_ASCII}"}) == (401, "bad-token")
        assert await answer(http, "POST", f"{internal}/agent/logout", headers=cookie,
                            data={"csrf": NON_ASCII}) == (403, "csrf-failed")
        assert await answer(
            http, "POST", f"{internal}/agent/api/calls/{acme.contact}/hold",
            headers={**cookie, "X-CSRF-Token": NON_ASCII}) == (403, "csrf-failed")
        assert await answer(
            http, "POST", f"{internal}/supervisor/api/contacts/{acme.contact}/priority",
            headers={**supervisor, "X-CSRF-Token": NON_ASCII},
            json={"priority": 1}) == (403, "csrf-failed")


async def test_another_tenants_object_is_refused_before_the_body_is_read(
        served: tuple[World, dict[str, str]]) -> None:
    """With a body that does not pass, a credential aimed at globex got the body's error
    (400/422) or "no PBX" instead of the refusal."""
    world, urls = served
    internal, theirs = urls["internal"], world.objects["globex"]
    acme = world.credentials["acme"]
    origin = urls["public"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        assert await answer(http, "PUT", f"{internal}/api/tenants/globex",
                            headers=acme.headers("tenant", origin),
                            json={}) == (403, "wrong-tenant")
        supervisor = acme.headers("supervisor", origin)
        assert await answer(
            http, "POST", f"{internal}/supervisor/api/contacts/{theirs.contact}/priority",
            headers=supervisor, json={}) == (404, "contact-not-found")
        for method in ("POST", "DELETE"):
            assert await answer(
                http, method, f"{internal}/supervisor/api/calls/{theirs.contact}/monitor",
                headers=supervisor, json={}) == (404, "call-not-found")
        assert await answer(
            http, "POST", f"{internal}/agent/api/calls/{theirs.contact}/hold",
            headers=acme.headers("agent", origin)) == (404, "contact-not-found")


async def test_a_settings_body_the_document_does_not_allow_is_refused(
        served: tuple[World, dict[str, str]]) -> None:
    """Unknown fields of the co-browse settings were ignored (and answered 200)."""
    world, urls = served
    auth = world.credentials["acme"].headers("tenant", urls["public"])
    async with aiohttp.ClientSession() as http:
        assert await answer(http, "PUT", f"{urls['internal']}/api/cobrowse/settings",
                            headers=auth, json={"mask_selector": ".card", "mask": "#x"}) == (
            422, "unknown-field")
        async with http.get(f"{urls['internal']}/api/cobrowse/settings", headers=auth) as resp:
            assert (await resp.json())["mask_selector"] == ""  # nothing of it was saved


async def test_unknown_entitlement_source_fields_are_refused(
        served: tuple[World, dict[str, str]]) -> None:
    """They were ignored (200): a misspelt field looked saved."""
    world, urls = served
    auth = world.credentials["acme"].headers("tenant", urls["public"])
    async with aiohttp.ClientSession() as http:
        assert await answer(http, "PUT", f"{urls['internal']}/api/entitlements/source",
                            headers=auth, json={"timeout_s": 1.0, "timout_s": 9}) == (
            422, "unknown-field")


async def test_a_static_file_name_the_package_does_not_ship_is_404_whatever_it_is(
        served: tuple[World, dict[str, str]]) -> None:
    """A name longer than the file system allows was a 500 (ENAMETOOLONG)."""
    _, urls = served
    async with aiohttp.ClientSession() as http:
        for name in ("x" * 300, "..%2F..%2Fpyproject.toml", "vendor", "nope.js"):
            assert await answer(http, "GET", f"{urls['internal']}/static/{name}") == (
                404, "not-found"), name
        for name in ("agent.js", "vendor/jssip/jssip.min.js"):
            async with http.get(f"{urls['internal']}/static/{name}") as resp:
                assert resp.status == 200 and resp.content_type.endswith("javascript"), name
