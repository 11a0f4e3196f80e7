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

import collections
import contextlib
import gc
import os
import time
import tracemalloc
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


# ---- looking for a leak (opt-in) ----------------------------------------------------------------
DUMP_ENV = "CCARI_TRACEMALLOC"


class Dumps:
    """``CCARI_TRACEMALLOC=<file>`` (or ``1``: ``ccari-heap.txt`` in the working directory):
    tracemalloc traces from start-up, and on each SIGUSR2 the ``top`` allocation sites that
    grew since the previous dump and since start (by line, with the net size and count) and
    the object types whose number grew (``gc.get_objects()``), appended to that file.  Costs
    memory and CPU (a loaded ccari falls behind): for finding a leak, not for production."""

    def __init__(self, path: str, top: int = 25) -> None:
        self.path, self.top = path, top
        tracemalloc.start(1)  # by line: one frame is enough, and cheaper
        self._snapshot = self._first = tracemalloc.take_snapshot()
        self._types = self._count_types()

    @classmethod
    def from_env(cls) -> Dumps | None:
        value = os.environ.get(DUMP_ENV, "")
        if value in ("", "0"):
            return None
        return cls("ccari-heap.txt" if value == "1" else value)

    @staticmethod
    def _count_types() -> dict[str, int]:
        return dict(collections.Counter(type(o).__qualname__ for o in gc.get_objects()))

    def dump(self) -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),))
        types = self._count_types()
        grown = sorted(((n - self._types.get(t, 0), t) for t, n in types.items()), reverse=True)
        lines = [f"==== {time.strftime('%H:%M:%S')} traced "
                 f"{tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB"]
        lines += [str(s) for s in snapshot.compare_to(self._snapshot, "lineno")[:self.top]]
        lines += ["---- since start"]
        lines += [str(s) for s in snapshot.compare_to(self._first, "lineno")[:self.top]]
        lines += ["---- object types that grew since the previous dump"]
        lines += [f"{d:+8d} {t}" for d, t in grown[:self.top] if d > 0]
        with open(self.path, "a") as fh:
            fh.write("\n".join(lines) + "\n")
        self._snapshot, self._types = snapshot, types
