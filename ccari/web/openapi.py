"""The OpenAPI 3.1 documents of the two listeners, assembled from the bounded contexts.

Each context keeps an ``openapi.yaml`` beside its ``http.py``, saying what its routes take
and give::

    schemas:            # JSON Schemas, shared by name (components/schemas)
      Callback: {...}
    internal:           # paths on the internal listener (agents, supervisors, API)
      /api/callbacks: {get: ..., post: ...}
    public:             # paths on the public listener (customers' browsers)
      /v1/callbacks: {...}

This module's own ``openapi.yaml`` holds what every context shares: the error object, the
security schemes and the error responses.  :func:`document` merges them into one document per
listener (adding to every operation the 503 ``Unavailable``: the database is away), keeping
only the components that listener's paths reach: the public document names nothing of the
internal side.  The tests hold the documents to the routers (every route
documented, every documented operation routed) and validate every response the test suite
sees against them (``tests/support/openapi.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from aiohttp import web

Listener = Literal["internal", "public"]
LISTENERS: tuple[Listener, ...] = ("internal", "public")
PACKAGE = Path(__file__).resolve().parent.parent  # ccari/
SHARED = Path(__file__).with_suffix(".yaml")
PATH = "/openapi.json"
TITLES = {"internal": "ccari internal API (agents, supervisors, administration)",
          "public": "ccari public API (the help widget, chat, callbacks, co-browse)"}
COMPONENT_KINDS = ("schemas", "responses", "parameters", "securitySchemes")
UNAVAILABLE = "#/components/responses/Unavailable"
LISTENER: web.AppKey[str] = web.AppKey("openapi_listener", str)  # which document an app serves


class DocumentError(Exception):
    """The context files do not make one consistent document."""


def _load(path: Path, allowed: frozenset[str] = frozenset({"schemas", *LISTENERS})) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise DocumentError(f"{path}: not a mapping")
    unknown = set(data) - allowed
    if unknown:
        raise DocumentError(f"{path}: unknown keys {sorted(unknown)}")
    return data


def context_files() -> list[Path]:
    """Every context's ``openapi.yaml`` (``ccari/<context>/openapi.yaml``), in name order."""
    return sorted(p for p in PACKAGE.glob("*/openapi.yaml") if p != SHARED)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _security_names(paths: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict):
                for requirement in op.get("security", []):
                    names.update(requirement)
    return names


@cache
def _document(listener: Listener) -> str:
    shared = _load(SHARED, frozenset({"info", "components", *LISTENERS}))
    components: dict[str, dict[str, Any]] = {
        kind: dict(shared.get("components", {}).get(kind, {})) for kind in COMPONENT_KINDS}
    paths: dict[str, Any] = dict(shared.get(listener, {}))
    for path in context_files():
        part = _load(path)
        for name, schema in (part.get("schemas") or {}).items():
            if name in components["schemas"]:
                raise DocumentError(f"{path}: schema {name} is already defined")
            components["schemas"][name] = schema
        for route, item in (part.get(listener) or {}).items():
            if route in paths:
                raise DocumentError(f"{path}: {route} is already documented")
            paths[route] = item
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict) and "responses" in op:
                op["responses"] = {**op["responses"], "503": {"$ref": UNAVAILABLE}}
    # Keep only what this listener's paths reach (a $ref may lead to further $refs).
    kept: dict[str, dict[str, Any]] = {kind: {} for kind in COMPONENT_KINDS}
    for name in _security_names(paths):
        kept["securitySchemes"][name] = components["securitySchemes"][name]
    todo = list(_refs(paths))
    while todo:
        ref = todo.pop()
        _, _, kind, name = ref.split("/", 3)
        if name in kept[kind]:
            continue
        try:
            kept[kind][name] = components[kind][name]
        except KeyError:
            raise DocumentError(f"{listener}: {ref} is not defined") from None
        todo.extend(_refs(kept[kind][name]))
    doc = {
        "openapi": "3.1.0",
        "info": {**shared["info"], "title": TITLES[listener]},
        "paths": dict(sorted(paths.items())),
        "components": {kind: dict(sorted(v.items())) for kind, v in kept.items() if v},
    }
    return json.dumps(doc, sort_keys=False)


def document(listener: Listener) -> dict[str, Any]:
    """The OpenAPI document of one listener (a fresh copy: callers may change it)."""
    return json.loads(_document(listener))  # type: ignore[no-any-return]


def setup(listener: Listener) -> Callable[[web.Application], None]:
    """Serve ``GET /openapi.json`` on that listener (built once, at set-up)."""
    body = _document(listener).encode()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json",
                            headers={"Cache-Control": "public, max-age=300"})

    def install(app: web.Application) -> None:
        app[LISTENER] = listener
        app.router.add_get(PATH, serve)

    return install
