"""Request bodies and socket frames every JSON API reads the same way.

What is not JSON ccari can take is a 400, never a 500: text that is not UTF-8 (or in a
charset nobody knows), JSON nested too deep for the parser, an integer of thousands of
digits (``bad-json``), and a string no UTF-8 can carry (a lone surrogate such as
``"\\ud800"``, valid JSON but nothing a database, a page or a mail can store:
``bad-text``)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from ccari.errors import BadRequest


def parse_json(text: str, *, decimals: bool = False) -> Any:
    """``text`` as JSON (``decimals``: numbers with a fraction as :class:`Decimal`)."""
    try:
        data = json.loads(text, parse_float=Decimal if decimals else None)
    except (ValueError, RecursionError):
        raise BadRequest("send JSON (UTF-8, not nested too deep, numbers of sane length)",
                         error_id="bad-json") from None
    try:
        json.dumps(data, ensure_ascii=False, default=str).encode()
    except UnicodeEncodeError:
        raise BadRequest("the text holds a character UTF-8 cannot carry (a lone surrogate)",
                         error_id="bad-text") from None
    return data


async def json_body(request: web.Request, *, decimals: bool = False) -> Any:
    """The body as JSON (400 ``bad-json`` or ``bad-text`` when ccari cannot take it)."""
    try:
        text = await request.text()
    except (UnicodeDecodeError, LookupError):
        raise BadRequest("send the body as UTF-8 text", error_id="bad-json") from None
    return parse_json(text, decimals=decimals)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (400 ``bad-json`` for anything else)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object", error_id="bad-json")
    return body


async def read_form(request: web.Request) -> Any:
    """A form's fields (400 ``bad-body`` for a body that is no form ccari can read: not
    UTF-8, a multipart without its boundary, cut short)."""
    try:
        return await request.post()
    except (UnicodeDecodeError, LookupError, ValueError):
        raise BadRequest("send the form as UTF-8, whole", error_id="bad-body") from None
