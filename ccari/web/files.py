"""Names of the files ccari serves (faxes, recordings, voicemails, CSV reports)."""

from __future__ import annotations

import re
from typing import Literal

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def disposition(kind: Literal["inline", "attachment"], name: str) -> str:
    """A ``Content-Disposition`` value whose file name is plain ASCII: anything else in
    ``name`` (quotes, line breaks, path separators, markup, non-ASCII) becomes ``_``, and it
    never starts with a dot."""
    safe = _UNSAFE.sub("_", name).lstrip(".") or "download"
    return f'{kind}; filename="{safe}"'
