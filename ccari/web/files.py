"""Names and ranges of the files ccari serves (faxes, recordings, voicemails, CSV reports)."""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import web

from ccari.web.middlewares import error_response

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def disposition(kind: Literal["inline", "attachment"], name: str) -> str:
    """A ``Content-Disposition`` value whose file name is plain ASCII: anything else in
    ``name`` (quotes, line breaks, path separators, markup, non-ASCII) becomes ``_``, and it
    never starts with a dot."""
    safe = _UNSAFE.sub("_", name).lstrip(".") or "download"
    return f'{kind}; filename="{safe}"'


def range_refused(request: web.Request, size: int) -> web.Response | None:
    """The 416 ``bad-range`` answer (with the file's size, as RFC 9110 asks) to a ``Range``
    that cannot be read or starts at or past the end of a file of ``size`` bytes; None when
    the file, or the part asked, is to be served.  (A ``Range`` under ``If-Range`` is left
    to the file response: a changed file is served whole.)"""
    if request.if_range is not None:
        return None
    try:
        rng = request.http_range
    except ValueError:
        pass
    else:
        if rng.start is None or (rng.start < 0 and rng.stop is None) or rng.start < size:
            return None
    resp = error_response("bad-range", f"that range cannot be served: the file has {size} bytes",
                          416)
    resp.headers["Content-Range"] = f"bytes */{size}"
    return resp
