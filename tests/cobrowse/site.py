"""A tenant's own web site on its own origin, embedding ccari's co-browse script, and the
agent's page driven through Chromium: shared by the browser tests and the benchmark."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp import web
from playwright.async_api import BrowserContext, Page

from tests.support.browser import agent_login as log_in

SECRETS = {"password": "S3cret-Passw0rd!", "card": "4111 1111 1111 1111", "account": "ACC-99887766",
           "balance": "1234.56"}
PAGE1 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme shop</title>
<link rel="stylesheet" href="/shop/site.css"></head>
<body data-token="{token}">
<h1 id="title">Acme shop: your account</h1>
<button id="share" type="button">Share my screen</button> <span id="code"></span>
<form id="account">
  <label>Name <input id="name" name="name" autocomplete="name"></label>
  <label>Password <input id="password" type="password" name="password"></label>
  <label>Card number <input id="card" name="card" autocomplete="cc-number"></label>
  <label>Account number <input id="account-no" name="account" data-ccari-mask></label>
  <p class="private" data-ccari-mask>Balance: {balance}</p>
</form>
<p id="change"></p>
<a id="next" href="/shop/page2">See our plans</a>
{filler}
<script src="{ccari}/cobrowse.js"></script>
<script src="/shop/site.js"></script>
</body></html>"""
PAGE2 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme plans</title>
<link rel="stylesheet" href="/shop/site.css"></head>
<body data-token="{token}">
<h1 id="title">Plans</h1><p id="plan">Gold broadband, 1 Gbit/s</p>
<a id="back" href="/shop/">Back to your account</a>
<script src="{ccari}/cobrowse.js"></script>
<script src="/shop/site.js"></script>
</body></html>"""
SITE_JS = """document.getElementById("share")?.addEventListener("click", () => {
  window.ccariCobrowse.start({token: document.body.dataset.token,
    onCode: (code) => { document.getElementById("code").textContent = code; }});
});"""
SITE_CSS = "body { font: 16px sans-serif; margin: 20px; } p.filler { margin: 0 0 60px; }"


def site_app(ccari_public_url: str, token: str) -> web.Application:
    filler = "\n".join(f'<p class="filler">Paragraph {n} of our terms.</p>' for n in range(60))

    async def page(request: web.Request) -> web.Response:
        template = PAGE2 if request.path.endswith("page2") else PAGE1
        text = template.format(token=html.escape(token), ccari=ccari_public_url, filler=filler,
                               balance=SECRETS["balance"])
        return web.Response(text=text, content_type="text/html")

    async def asset(request: web.Request) -> web.Response:
        if request.path.endswith(".js"):
            return web.Response(text=SITE_JS, content_type="text/javascript")
        return web.Response(text=SITE_CSS, content_type="text/css")

    app = web.Application()
    app.router.add_get("/shop/", page)
    app.router.add_get("/shop/page2", page)
    app.router.add_get("/shop/site.js", asset)
    app.router.add_get("/shop/site.css", asset)
    return app


async def agent_login(context: BrowserContext, base: str, password: str, user: str = "alice") -> Page:
    return await log_in(await context.new_page(), base, user, password)


async def share(customer: Page) -> str:
    """The customer presses "share" on the site; returns the code they would read out."""
    await customer.click("#share")
    await customer.wait_for_function("document.getElementById('code').textContent.length === 6")
    code = await customer.text_content("#code")
    assert code is not None and re.fullmatch(r"\d{6}", code)
    bar = await customer.text_content(".ccari-cobrowse-code")
    assert bar == code
    return code


async def link(agent: Page, contact_id: str, code: str) -> Any:
    """The agent types the code into the contact's box; returns the mirror frame."""
    item = f".work-item[data-contact='{contact_id}']"
    await agent.fill(f"{item} .cobrowse-code", code)
    await agent.click(f"{item} .cobrowse-link button")
    await agent.wait_for_selector(f"{item}[data-cobrowse=linked]")
    frame = agent.frame_locator(f"{item} .cobrowse-frame")
    await frame.locator("#cb-state:text('Customer connected')").wait_for()
    return frame
