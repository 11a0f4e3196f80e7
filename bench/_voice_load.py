"""Load steps for bench.voice: drive one SIPp caller step, judge every call the same way from
outside, count CPU per process, and ramp a system to saturation (doubling, then bisection).

A call is *served* when the caller was answered, sent its digit, and the far end hung up no
earlier than 80% of the hold time after the answer (the agent phone's, or the dialplan's,
hang-up) with its setup — INVITE to BYE, minus the hold — within ``max_setup``.  Everything
else is not served: refused (a final 404/480/486/503/603, with or without early media),
answered but hung up early, late (served after ``max_setup``), abandoned (no BYE within
hold + max_setup: the caller gives up), or no final response at all.
"""

from __future__ import annotations

import collections
import os
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import percentile
from tests.support.sipp import Sipp

CALLER_IP = "127.0.0.2"
LOG = "calls.log"
FAIL_LIMIT = 0.005  # a step passes with at most 0.5% of its calls not served
CLIMB_LIMIT_MS = 500.0  # ... and its setup not growing by more than this across the step
TICK = os.sysconf("SC_CLK_TCK")
# SIPp's socket buffers (bytes; the kernel caps them at net.core.rmem_max): the default 64 KB
# drops SIP on loopback at a few hundred calls/s, and a lost 200 OK costs a 500 ms resend.
BUFFER = 4 * 1024 * 1024


@dataclass(frozen=True)
class Call:
    """One caller's log line (times in seconds since the epoch)."""

    n: int
    outcome: str  # bye | abandon | refused
    t0: float  # INVITE sent
    t1: float  # final response
    t2: float | None = None  # far end's BYE
    code: int = 200


def parse_calls(log: str) -> list[Call]:
    calls = []
    for line in log.splitlines():
        f = line.strip().split(";")
        if len(f) < 6:
            continue
        try:
            if f[0] == "refused":
                calls.append(Call(int(f[1]), "refused", _t(f[3], f[4]), _t(f[5], f[6]),
                                  code=int(f[2])))
            elif f[0] == "bye":
                calls.append(Call(int(f[1]), "bye", _t(f[2], f[3]), _t(f[4], f[5]), _t(f[6], f[7])))
            elif f[0] == "abandon":
                calls.append(Call(int(f[1]), "abandon", _t(f[2], f[3]), _t(f[4], f[5])))
        except (ValueError, IndexError):
            continue
    return calls


def _t(s: str, us: str) -> float:
    return float(s) + float(us) / 1e6


def cpu_of(pid: int | None) -> float:
    """utime + stime of a live process, in seconds (0 when it is gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_peak_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used during a step by each side, and the step's wall time."""

    asterisk: float
    ccari: float  # this process: ccari's runtime (and the bench's few lines around it)
    sipp: float  # the caller (reaped child) and the agent phones
    wall: float

    def describe(self) -> str:
        pct = (lambda x: f"{100 * x / self.wall:.0f}%") if self.wall else str
        return f"cpu asterisk={pct(self.asterisk)} ccari={pct(self.ccari)} sipp={pct(self.sipp)}"


class CpuMeter:
    """Before/after readings of /proc/<pid>/stat and getrusage around one step."""

    def __init__(self, asterisk_pid: int, agents_pid: int | None) -> None:
        self.pids = (asterisk_pid, agents_pid)
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the caller SIPp, once reaped
        return (cpu_of(self.pids[0]), me.ru_utime + me.ru_stime,
                kids.ru_utime + kids.ru_stime + cpu_of(self.pids[1]), time.monotonic())

    def stop(self) -> Cpu:
        a, b = self._start, self._read()
        return Cpu(b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3])


