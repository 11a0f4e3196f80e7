"""Overload control: past what it can carry, ccari turns new calls away at once.

A node offered more calls than it can serve does not fail evenly: every call waits a little
longer in each of its steps (event handling, the database's shared commits, Asterisk's
answers), callers give up in the IVR, and soon nobody is served.  The cure is to refuse the
excess at the door, before any work is spent on it, so that the calls already admitted keep
being served on time.

The signal is *delay*, not a fixed call count (which would have to be tuned per machine):
the time a hot-path write waits for its shared commit, and how late the event loop runs a
timer.  :class:`Gate` is the pure decision (facts in, open or closed out) with hysteresis:
it closes when the delay has stayed above ``high_ms`` for ``samples`` samples in a row, and
opens again once it is back under ``low_ms``.  :class:`LoadMonitor` samples the delays
every ``interval_s`` and feeds the gate.  A call refused for overload gets its tenant's
fallback at once: the "lines busy" announcement (early media, then 486) when the tenant has
one, else SIP 503 (a carrier may then route it elsewhere); nothing is written for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    high_ms: float = 250.0  # close the gate above this delay...
    low_ms: float = 100.0  # ...open it again below this one
    samples: int = 2  # consecutive samples above high_ms before closing


@dataclass
class Gate:
    """Open (calls admitted) or closed (new calls refused); pure, no clock, no I/O."""

    limits: Limits = Limits()
    closed: bool = False
    above: int = 0

    def observe(self, delay_ms: float) -> bool:
        """One delay sample; True when the gate changed (opened or closed)."""
        if delay_ms > self.limits.high_ms:
            self.above += 1
        else:
            self.above = 0
        if not self.closed and self.above >= self.limits.samples:
            self.closed = True
            return True
        if self.closed and delay_ms < self.limits.low_ms:
            self.closed = False
            return True
        return False


class LoadMonitor:
    """Samples the hot path's delays and keeps the :class:`Gate`; counts refused calls."""

    def __init__(self, gate: Gate, write_delay_ms: Callable[[], float], *,
                 interval_s: float = 0.1) -> None:
        self.gate = gate
        self._write_delay_ms = write_delay_ms
        self._interval = interval_s
        self.refused = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def overloaded(self) -> bool:
        return self.gate.closed

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="voice:load-monitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            lag_ms = max(0.0, (loop.time() - due) * 1000)
            delay = max(lag_ms, self._write_delay_ms())
            if self.gate.observe(delay):
                if self.gate.closed:
                    log.warning("overload: refusing new calls (delay %.0f ms)", delay)
                else:
                    log.warning("overload over: admitting calls again (%d refused)", self.refused)
                    self.refused = 0
