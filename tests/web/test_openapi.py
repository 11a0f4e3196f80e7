"""The OpenAPI documents: valid, served, true to the routers, and able to catch a lie."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from ccari.app import internal_app, public_app, runtime
from ccari.web.openapi import LISTENERS, context_files, document
from tests.support.openapi import Conformance, app_operations, documented_operations

INTERNAL_PREFIXES = ("/api/", "/agent", "/supervisor", "/metrics", "/static")


@pytest.fixture
async def apps(cfg: Any) -> Any:
    async with runtime(cfg, with_pbx=False) as rt:
        yield {"internal": internal_app(rt), "public": public_app(rt)}


@pytest.mark.parametrize("listener", LISTENERS)
def test_each_document_is_valid_openapi_3_1(listener: Any) -> None:
    doc = document(listener)
    validate(doc)  # raises on the first problem
    assert doc["openapi"] == "3.1.0"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_every_route_is_documented_and_every_documented_operation_exists(apps: Any) -> None:
    for listener, app in apps.items():
        routed, documented = app_operations(app), documented_operations(document(listener))
        assert sorted(routed - documented) == [], f"{listener}: routes missing from the document"
        assert sorted(documented - routed) == [], f"{listener}: documented but not routed"


def test_the_public_document_names_nothing_of_the_internal_side() -> None:
    doc = document("public")
    assert not [p for p in doc["paths"] if p.startswith(INTERNAL_PREFIXES)]
    assert set(doc["components"]["securitySchemes"]) == {"customerToken", "customerTokenQuery"}
    text = json.dumps(doc)
    for internal in ("tenantToken", "adminToken", "agentSession", "AgentSpec", "TenantDocument",
                     "AdmissionPolicy", "AuditEntry", "/api/"):
        assert internal not in text, internal
    internal_doc = document("internal")
    assert {"adminToken", "tenantToken", "agentSession"} <= set(
        internal_doc["components"]["securitySchemes"])


def test_every_schema_a_context_defines_is_used_by_a_document() -> None:
    defined = {name for path in context_files()
               for name in (yaml.safe_load(path.read_text()).get("schemas") or {})}
    used = {name for listener in LISTENERS for name in document(listener)["components"]["schemas"]}
    assert sorted(defined - used) == []


def test_every_operation_states_its_errors_and_its_security() -> None:
    """Every operation names its error answers; every API one its credentials."""
    for listener in LISTENERS:
        for path, item in document(listener)["paths"].items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                assert op.get("operationId"), (listener, method, path)
                if path.startswith(("/api/", "/v1/")) and method != "options":
                    assert "4XX" in op["responses"], (listener, method, path)
                    assert "security" in op, (listener, method, path)  # [] says: public


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_each_listener_serves_its_document(apps: Any, aiohttp_client: Any) -> None:
    for listener, app in apps.items():
        client = await aiohttp_client(app)
        resp = await client.get("/openapi.json")
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert await resp.json() == document(listener)


TENANTS_OK = json.dumps({"tenants": [{"slug": "acme", "name": "Acme"}]}).encode()


@pytest.mark.parametrize(("method", "path", "status", "ctype", "body", "request_body", "problem"), [
    ("GET", "/api/tenants", 200, "application/json", TENANTS_OK, None, None),
    # a field of the wrong type, a missing field, a field the schema does not know
    ("GET", "/api/tenants", 200, "application/json",
     b'{"tenants": [{"slug": 7, "name": "Acme"}]}', None, "tenants/0/slug"),
    ("GET", "/api/tenants", 200, "application/json", b'{"tenants": [{"slug": "acme"}]}', None,
     "'name' is a required property"),
    ("GET", "/api/tenants", 200, "application/json", b'{"tenants": [], "secret": 1}', None,
     "Additional properties"),
    # errors must be the stable error object
    ("GET", "/api/tenants", 401, "application/json",
     b'{"error": "token-required", "message": "send a token"}', None, None),
    ("GET", "/api/tenants", 401, "application/json", b'{"detail": "no"}', None, "'error'"),
    ("GET", "/api/tenants", 401, "application/json",
     b'{"error": "Token Required", "message": "x"}', None, "does not match"),
    # a 5xx is never documented; nor is an operation the router has and the document not
    ("GET", "/api/tenants", 500, "application/json",
     b'{"error": "internal-error", "message": "internal error"}', None, "not documented"),
    ("PATCH", "/api/tenants", 200, "application/json", TENANTS_OK, None, "not documented"),
    ("GET", "/api/tenants", 200, "text/html", b"<p>", None, "content type"),
    # a request body the server accepted must be one the document allows
    ("POST", "/api/tenants", 201, "application/json",
     b'{"tenant": {"slug": "a", "name": "A"}, "api_token": "0123456789abcdef"}',
     b'{"slug": "a", "name": "A", "colour": "red"}', "accepted request"),
])
def test_the_conformance_check_catches_what_the_document_does_not_allow(
        method: str, path: str, status: int, ctype: str, body: bytes, request_body: bytes | None,
        problem: str | None) -> None:
    found = Conformance("internal").check(method, path, status, ctype, body, request_body)
    if problem is None:
        assert found == []
    else:
        assert found and problem in found[0], found
