"""The Python heap around the one big build of a process: the router's rebuild at start.

A rebuild makes millions of long-lived objects at once (100,000 waiting contacts and 20,000
agents). The cyclic garbage collector, triggered by those allocations, scans the growing heap
again and again and finds nothing to free: about 40% of such a rebuild's CPU time. Inside
:func:`long_lived` it is off; at the end everything alive is moved to the permanent generation
(:func:`gc.freeze`), so that later collections skip it instead of scanning it once more
(a full scan of that heap stalls the event loop for a good part of a second).
:func:`release` hands it back to the collector (the service's close: a process that starts
many services, as the tests do, then frees their garbage as usual).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """Build what the process keeps without collector passes; freeze it afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # before enabling: else the first collection scans it all
        if enabled:
            gc.enable()


def release() -> None:
    """What :func:`long_lived` froze is the collector's again."""
    gc.unfreeze()
