"""Jinja2 pages, autoescaped; no inline scripts (the CSP forbids them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
    enable_async=False,
)


def render(name: str, status: int = 200, **context: Any) -> web.Response:
    return web.Response(
        text=_env.get_template(name).render(**context), status=status, content_type="text/html"
    )
