"""Keep the Asterisk ccari started itself (managed mode) up while ccari serves.

:class:`PbxWatch` waits for the Asterisk process to end (a pidfd in the event loop, no
polling), logs the exit status at WARNING and starts it again after the delay
:func:`ccari.pbx.restarts.after_failure` decides; the ARI client meanwhile retries its
websocket and, once it is back, runs its ``on_connected`` reconcile like after any lost
connection.  The start itself is the ``restart`` function it is given (the composition root
renders the spec from the database again), run to its end even when ccari is shutting down,
so that :attr:`PbxWatch.process` is always the Asterisk to stop (or to keep, with
``--keep-pbx``).  ``close()`` cancels the watch: nothing is restarted after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable

from ccari.metrics import Metrics
from ccari.pbx.errors import PbxError
from ccari.pbx.instance import PbxProcess, pid_of
from ccari.pbx.restarts import RestartPolicy, Verdict, after_failure
from ccari.tasks import TaskSet

log = logging.getLogger(__name__)

Restart = Callable[[PbxProcess], Awaitable[PbxProcess]]


class PbxWatch:
    def __init__(self, process: PbxProcess, restart: Restart,
                 policy: RestartPolicy | None = None) -> None:
        self.process = process
        self.policy = policy or RestartPolicy()
        self._restart = restart
        self._tasks = TaskSet("pbx-watch")
        self.restarts = 0  # Asterisk started again after it died
        self.failed_starts = 0  # starts that failed (each is retried)
        self.up = True  # as far as the watch knows: False from its death to its return

    def start(self) -> None:
        self._tasks.spawn(self._run(), name=self.process.spec.instance)

    async def close(self) -> None:
        """Stop watching: Asterisk is neither restarted nor stopped from now on."""
        await self._tasks.close()

    def register_metrics(self, metrics: Metrics) -> None:
        metrics.counter("ccari_pbx_restarts_total",
                        "Times ccari started its managed Asterisk again after it died",
                        lambda: self.restarts)
        metrics.counter("ccari_pbx_failed_starts_total",
                        "Restarts of the managed Asterisk that failed (each is retried)",
                        lambda: self.failed_starts)
        metrics.gauge("ccari_pbx_up", "1 while the managed Asterisk process runs",
                      lambda: 1 if self.up else 0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        streak = 0
        while True:
            began = loop.time()
            status = await wait_exit(self.process)
            self.up = False
            ran_s = loop.time() - began
            verdict = after_failure(self.policy, streak, ran_s)
            log.warning("Asterisk instance %s (pid %d) died: %s, after %.1fs; restarting in "
                        "%.1fs (%s)", self.process.spec.instance, self.process.pid, status,
                        ran_s, verdict.delay_s, verdict.describe())
            streak = await self._restart_until_up(verdict, status)
            self.up = True

    async def _restart_until_up(self, verdict: Verdict, status: str) -> int:
        """Start Asterisk, after each verdict's delay, until it starts; returns the streak."""
        name = self.process.spec.instance
        while True:
            if verdict.entered_crash_loop:
                log.error("Asterisk instance %s is in a crash loop: %d quick failures in a row; "
                          "retrying every %.0fs until it stays up %.0fs (see its log in %s)",
                          name, verdict.streak, verdict.delay_s, self.policy.stable_after_s,
                          self.process.paths.host / "log")
            await asyncio.sleep(verdict.delay_s)
            try:
                self.process = await self._start()
            except PbxError as exc:
                self.failed_starts += 1
                verdict = after_failure(self.policy, verdict.streak, 0.0)
                log.warning("Asterisk instance %s did not start again: %s; next try in %.1fs (%s)",
                            name, exc, verdict.delay_s, verdict.describe())
                continue
            self.restarts += 1
            log.warning("Asterisk instance %s restarted (pid %d; restart %d, after it died: %s)",
                        name, self.process.pid, self.restarts, status)
            return verdict.streak

    async def _start(self) -> PbxProcess:
        task = asyncio.ensure_future(self._restart(self.process))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # Shutting down mid-start: the start runs to its end so that the Asterisk it
            # makes is the process the owner stops (or keeps).
            with contextlib.suppress(Exception):
                self.process = await task
            raise


async def wait_exit(process: PbxProcess) -> str:
    """Wait until the Asterisk process ends; its exit status, in words."""
    popen = process.popen
    await _exited(process)
    if popen is None:  # running before ccari started: not our child, no status to read
        return "an unknown status (not ccari's child)"
    code = popen.wait()  # reaps it: no zombie left
    return describe_status(code)


def describe_status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


async def _exited(process: PbxProcess, poll_s: float = 0.5) -> None:
    try:
        fd = os.pidfd_open(process.pid)
    except ProcessLookupError:
        return  # already gone (and reaped)
    except OSError:  # a kernel without pidfd (before Linux 5.3): poll
        while _running(process):  # noqa: ASYNC110 (no event tells an exit without a pidfd)
            await asyncio.sleep(poll_s)
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:  # the pidfd becomes readable when the process ends
        if not gone.done():
            gone.set_result(None)

    try:
        loop.add_reader(fd, readable)
        try:
            await gone
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)


def _running(process: PbxProcess) -> bool:
    if process.popen is not None:
        return process.popen.poll() is None
    return pid_of(process.paths) == process.pid
