"""The websockets fuzzed: the agent page's, the customer's chat and the customer's co-browse.

Hypothesis writes what a hostile or broken page could send: every message type the socket
knows (for the agent's, every command any context registers) with fields of any JSON shape,
contact ids of the agent's own tenant and of the other, JSON that is not an object, text that
is not JSON, binary frames.  After each message a probe (an unknown message type) must come
back as its ``unknown-message``/``bad-message`` error: the socket is still served, and every
answer before it is a JSON object whose error, if any, is a stable id, never
``internal-error`` (or, for a socket that limits its rate, the limit's error and then its
close).  Nothing may be logged as an error (a handler's traceback)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccari.config import Config
from tests.support.world import World, serving

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
ERROR_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FIELDS = ("contact_id", "body", "to", "kind", "state", "reason", "client_id", "disposition",
          "party", "digits", "address", "topic", "name", "page_url", "typing", "allow",
          "events", "subject", "text", "reply_to", "skill", "number", "seconds", "code")
SCALARS = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=10)
CHAT_TYPES = ("message", "typing", "wait", "open", "close")
COBROWSE_TYPES = ("events", "consent")  # "stop" ends the session: sent last, on its own


def frames(types: tuple[str, ...], ids: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """A message a page could send: mostly a known type with fields of any shape."""
    value = JSON | st.sampled_from(ids)
    typed = st.builds(lambda kind, extra: json.dumps({**extra, "type": kind}),
                      st.sampled_from(types),
                      st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), value,
                                      max_size=5))
    return (typed | typed | typed | JSON.map(json.dumps) | st.text(max_size=200)
            | st.binary(max_size=64))


async def probe(ws: aiohttp.ClientWebSocketResponse, frame: Any, probe_id: str,
                unknown: str) -> list[dict[str, Any]]:
    """Send ``frame`` then a probe; the answers up to the probe's (which must come)."""
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)
    await ws.send_json({"type": probe_id})
    answers: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and answers and \
                answers[-1].get("error", "").endswith("rate-limited"):
            return answers  # a flood is cut off, and says so first: the socket is reopened
        assert msg.type == aiohttp.WSMsgType.TEXT, (frame, msg)
        answer = json.loads(msg.data)
        assert isinstance(answer, dict) and isinstance(answer.get("type"), str), (frame, answer)
        if answer.get("error") == unknown and answer.get("request") == probe_id:
            return answers
        if answer["type"] == "error":
            assert isinstance(answer.get("error"), str) and ERROR_ID.match(answer["error"])
            assert answer["error"] != "internal-error", (frame, answer)
        answers.append(answer)


class Sockets:
    """One of each socket, reopened if a message legitimately closed it."""

    def __init__(self, world: World, urls: dict[str, str], http: aiohttp.ClientSession) -> None:
        self.world, self.urls, self.http = world, urls, http
        self.open: dict[str, aiohttp.ClientWebSocketResponse] = {}

    async def get(self, name: str) -> aiohttp.ClientWebSocketResponse:
        ws = self.open.get(name)
        if ws is not None and not ws.closed:
            return ws
        acme = self.world.credentials["acme"]
        if name == "agent":
            ws = await self.http.ws_connect(
                f"{self.urls['internal']}/agent/ws",
                headers={"Cookie": f"ccari_agent={acme.agent_cookie}"})
        else:
            path = "/v1/chat/ws" if name == "chat" else "/v1/cobrowse/ws"
            ws = await self.http.ws_connect(
                f"{self.urls['public']}{path}?token={acme.customer_token}",
                headers={"Origin": self.urls["public"]})
        first = await ws.receive_json(timeout=10)  # the socket's hello or state
        assert isinstance(first, dict), first
        self.open[name] = ws
        return ws


@pytest.fixture
async def sockets(cfg: Config, sessions: Any, aiohttp_server: Any) -> Any:
    async with serving(cfg, sessions, aiohttp_server) as (world, urls), \
            aiohttp.ClientSession() as http:
        yield Sockets(world, urls, http)


def contact_ids(s: Sockets) -> tuple[str, ...]:
    return tuple(s.world.objects[t].contact for t in ("acme", "globex"))


FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# Each socket: the message types it knows (None: every command the agents' pages may send)
# and the error id its probe, an unknown type, gets back.
SOCKETS: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "agent": (None, "unknown-message"),
    "chat": (CHAT_TYPES, "unknown-message"),
    "cobrowse": (COBROWSE_TYPES, "bad-message"),
}


@pytest.mark.parametrize("name", list(SOCKETS))
@FUZZ
@given(data=st.data())
async def test_each_socket_answers_every_message_and_stays_served(
        sockets: Sockets, name: str, data: st.DataObject,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    types, unknown = SOCKETS[name]
    frame = data.draw(frames(types or sockets.world.commands, contact_ids(sockets)))
    await probe(await sockets.get(name), frame, "fuzz-probe", unknown)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
