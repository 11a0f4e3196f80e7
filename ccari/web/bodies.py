"""Request bodies every JSON API reads the same way."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ccari.errors import BadRequest


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (400 ``bad-json`` for anything else)."""
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("send a JSON object", error_id="bad-json") from None
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object", error_id="bad-json")
    return body
