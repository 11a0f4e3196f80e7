"""Holding ccari's HTTP answers to its OpenAPI documents.

:class:`Conformance` is a middleware the test fixtures put in front of every app they start
(``tests/conftest.py`` wraps ``aiohttp_client`` and ``aiohttp_server``): each answer must
be one the listener's document allows for that route, method and status, its JSON body
valid against the documented schema; a request body the server accepted (2xx) must be
valid against the documented request schema.  Violations are collected and fail the test.

The schemas are checked with ``jsonschema`` (OpenAPI 3.1 schemas are JSON Schema 2020-12),
the document itself with ``openapi-spec-validator``.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import referencing
from aiohttp import web
from aiohttp.web_urldispatcher import DynamicResource, PlainResource, StaticResource

from ccari.web.openapi import LISTENER, LISTENERS, Listener, document

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DOC_URI = "urn:ccari:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def route_path(resource: Any) -> str | None:
    """The OpenAPI path of an aiohttp resource (``/v1/{tail:.*}`` -> ``/v1/{tail}``)."""
    if isinstance(resource, StaticResource):
        return resource.canonical + "/{filename}"
    if isinstance(resource, PlainResource | DynamicResource):
        return resource.canonical
    return None


def app_operations(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route of an app (a GET's automatic HEAD left out)."""
    ops: set[tuple[str, str]] = set()
    for route in app.router.routes():
        path = route_path(route.resource)
        assert path is not None, f"a route of a kind the documents cannot name: {route!r}"
        ops.add((route.method, path))
    return {(m, p) for m, p in ops if not (m == "HEAD" and ("GET", p) in ops)}


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items()
            for method in item if method in METHODS}


def listener_of(app: web.Application) -> Listener:
    """Which listener an app is: the one whose document its /openapi.json serves."""
    name = app.get(LISTENER)
    assert name in LISTENERS, "this app serves no /openapi.json"
    return name  # type: ignore[return-value]


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class Conformance:
    """Validates what an app answers against its listener's document."""

    listener: Listener
    violations: list[str] = field(default_factory=list)
    seen: set[tuple[str, str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.doc = document(self.listener)
        resource = referencing.Resource.from_contents(
            self.doc, default_specification=referencing.jsonschema.DRAFT202012)
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            DOC_URI, resource)

    # ---- lookups -----------------------------------------------------------------------------
    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            _, _, kind, name = node["$ref"].split("/", 3)
            node = self.doc["components"][kind][name]
        return node

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        item = self.doc["paths"].get(path)
        if item is None:
            return None
        op = item.get(method.lower())
        if op is None and method == "HEAD":
            op = item.get("get")
        return op  # type: ignore[no-any-return]

    def response_spec(self, op: dict[str, Any], status: int) -> dict[str, Any] | None:
        responses = op["responses"]
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in responses:
                return self._deref(responses[key])
        return None

    def validate(self, value: Any, pointer: str) -> Iterator[str]:
        validator = jsonschema.Draft202012Validator(
            {"$ref": DOC_URI + pointer}, registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(value):
            where = "/".join(str(p) for p in error.absolute_path) or "(the body)"
            yield f"{where}: {error.message[:300]}"

    # ---- one exchange ------------------------------------------------------------------------
    def check(self, method: str, path: str | None, status: int, content_type: str | None,
              body: bytes | None, request_body: bytes | None) -> list[str]:
        what = f"{self.listener} {method} {path} -> {status}"
        if path is None:  # no route matched: aiohttp's 404/405, mapped to the error object
            if body is not None and content_type == "application/json":
                return [f"{what}: {m}" for m in self.validate(
                    json.loads(body), "#/components/schemas/Error")]
            return []
        op = self.operation(method, path)
        if op is None:
            return [f"{what}: the operation is not documented"]
        self.seen.add((method, path, status))
        spec = self.response_spec(op, status)
        if spec is None:
            return [f"{what}: status {status} is not documented"]
        problems: list[str] = []
        content = spec.get("content") or {}
        if status == 101 or method == "HEAD":
            pass
        elif not content:
            if body:
                problems.append(f"{what}: a body where the document says none")
        elif content_type not in content and "*/*" not in content:
            problems.append(f"{what}: content type {content_type} is not one of {sorted(content)}")
        elif content_type == "application/json" and body is not None:
            try:
                value = json.loads(body)
            except ValueError:
                problems.append(f"{what}: the body is not JSON")
            else:
                code = next(k for k in (str(status), f"{status // 100}XX", "default")
                            if k in op["responses"])
                pointer = _pointer("paths", path, method.lower() if method != "HEAD" else "get",
                                   "responses", code)
                if "$ref" in op["responses"][code]:
                    pointer = op["responses"][code]["$ref"]
                pointer += "/content/application~1json/schema"
                problems += [f"{what}: {m}" for m in self.validate(value, pointer)]
        if 200 <= status < 300 and request_body and "requestBody" in op:
            req = self._deref(op["requestBody"])
            if "application/json" in req.get("content", {}):
                pointer = _pointer("paths", path, method.lower(), "requestBody",
                                   "content", "application/json", "schema")
                try:
                    value = json.loads(request_body)
                except ValueError:
                    problems.append(f"{what}: accepted a request body that is not JSON")
                else:
                    problems += [f"{what}: accepted request {m}"
                                 for m in self.validate(value, pointer)]
        return problems

    # ---- the middleware ----------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = route_path(request.match_info.route.resource)
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            self._record(request.method, path, exc.status, exc.content_type, exc.body, None)
            raise
        # Read after the handler (its limits and errors first); aiohttp keeps what it read.
        accepted = 200 <= resp.status < 300 and request.body_exists
        request_body = await request.read() if accepted else None
        body = resp.body if isinstance(resp, web.Response) and isinstance(resp.body, bytes) else None
        content_type = resp.content_type if (body or not resp.prepared) else None
        if isinstance(resp, web.FileResponse):  # its type is set when it is sent
            content_type = (resp.headers.get("Content-Type", "").split(";")[0]
                            or mimetypes.guess_type(request.path)[0])
        self._record(request.method, path, resp.status, content_type, body, request_body)
        return resp

    def _record(self, method: str, path: str | None, status: int, content_type: str | None,
                body: Any, request_body: bytes | None) -> None:
        raw = body if isinstance(body, bytes) else None
        self.violations += self.check(method, path, status, content_type, raw, request_body)

    def watch(self, app: web.Application) -> None:
        """Put the check in front of an app's own middlewares (before it starts)."""
        app.middlewares.insert(0, self.middleware)


@dataclass
class Conformances:
    """The checks of one test, one per app it starts."""

    checks: list[Conformance] = field(default_factory=list)

    def watch(self, app: web.Application) -> None:
        check = Conformance(listener_of(app))
        check.watch(app)
        self.checks.append(check)

    @property
    def violations(self) -> list[str]:
        return [v for c in self.checks for v in c.violations]
