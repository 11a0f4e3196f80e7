"""REST requests carried on the events websocket (Asterisk 22's ``RESTRequest`` and
``RESTResponse`` messages): no HTTP round trip and no Asterisk HTTP thread per request.

Asterisk answers them one after the other, in the order sent; each request waits for the
answer bearing its ``request_id``.  When the socket goes, every request still waiting
fails with ``AriDisconnected``."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp

from ccari.ari.errors import AriDisconnected, AriTimeout, error_for_status
from ccari.ari.rest import Params, _clean, _error_message

log = logging.getLogger(__name__)


class WebsocketRequests:
    def __init__(self) -> None:
        self.ws: aiohttp.ClientWebSocketResponse | None = None  # None: not live, use HTTP
        self._replies: dict[str, asyncio.Future[tuple[int, str, str]]] = {}
        self._ids = itertools.count(1)

    def detach(self) -> None:
        """The socket is gone: every request still waiting fails."""
        self.ws = None
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(AriDisconnected("ARI websocket closed before the answer"))

    async def send(self, ws: aiohttp.ClientWebSocketResponse, method: str, path: str, *,
                   params: Params | None, json_body: Any, answer_within: float) -> bytes:
        request_id = f"r{next(self._ids)}"
        query = urlencode(_clean(params))
        message: dict[str, Any] = {"type": "RESTRequest", "request_id": request_id,
                                   "method": method,
                                   "uri": path.lstrip("/") + (f"?{query}" if query else "")}
        if json_body is not None:
            message["content_type"] = "application/json"
            message["message_body"] = json.dumps(json_body)
        reply = self._replies[request_id] = asyncio.get_running_loop().create_future()
        try:
            await ws.send_str(json.dumps(message))
            async with asyncio.timeout(answer_within):
                status, reason, body = await reply
            raw: bytes = body.encode()
        except TimeoutError as exc:
            raise AriTimeout(f"{method} {path}: no answer within {answer_within}s") from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise AriDisconnected(f"{method} {path}: {exc!r}") from exc
        finally:
            self._replies.pop(request_id, None)
        if status >= 400:
            message_text = _error_message(raw, reason or str(status))
            log.debug("ARI %s %s -> %s %s", method, path, status, message_text)
            raise error_for_status(status, f"{method} {path}: {message_text}")
        return raw

    def answer(self, data: dict[str, Any]) -> None:
        """A ``RESTResponse``: completes the request it answers (a late one is dropped)."""
        reply = self._replies.get(str(data.get("request_id", "")))
        if reply is not None and not reply.done():
            body = data.get("message_body") or ""
            reply.set_result((int(data.get("status_code") or 0), str(data.get("reason_phrase", "")),
                              body if isinstance(body, str) else json.dumps(body)))
