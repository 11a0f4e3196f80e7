"""The PBX watch's process handling with stand-in processes (``sleep``, ``sh -c 'exit 3'``):
exit statuses, restarts and their counts, the crash loop, and no restart after close()."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from ccari.metrics import Metrics
from ccari.pbx.errors import StartError
from ccari.pbx.instance import InstancePaths, PbxProcess
from ccari.pbx.restarts import RestartPolicy
from ccari.pbx.runtime import Runtime
from ccari.pbx.spec import PbxSpec
from ccari.pbx.watch import PbxWatch, describe_status
from tests.support.waits import eventually

SPEC = PbxSpec(instance="watched", app_name="ccari-watched", ari_user="u", ari_password="p",
               ami_user="u", ami_secret="s")
FAST = RestartPolicy(initial_s=0.01, cap_s=0.08, stable_after_s=5.0, crash_loop_after=3)


class Processes:
    """Stand-ins for Asterisk: each ``start`` runs the next command of a script."""

    def __init__(self, tmp: Path) -> None:
        self.paths = InstancePaths(Runtime(tmp, chroot=False), SPEC.instance)
        self.started: list[PbxProcess] = []
        self.starts_at: list[float] = []

    def spawn(self, *argv: str) -> PbxProcess:
        popen = subprocess.Popen(list(argv), start_new_session=True)
        proc = PbxProcess(SPEC, self.paths, popen.pid, popen)
        self.started.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.started:
            assert proc.popen is not None
            if proc.popen.poll() is None:
                proc.popen.kill()
            proc.popen.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    p = Processes(tmp_path)
    yield p
    p.cleanup()


def restarter(processes: Processes, *script: tuple[str, ...] | Exception):  # type: ignore[no-untyped-def]
    steps = list(script)

    async def restart(previous: PbxProcess) -> PbxProcess:
        processes.starts_at.append(time.monotonic())
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        if isinstance(step, Exception):
            raise step
        return processes.spawn(*step)

    return restart


def holds(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check


def test_exit_statuses_in_words() -> None:
    assert describe_status(-9) == "killed by signal SIGKILL"
    assert describe_status(3) == "exit status 3"
    assert describe_status(0) == "exit status 0"


async def test_killed_process_is_restarted_logged_and_counted(
    processes: Processes, caplog: pytest.LogCaptureFixture
) -> None:
    first = processes.spawn("sleep", "60")
    watch = PbxWatch(first, restarter(processes, ("sleep", "60")), FAST)
    metrics = Metrics()
    watch.register_metrics(metrics)
    watch.start()
    try:
        with caplog.at_level(logging.WARNING, logger="ccari.pbx.watch"):
            first.popen.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            await eventually(holds(lambda: watch.restarts == 1), 5, "a restart")
    finally:
        await watch.close()
    assert watch.process is processes.started[1] and watch.up
    assert first.popen is not None and first.popen.returncode == -9  # reaped
    died = [r for r in caplog.records if ") died: " in r.getMessage()]
    assert len(died) == 1 and died[0].levelno == logging.WARNING
    assert "killed by signal SIGKILL" in died[0].getMessage()
    assert "restart 1, after it died: killed by signal SIGKILL" in caplog.text
    text = metrics.render()
    assert "ccari_pbx_restarts_total 1\n" in text and "ccari_pbx_up 1\n" in text
    assert "ccari_pbx_failed_starts_total 0\n" in text


async def test_a_crash_loop_backs_off_to_the_cap_and_says_so_once(
    processes: Processes, caplog: pytest.LogCaptureFixture
) -> None:
    crashing = ("sh", "-c", "exit 3")
    watch = PbxWatch(processes.spawn(*crashing), restarter(processes, crashing), FAST)
    with caplog.at_level(logging.WARNING, logger="ccari.pbx.watch"):
        watch.start()
        try:
            await eventually(holds(lambda: watch.restarts >= 6), 10, "six restarts")
        finally:
            await watch.close()
    gaps = [b - a for a, b in zip(processes.starts_at, processes.starts_at[1:], strict=False)]
    # 0.01, 0.02 then the cap (0.08) for every later one: never a spin
    assert all(g >= FAST.cap_s * 0.9 for g in gaps[2:]), gaps
    loops = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(loops) == 1 and "crash loop: 3 quick failures in a row" in loops[0].getMessage()
    assert "exit status 3" in caplog.text and "retrying at the cap" in caplog.text


async def test_a_failed_start_is_retried_and_counted(processes: Processes) -> None:
    first = processes.spawn("sh", "-c", "exit 1")
    watch = PbxWatch(first, restarter(processes, StartError("port taken"), ("sleep", "60")), FAST)
    watch.start()
    try:
        await eventually(holds(lambda: watch.restarts == 1), 5, "a restart")
    finally:
        await watch.close()
    assert watch.failed_starts == 1 and len(processes.starts_at) == 2


async def test_nothing_is_restarted_after_close(processes: Processes) -> None:
    slow = RestartPolicy(initial_s=30.0, cap_s=30.0)
    first = processes.spawn("sleep", "60")
    watch = PbxWatch(first, restarter(processes, ("sleep", "60")), slow)
    watch.start()
    first.popen.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    await eventually(holds(lambda: not watch.up), 5, "the death to be seen")
    await watch.close()  # during the backoff
    await asyncio.sleep(0.1)
    assert processes.starts_at == [] and watch.process is first and watch.restarts == 0


async def test_close_during_a_start_keeps_the_process_it_made(processes: Processes) -> None:
    began, release = asyncio.Event(), asyncio.Event()

    async def slow_start(previous: PbxProcess) -> PbxProcess:
        began.set()
        await release.wait()
        return processes.spawn("sleep", "60")

    first = processes.spawn("sh", "-c", "exit 0")
    watch = PbxWatch(first, slow_start, FAST)
    watch.start()
    await asyncio.wait_for(began.wait(), 5)
    closing = asyncio.ensure_future(watch.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the start runs to its end...
    release.set()
    await asyncio.wait_for(closing, 5)
    # ...and the Asterisk it made is the one the owner stops (or keeps)
    assert watch.process is processes.started[1] and watch.restarts == 0
