"""A tenant's own prompts over the API and on the admin pages (:mod:`.prompts`, :mod:`.audio`).

    GET    /api/tenants/{tenant}/prompts             {"prompts": [...]}
    PUT    /api/tenants/{tenant}/prompts/{prompt}    audio (WAV/MP3/Ogg) as the body, or JSON
                                                     {"text": ...}: made or replaced (201/200)
    GET    /api/tenants/{tenant}/prompts/{prompt}    the prompt as Asterisk plays it (audio/wav)
    DELETE /api/tenants/{tenant}/prompts/{prompt}    409 prompt-in-use while a menu plays it

    POST /admin/tenants/{tenant}/prompts                   multipart: name, file (the page)
    POST /admin/tenants/{tenant}/prompts/text              name, text
    POST /admin/tenants/{tenant}/prompts/{prompt}/delete

The upload is read as a stream up to ``prompts.max_bytes`` (413 ``prompt-too-large`` past
it); its file name, if any, is never used.  A menu plays a prompt as ``tenant:<name>``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage

from ccari import keys
from ccari.errors import CcariError, Invalid, Unauthorized
from ccari.provisioning import audio
from ccari.provisioning.access import admin_session, admin_tenant
from ccari.provisioning.fields import Fields
from ccari.provisioning.http import PROVISIONING, TENANT, _body, _scope
from ccari.provisioning.pages import form_change, render_tenant
from ccari.provisioning.prompts import name_of
from ccari.web.security import check_csrf

routes = web.RouteTableDef()
CHUNK = 64 * 1024


def internal_setup(app: web.Application) -> None:
    app.add_routes(routes)


async def _read(chunks: Any, limit: int) -> bytes:
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise audio.TooLarge(f"a prompt file is at most {limit} bytes")
    return bytes(data)


async def made(request: web.Request, name: str, *, upload: bytes | None = None,
               text: str | None = None) -> tuple[bytes, str | None]:
    """The WAV of an upload or a text (one of them), and the text."""
    cfg = request.app[keys.CONFIG]
    name_of(name)
    if text is not None:
        return await audio.speak(text, audio.Voice.of(cfg), audio.Limits.of(cfg)), audio.check_text(text)
    return await audio.convert(upload or b"", audio.Limits.of(cfg)), None


# ---- API -------------------------------------------------------------------------------------
@routes.get(TENANT + "/prompts")
async def list_prompts(request: web.Request) -> web.Response:
    scope = await _scope(request)
    return web.json_response({"prompts": await request.app[PROVISIONING].prompts(scope.tenant_id)})


@routes.put(TENANT + "/prompts/{prompt}")
async def put_prompt(request: web.Request) -> web.Response:
    scope = await _scope(request)
    name = name_of(request.match_info["prompt"])
    cfg = request.app[keys.CONFIG]
    text: str | None
    if request.content_type == "application/json":
        f = Fields(await _body(request), "", {"text"})
        wav, text = await made(request, name, text=audio.check_text(f.data.get("text")))
    else:
        size = request.content_length
        if size is not None and size > cfg.prompts.max_bytes:
            raise audio.TooLarge(f"a prompt file is at most {cfg.prompts.max_bytes} bytes")
        upload = await _read(request.content.iter_chunked(CHUNK), cfg.prompts.max_bytes)
        wav, text = await made(request, name, upload=upload)
    view, new = await request.app[PROVISIONING].put_prompt(scope.actor, scope.tenant_id, name,
                                                           wav, text=text)
    return web.json_response({"prompt": view}, status=201 if new else 200)


@routes.get(TENANT + "/prompts/{prompt}")
async def get_prompt(request: web.Request) -> web.Response:
    scope = await _scope(request)
    wav = await request.app[PROVISIONING].prompt_audio(scope.tenant_id, request.match_info["prompt"])
    return web.Response(body=wav, content_type="audio/wav")


@routes.delete(TENANT + "/prompts/{prompt}")
async def delete_prompt(request: web.Request) -> web.Response:
    scope = await _scope(request)
    name = request.match_info["prompt"]
    await request.app[PROVISIONING].delete_prompt(scope.actor, scope.tenant_id, name)
    return web.json_response({"deleted": name})


# ---- admin pages -----------------------------------------------------------------------------
@routes.post("/admin/tenants/{tenant}/prompts")
async def upload_page(request: web.Request) -> web.Response:
    """The upload form (multipart): its CSRF token, then the file, streamed."""
    sess = await admin_session(request)
    if sess is None:
        raise Unauthorized("log in at /admin/login first", error_id="not-logged-in")
    form: dict[str, str] = {}
    upload = b""
    limit = request.app[keys.CONFIG].prompts.max_bytes
    error: CcariError | None = None
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError):
        reader = None
        error = Invalid("the form must be multipart/form-data", error_id="invalid-field")
    try:
        while reader is not None and (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                try:
                    upload = await _read(_chunks(part), limit)
                except audio.TooLarge as exc:
                    error = exc
                    break
            elif part.name in ("csrf", "name"):
                form[part.name] = (await part.text())[:200]
    except (BadHttpMessage, ValueError):  # a part's headers that are no HTTP headers; cut short
        error = Invalid("the form is not valid multipart/form-data", error_id="invalid-field")
    check_csrf(sess.csrf, form.pop("csrf", None))
    tenant_id, slug = await admin_tenant(request, sess)
    actor = "admin" if sess.tenant_id is None else f"tenant:{slug}"
    try:
        if error is not None:
            raise error
        name = form.get("name", "").strip()
        wav, _ = await made(request, name, upload=upload)
        await request.app[PROVISIONING].put_prompt(actor, tenant_id, name, wav)
    except CcariError as exc:
        return await render_tenant(request, sess, tenant_id, slug, section="prompts", form=form,
                                  error=exc, status=exc.status)
    raise web.HTTPSeeOther(f"/admin/tenants/{slug}#prompts")


async def _chunks(part: BodyPartReader) -> Any:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _save_text(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    name = form.get("name", "").strip()
    wav, text = await made(request, name, text=form.get("text", ""))
    await request.app[PROVISIONING].put_prompt(actor, tenant_id, name, wav, text=text)


async def _delete(request: web.Request, actor: str, tenant_id: int, form: dict[str, str]) -> None:
    await request.app[PROVISIONING].delete_prompt(actor, tenant_id, request.match_info["prompt"])


routes.post("/admin/tenants/{tenant}/prompts/text")(form_change("prompts", _save_text))
routes.post("/admin/tenants/{tenant}/prompts/{prompt}/delete")(form_change("prompts", _delete))
