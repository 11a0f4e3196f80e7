"""A tenant's wrap-up (disposition) codes: ``GET|PUT /api/tenants/{tenant}/dispositions``.

``{"codes": ["sale", "no-sale", "call-back"]}``: the codes an agent closes a contact's
wrap-up with (1 to 50 distinct codes, lower-case letters, digits, ``-`` and ``_``, up to 40
characters); ``{"codes": null}``: the node's ``voice.disposition_codes``.  The answer also
gives ``effective``, the codes the agents see now.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ccari import keys
from ccari.provisioning import schemas as sch
from ccari.provisioning.fields import Fields
from ccari.provisioning.http import PROVISIONING, TENANT, _body, _scope

routes = web.RouteTableDef()
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_CODES = 50


def codes(data: Any) -> list[str] | None:
    """The body's ``codes``, checked, or None (the node's codes)."""
    f = Fields(data, "", {"codes"})
    if "codes" not in f.data:
        raise sch.Invalid("codes is required (a list of wrap-up codes, or null)")
    if f.data["codes"] is None:
        return None
    items = f.items("codes")
    if not 1 <= len(items) <= MAX_CODES:
        raise sch.Invalid(f"codes: 1 to {MAX_CODES} codes (null: the node's)")
    out: list[str] = []
    for at, code in items:
        if not isinstance(code, str) or not CODE.fullmatch(code):
            raise sch.Invalid(f"{at}: {code!r} must match {CODE.pattern}")
        if code in out:
            raise sch.Invalid(f"{at}: {code!r} is listed twice", error_id="duplicate")
        out.append(code)
    return out


def view(request: web.Request, slug: str, own: list[str] | None) -> dict[str, Any]:
    effective = request.app[keys.CONFIG].voice.dispositions_of(slug, own)
    return {"codes": own, "effective": list(effective)}


@routes.get(TENANT + "/dispositions")
async def get_dispositions(request: web.Request) -> web.Response:
    scope = await _scope(request)
    own = await request.app[PROVISIONING].dispositions(scope.tenant_id)
    return web.json_response(view(request, scope.slug, own))


@routes.put(TENANT + "/dispositions")
async def put_dispositions(request: web.Request) -> web.Response:
    scope = await _scope(request)
    own = await request.app[PROVISIONING].put_dispositions(
        scope.actor, scope.tenant_id, codes(await _body(request)))
    return web.json_response(view(request, scope.slug, own))


def internal_setup(app: web.Application) -> None:
    app.add_routes(routes)
