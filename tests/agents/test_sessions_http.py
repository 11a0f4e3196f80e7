"""An agent's page session ends when she logs out or is given a new password: her cookie,
and any copy of it, is refused from then on, and her other open pages are told to log in."""

from __future__ import annotations

import re

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from ccari.agents import repo
from ccari.agents.access import COOKIE


async def _login(client: TestClient, password: str, user: str = "bob") -> tuple[str, str]:
    """Bob (or ``user``) logs in: the page's CSRF token and the session cookie."""
    form = await client.get("/agent/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    resp = await client.post("/agent/login", data={
        "csrf": csrf, "tenant": "acme", "username": user, "password": password})
    page = await resp.text()
    cookie = next(c.value for c in client.session.cookie_jar if c.key == COOKIE)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1), cookie  # type: ignore[union-attr]


async def _status(client: TestClient, cookie: str, csrf: str) -> int:
    """What the agent API answers a request carrying ``cookie`` (a copy, sent by hand)."""
    client.session.cookie_jar.clear()
    resp = await client.get("/agent/api/phone",
                            headers={"Cookie": f"{COOKIE}={cookie}", "X-CSRF-Token": csrf})
    return resp.status


async def test_after_logout_a_copy_of_her_cookie_is_refused_and_her_other_pages_close(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    password = rt.demo_secrets["acme.bob.web"]
    csrf, cookie = await _login(client, password)
    assert await _status(client, cookie, csrf) == 200
    other_page = await client.ws_connect("/agent/ws", headers={
        "Cookie": f"{COOKIE}={cookie}", "Origin": str(client.make_url("/")).rstrip("/")})
    assert (await other_page.receive_json(timeout=5))["type"] == "hello"

    client.session.cookie_jar.update_cookies({COOKIE: cookie})
    resp = await client.post("/agent/logout", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303

    told = await other_page.receive(timeout=5)  # her state first ("logged_out"), then the end
    while told.type is WSMsgType.TEXT:
        told = await other_page.receive(timeout=5)
    assert told.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert await _status(client, cookie, csrf) == 401
    page = await client.get("/agent", headers={"Cookie": f"{COOKIE}={cookie}"},
                            allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, "/agent/login")

    # Her next login is a new session that works.
    csrf, again = await _login(client, password)
    assert await _status(client, again, csrf) == 200
    assert await _status(client, cookie, csrf) == 401


async def test_a_new_password_ends_her_sessions_and_the_same_one_given_again_does_not(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    password = rt.demo_secrets["acme.bob.web"]
    token = {"Authorization": f"Bearer {rt.demo_secrets['acme.token']}"}
    csrf, cookie = await _login(client, password)
    doc = await (await client.get("/api/tenants/acme/agents/bob", headers=token)).json()
    doc["phone_password"] = rt.demo_secrets["acme.bob.sip"]  # a secret: not read back

    resp = await client.put("/api/tenants/acme/agents/bob", headers=token,
                            json={**doc, "web_password": password})
    assert resp.status == 200, await resp.text()
    assert await _status(client, cookie, csrf) == 200  # unchanged: still logged in

    resp = await client.put("/api/tenants/acme/agents/bob", headers=token,
                            json={**doc, "web_password": "a-brand-new-secret-9"})
    assert resp.status == 200, await resp.text()
    assert await _status(client, cookie, csrf) == 401


async def test_her_logout_on_another_node_closes_her_sockets_here_at_the_next_sweep(
        client: TestClient, rt) -> None:  # type: ignore[no-untyped-def]
    """Sam, a supervisor, with her agent page and her wallboard open on this node, logs out
    on another: this node's next read of the sessions closes both sockets (1008), and
    leaves those of a session still good."""
    csrf, cookie = await _login(client, rt.demo_secrets["acme.sam.web"], user="sam")
    headers = {"Cookie": f"{COOKIE}={cookie}", "Origin": str(client.make_url("/")).rstrip("/")}
    page = await client.ws_connect("/agent/ws", headers=headers)
    assert (await page.receive_json(timeout=5))["type"] == "hello"
    board = await client.ws_connect("/supervisor/wallboard/ws", headers=headers)
    assert (await board.receive_json(timeout=5))["type"] == "wallboard"
    _, bobs = await _login(client, rt.demo_secrets["acme.bob.web"])
    bob = await client.ws_connect("/agent/ws", headers={**headers, "Cookie": f"{COOKIE}={bobs}"})
    assert (await bob.receive_json(timeout=5))["type"] == "hello"
    assert await rt.page_sessions.sweep() == 0

    async with rt.sessions() as s:  # what the other node's logout wrote
        sam = await repo.by_login(s, "acme", "sam")
        await repo.end_sessions(s, sam.tenant_id, sam.id)
        await s.commit()
    assert await rt.page_sessions.sweep() == 2
    for ws in (page, board):
        told = await ws.receive(timeout=5)
        while told.type is WSMsgType.TEXT:
            told = await ws.receive(timeout=5)
        assert (told.type, ws.close_code) == (WSMsgType.CLOSE, 1008)
    assert not bob.closed
    await bob.close()
