"""What ccari's command websockets (the agent page's, the chat's, the co-browse mirror's)
read: JSON objects, one per text frame.

A frame that is not a JSON object ccari can take is answered on the socket (``{"type":
"error", "error": "bad-json"}``, or ``bad-text`` as for a body: :mod:`ccari.web.bodies`) and
skipped: the socket stays open for the next one. Other frame types (binary, ping) are not
commands and are ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web

from ccari.errors import BadRequest
from ccari.web.bodies import parse_json


async def json_objects(ws: web.WebSocketResponse) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects the peer sends, until it closes the socket."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            data = parse_json(msg.data)
        except BadRequest as exc:
            if not ws.closed:
                await ws.send_json({"type": "error", "error": exc.error_id, "message": exc.message})
            continue
        if isinstance(data, dict):
            yield data
        elif not ws.closed:
            await ws.send_json({"type": "error", "error": "bad-json",
                                "message": "send JSON objects"})
