"""Kamailio's JSON-RPC over HTTP (jsonrpcs on xhttp, loopback): reload the destinations,
list them with their state, set a destination's state.  Every request carries the nodes'
key (``edge.rpc_key``), which Kamailio checks.

Every call has a timeout.  A Kamailio that cannot be reached raises :class:`EdgeUnreachable`;
one that answers with a JSON-RPC error raises :class:`EdgeRpcError`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import aiohttp

NO_SETS = "No Destination Sets"  # dispatcher.list's error when it has no destination


class EdgeUnreachable(ConnectionError):
    """Kamailio's RPC did not answer (not running, wrong port, timed out)."""


class EdgeRpcError(RuntimeError):
    """Kamailio answered the RPC with an error."""

    def __init__(self, message: str, code: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class LiveDestination:
    """A destination as Kamailio holds it now."""

    setid: int
    uri: str
    flags: str  # "A" active, "I" inactive, "D" disabled; then "P" probing, or "X"
    rweight: int
    attrs: str

    @property
    def active(self) -> bool:
        return self.flags.startswith("A")

    @property
    def inactive(self) -> bool:
        return self.flags.startswith("I")


def parse_list(result: Any) -> list[LiveDestination]:
    """The answer of ``dispatcher.list`` (Kamailio 5.x), flattened."""
    out: list[LiveDestination] = []
    if not isinstance(result, dict):
        return out
    for record in result.get("RECORDS") or ():
        s = record.get("SET") or {}
        for target in s.get("TARGETS") or ():
            dest = target.get("DEST") or {}
            attrs = dest.get("ATTRS") or {}
            out.append(LiveDestination(
                setid=int(s.get("ID", 0)), uri=str(dest.get("URI", "")),
                flags=str(dest.get("FLAGS", "")), rweight=int(attrs.get("RWEIGHT") or 0),
                attrs=str(attrs.get("BODY") or "")))
    return out


REFUSED = {  # what Kamailio's answers other than 200 say (asterisk/edge/kamailio.cfg.j2)
    401: "Kamailio refused this node's key: edge.rpc_key differs from the one kamailio.cfg "
         "was rendered with",
    403: "Kamailio refused this node's address: it is not in edge.rpc_clients",
}


class KamailioRpc:
    def __init__(self, http: aiohttp.ClientSession, url: str, key: str, *,
                 timeout_s: float = 3.0) -> None:
        self._http = http
        self.url = url
        self._headers = {"Authorization": f"Bearer {key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._ids = itertools.count(1)

    async def call(self, method: str, *params: object) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": next(self._ids)}
        if params:
            body["params"] = list(params)
        try:
            async with self._http.post(self.url, json=body, headers=self._headers,
                                       timeout=self._timeout) as resp:
                if resp.status in REFUSED:
                    raise EdgeRpcError(f"{method}: {REFUSED[resp.status]}", resp.status)
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise EdgeUnreachable(f"{self.url}: {exc!r}") from exc
        except ValueError as exc:  # not JSON: not Kamailio's RPC
            raise EdgeRpcError(f"{method}: the answer is not JSON-RPC") from exc
        if not isinstance(answer, dict) or "error" in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            code, detail = ((error.get("code"), str(error.get("message", "")))
                            if isinstance(error, dict) else (None, ""))
            raise EdgeRpcError(f"{method}: {error!r}", code, detail)
        return answer.get("result")

    async def reload(self) -> None:
        """Kamailio reads its destinations from the database again."""
        await self.call("dispatcher.reload")

    async def destinations(self) -> list[LiveDestination]:
        try:
            return parse_list(await self.call("dispatcher.list"))
        except EdgeRpcError as exc:
            if exc.detail == NO_SETS:  # an empty table
                return []
            raise

    async def set_state(self, state: str, setid: int, uri: str) -> None:
        """``state``: Kamailio's letters ("ip": inactive and probed, "ap": active)."""
        await self.call("dispatcher.set_state", state, setid, uri)