@dataclass
class Step:
    system: str
    rate: int  # offered calls/s
    seconds: float
    calls: int
    calls_log: list[Call]
    hold_s: float
    max_setup_s: float
    cpu: Cpu | None = None
    breakdown: dict[str, int] = field(default_factory=dict)  # set by the caller (ccari)
    stuck_in_ivr: int = 0  # set by the caller (ccari)

    def __post_init__(self) -> None:
        hold, limit = self.hold_s, self.max_setup_s * 1000
        self.served: list[Call] = []
        self.late = self.early = self.abandoned = self.refused = 0
        self.refused_codes: collections.Counter[int] = collections.Counter()
        self.setups_ms: list[float] = []  # of served calls, in INVITE order
        for c in sorted(self.calls_log, key=lambda c: c.t0):
            if c.outcome == "refused":
                self.refused += 1
                self.refused_codes[c.code] += 1
            elif c.outcome == "abandon":
                self.abandoned += 1
            elif c.t2 is not None and c.t2 - c.t1 < 0.8 * hold:
                self.early += 1
            elif c.t2 is not None:
                setup = (c.t2 - c.t0 - hold) * 1000
                if setup > limit:
                    self.late += 1
                else:
                    self.served.append(c)
                    self.setups_ms.append(setup)
        self.no_answer = max(0, self.calls - len(self.calls_log))

    @property
    def failed(self) -> int:
        return self.calls - len(self.served)

    def _codes(self) -> str:
        """The refusals' final responses: which part of the system turned the calls away."""
        if not self.refused_codes:
            return ""
        return " (" + ", ".join(f"{code}: {n}" for code, n in sorted(self.refused_codes.items())) + ")"

    @property
    def fail_ratio(self) -> float:
        return self.failed / self.calls if self.calls else 1.0

    @property
    def achieved_rate(self) -> float:
        """The rate SIPp really offered (its INVITEs' spread): a CPU-starved SIPp falls short."""
        t = sorted(c.t0 for c in self.calls_log)
        if len(t) < 2 or t[-1] <= t[0]:
            return float(self.rate)
        return (len(t) - 1) / (t[-1] - t[0])

    @property
    def climb_ms(self) -> float:
        """Median setup of the last quarter of served calls minus that of the first quarter."""
        s = self.setups_ms
        q = len(s) // 4
        if q < 5:
            return 0.0
        return percentile(s[-q:], 50) - percentile(s[:q], 50)

    @property
    def generator_bound(self) -> bool:
        return self.achieved_rate < 0.9 * self.rate

    @property
    def passed(self) -> bool:
        return self.fail_ratio <= FAIL_LIMIT and self.climb_ms <= CLIMB_LIMIT_MS

    def line(self, verbose: bool) -> str:
        s = self.setups_ms
        text = (f"{self.system:8s} rate={self.rate:5d}/s calls={self.calls:5d} "
                f"failed={self.failed:5d} ({100 * self.fail_ratio:5.2f}%) "
                f"setup p50={percentile(s, 50):4.0f}ms p99={percentile(s, 99):5.0f}ms "
                f"climb={self.climb_ms:+5.0f}ms offered={self.achieved_rate:6.1f}/s"
                f"{' ' + self.cpu.describe() if self.cpu else ''} "
                f"{'pass' if self.passed else 'FAIL'}")
        if verbose:
            text += (f"\n           late={self.late} bye_too_soon={self.early} "
                     f"abandoned={self.abandoned} refused={self.refused}{self._codes()} "
                     f"no_final_response={self.no_answer}")
            if self.breakdown:
                text += f" contacts {self.breakdown}"
        return text


async def drive(system: str, target: str, did: str, rate: int, seconds: float, *,
                hold_s: float, max_setup_s: float, asterisk_pid: int,
                agents_pid: int | None) -> Step:
    """Offer ``rate`` calls/s to ``did`` for ``seconds``; return the judged step."""
    calls = max(1, round(rate * seconds))
    max_wait_ms = int((hold_s + max_setup_s) * 1000)
    sipp = Sipp("bench_caller.xml", target, service=did, local_ip=CALLER_IP, calls=calls,
                rate=rate, max_concurrent=max(50, int(rate * (hold_s + max_setup_s + 8))),
                timeout_s=seconds + hold_s + 2 * max_setup_s + 40,
                recv_timeout_ms=int((max_setup_s + 5) * 1000),
                params={"digits": "1", "dtmf_after_ms": 200, "max_wait_ms": max_wait_ms},
                extra_args=("-trace_logs", "-log_file", LOG, "-buff_size", str(BUFFER)),
                keep=(LOG,))
    meter = CpuMeter(asterisk_pid, agents_pid)
    await sipp.start()
    result = await sipp.wait()
    cpu = meter.stop()
    return Step(system, rate, seconds, calls, parse_calls(result.kept.get(LOG, "")),
                hold_s, max_setup_s, cpu)


StepRunner = Callable[[int], Awaitable[Step]]


async def ramp(run: StepRunner, start: int, max_rate: int, bisections: int,
               verbose: bool, confirm: int = 2) -> list[Step]:
    """Double from ``start`` until a step fails, then bisect between the last pass and the
    first failure (``bisections`` steps at most, stopping at 10% resolution), then run the
    best rate again: a rate passed once at the box's edge may fail the next minute, so a
    repeat that fails is followed by a step 10% lower (``confirm`` steps in all, at most)."""
    steps: list[Step] = []

    async def step(rate: int) -> Step:
        s = await run(rate)
        steps.append(s)
        print(s.line(verbose), flush=True)
        return s

    lo, hi, rate = 0, None, start
    while rate <= max_rate:
        s = await step(rate)
        if not s.passed:
            hi = rate
            break
        lo = rate
        if s.generator_bound:
            return steps  # SIPp cannot offer more on this box
        rate *= 2
    if hi is None:
        return steps
    for _ in range(bisections):
        mid = (lo + hi) // 2
        if mid <= lo or hi - lo <= max(1, lo // 10):
            break
        if (await step(mid)).passed:
            lo = mid
        else:
            hi = mid
    rate = lo
    for _ in range(confirm):
        if rate < start or (await step(rate)).passed:
            break
        rate -= max(1, rate // 10)
    return steps


def sustained(steps: list[Step]) -> int:
    """The highest rate passed with no step failing at or below it: a rate passed once and
    failed on its repeat is not sustained, nor one above a lower rate that failed (the box
    could not carry less, that minute)."""
    lowest_failed = min((s.rate for s in steps if not s.passed), default=None)
    return max((s.rate for s in steps if s.passed
                and (lowest_failed is None or s.rate < lowest_failed)), default=0)
