"""Wiring of the admission context: its REST API on the internal listener (decisions and
policies from the service, what they left behind from :class:`AdmissionRecords`).

The :class:`AdmissionService` itself is built by the composition root, which hands it to the
voice path and the callbacks too.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ccari.admission import http
from ccari.admission.records import AdmissionRecords

if TYPE_CHECKING:
    from ccari.app import Runtime


async def install(rt: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """Register the routes of this context."""
    if rt.admission is not None:
        rt.internal_setups.append(http.internal_setup(rt.admission, AdmissionRecords(rt.sessions)))
