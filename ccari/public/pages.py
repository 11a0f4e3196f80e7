"""Demo pages of a fictional tenant site, served by the public app: the widget embedded the
way a tenant embeds it (one script tag), on two pages with text and a form.

``/demo/<tenant>/`` and ``/demo/<tenant>/page2``; their stylesheet is ``/demo-assets/site.css``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ccari import keys
from ccari.errors import NotFound
from ccari.tenants import repo as tenants_repo

TEMPLATES = Path(__file__).parent / "templates"
ASSETS = Path(__file__).parent / "static"
PAGES = {"": "demo_home.html", "page2": "demo_plans.html"}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/demo/{tenant}", _slash)
    app.router.add_get("/demo/{tenant}/", page)
    app.router.add_get("/demo/{tenant}/{page}", page)
    app.router.add_get("/demo-assets/site.css", _css)


async def _slash(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(f"/demo/{request.match_info['tenant']}/")


async def page(request: web.Request) -> web.Response:
    template = PAGES.get(request.match_info.get("page", ""))
    async with request.app[keys.SESSIONS]() as s:
        tenant = await tenants_repo.by_slug(s, request.match_info["tenant"])
    if tenant is None or template is None:
        raise NotFound("no such page", error_id="page-not-found")
    html = _env.get_template(template).render(tenant=tenant, query=request.query.get("q", ""))
    return web.Response(text=html, content_type="text/html")


async def _css(request: web.Request) -> web.FileResponse:
    return web.FileResponse(ASSETS / "site.css", headers={"Cache-Control": "public, max-age=300"})
