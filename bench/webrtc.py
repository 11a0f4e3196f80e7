"""Simultaneous browser calls this box carries with their audio intact, against plain SIP
calls through the same Asterisk, each system driven to saturation, in one run.

What is measured
----------------
One Asterisk 22 and ccari on it, set up as the browser-phone tests are
(``tests/voice/browser_phone.py``: the demo's acme, talk now on).  Each step holds N calls
waiting in acme's queue, where Asterisk plays them its music on hold (no agent is ready),
and listens to that audio for ``--window`` seconds:

1. **webrtc**: N Chromium pages (one context each, fake media devices; one browser per 16
   pages: a Chromium opens at most 16 microphones, ``PAGES_PER_BROWSER``) on acme's
   demo page press Help, Talk now, "Talk about sales": JsSIP through ccari's public SIP relay,
   DTLS-SRTP and ICE to Asterisk's ``ccari-web`` endpoint, G.711.  Each page's
   ``RTCPeerConnection.getStats()`` (inbound audio) gives packets received and lost, jitter
   and concealed samples.
2. **sip**: N carrier callers from one SIPp (``tests/sipp/caller_media.xml``, a row of its
   injection file per call: caller number and RTP port; ``SETUP_CPS`` INVITEs a second),
   plain RTP, G.711, who press 1 in the IVR and wait in the same queue; their RTP sockets
   (``tests/support/rtp.py``, in this process) give the same figures from the packets'
   sequence numbers and timestamps (RFC 3550 jitter).

A call's audio is *intact* when under 1% of its packets were lost, at least 80% of the
window's 50 packets/s arrived, and (webrtc) under 5% of the samples the page played out were
concealed (Chromium filling in audio that came too late or not at all: heard as glitches;
on a loaded box this breaks first, while no packet is lost).  A step passes when every call
was set up, queued, and kept its audio intact.

Each system ramps on its own, webrtc first: N doubles from ``--start`` until a step fails,
then ``--bisect`` steps between the last N that passed and the first that failed, so the
figure is finer than a power of two.  ``--max-webrtc`` (64) and ``--max-sip`` (512) are
guards only: a system that passes its cap is reported as such, its figure a lower bound.
Each step prints per system: calls with intact audio, loss, p99 jitter, the largest
concealed share, and where the time went: the CPU seconds each kind of process used in the
window (``/proc/<pid>/stat``, utime + stime): Asterisk; ccari (this process, which also
runs the SIP callers' RTP sockets and Playwright's client); Chromium (every Chromium process
below this one, with the children they reaped); SIPp.  The window's length times the box's
cores is all there was.

    python -m bench.webrtc            # every system to its first failure: 6-7 min here
    python -m bench.webrtc --quick    # N = 1 each: a smoke run (about 20 s)
    python -m bench.webrtc --full     # 10 s windows, 3 bisection steps

Last line: ``webrtc_calls=… sip_calls=… ratio=… audio_ok=… p99_jitter_ms=…``: per system
the largest N that passed below the smallest N that failed, their ratio (webrtc / sip), the
webrtc calls intact at the step that failed (the last step when none did), and the p99
jitter of the webrtc calls over every step; `` lower_bound=…`` follows when a system reached
its cap (its figure, and so the ratio, are bounds then).

What is not a limit here
------------------------
The bench opens what would turn calls away before the media saturates: acme's trunk
admission (a pool of 10,000 trunks and as many after-hours trunks for acme, whose number
has no business hours: no agent is in), ccari's overload gate (off in the voice tests'
config), the public listener's rate limits on new sessions and talk tickets per address
(every page comes from 127.0.0.1), SIPp's own time limits (``SIPP_LIMIT_S``), and one SIPp
for every SIP caller rather than one process a call.  Asterisk has no ``maxcalls`` or
``maxload``; its ``maxfiles`` is 65,536 (this process: 20,000); its RTP range here,
12000-19998, holds about 4,000 calls; the queue has no length limit.  A step's listening
window is a measurement, the only sleeps here.

Measured
--------
On the 2-core development box, shared with other work (the SIP figure moves with the
neighbours' load), Asterisk 22, Chromium headless; two default runs:

    webrtc_calls=20 sip_calls=384 ratio=0.052 audio_ok=23/24 p99_jitter_ms=32.0  (7 min 12 s)
    webrtc_calls=20 sip_calls=224 ratio=0.089 audio_ok=1/24 p99_jitter_ms=88.0   (5 min 47 s)

* **webrtc** is limited by Chromium's CPU.  2 to 20 pages intact (0.00% loss, at most 1.6%
  concealed, p99 jitter <= 6 ms); at 24 pages no packet is lost but the pages' playout
  starves (5.1% and 18.7% of the samples concealed: 23/24 and 1/24 intact); at 32, calls do
  not get through, or pages answer the relay's pings too late and are lost (4 s dead-call
  time).  At 20 pages, of the window's 10 CPU seconds, Chromium used 7.3-7.5 (7.5% of a core
  a page), Asterisk 0.8-0.9, ccari 0.1-0.15.
* **sip** is limited by the box's CPU, shared by Asterisk (a thread per channel and its music
  on hold: 4.3-5.8 s of the window at 224-384 calls, 0.3-0.4% of a core a call) and this
  process (3.6-3.8 s: ccari and the callers' RTP sockets, 50 packets/s each way per call,
  0.2-0.3% of a core a call); SIPp used under 0.1 s.  0.00% loss at every N; what breaks
  first is call setup (ccari's ARI requests to the saturated Asterisk unanswered for 5 s:
  IVR prompts not played, a caller not queued within 20 s, at 256 or 448 calls), then at
  512 the music itself (under 80% of the packets on time, none lost).

Asterisk's own share says what a call costs the PBX, the browsers aside (a customer's
browser is not on the PBX): about 0.9% of a core a WebRTC call (DTLS-SRTP, ICE) against
0.3-0.4% a plain RTP call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import Browser, Page
from sqlalchemy import func, select

from bench._common import parser, percentile, table
from ccari.app import Runtime, public_app
from ccari.pbx import PbxProcess
from ccari.public.ratelimit import Bucket, Rate
from ccari.storage.models import Contact, Tenant
from tests.support.browser import FAKE_MEDIA, chromium
from tests.support.rtp import RtpHeader, RtpPeer, tone
from tests.support.sipp import Sipp, free_tcp_port
from tests.support.waits import eventually
from tests.voice.browser_phone import browser_ccari, browser_pbx
from tests.voice.conftest import CARRIER_IP, VoiceEnv, pbx_counts

PACKETS_PER_S = 50  # G.711 at 20 ms
MAX_LOSS = 0.01
MIN_ARRIVED = 0.8
MAX_CONCEALED = 0.05  # of the samples played out (Chromium filled them in: heard as glitches)
ACME = "15550100"  # acme's number: its IVR, 1 for sales
SETUP_CPS = 20  # the SIP callers' INVITEs per second (well under ccari's sustained rate)
SIPP_LIMIT_S = 300  # SIPp's own time limits: far beyond a step
# Pages per Chromium: its audio manager opens at most 16 input streams (microphones) at once,
# the 17th page's call fails with "User Denied Media Access".
PAGES_PER_BROWSER = 16
TICK = os.sysconf("SC_CLK_TCK")
KINDS = ("asterisk", "ccari", "chromium", "sipp")


@dataclass(frozen=True)
class Audio:
    """One call's inbound audio over the window."""

    received: int
    lost: int
    jitter_ms: float
    concealed: float  # share of the samples played out that were concealed (webrtc only)

    def intact(self, window_s: float) -> bool:
        expected = self.received + self.lost
        return (expected > 0 and self.lost / expected < MAX_LOSS
                and self.received >= MIN_ARRIVED * PACKETS_PER_S * window_s
                and self.concealed < MAX_CONCEALED)


NO_AUDIO = Audio(0, 0, math.nan, 0.0)  # a call that was not set up


@dataclass(frozen=True)
class Step:
    system: str
    n: int
    calls: list[Audio]
    window_s: float
    cpu: dict[str, float]  # CPU seconds of each process kind over the window
    why: str = ""  # what went wrong before the window (calls not set up, not queued)

    @property
    def ok(self) -> int:
        return sum(a.intact(self.window_s) for a in self.calls)

    @property
    def passed(self) -> bool:
        return not self.why and self.ok == self.n

    @property
    def loss_pct(self) -> float:
        lost = sum(a.lost for a in self.calls)
        total = lost + sum(a.received for a in self.calls)
        return 100 * lost / total if total else math.nan

    @property
    def p99_jitter_ms(self) -> float:
        return percentile([a.jitter_ms for a in self.calls if not math.isnan(a.jitter_ms)], 99)

    @property
    def max_concealed_pct(self) -> float:
        return 100 * max((a.concealed for a in self.calls), default=0.0)

    def row(self) -> list[object]:
        return [self.system, self.n, f"{self.ok}/{self.n}", self.loss_pct, self.p99_jitter_ms,
                self.max_concealed_pct, *(self.cpu[k] for k in KINDS)]

    def line(self) -> str:
        return (f"{self.system:6s} n={self.n:<3d} intact={self.ok}/{self.n} "
                f"loss={self.loss_pct:.2f}% p99_jitter={self.p99_jitter_ms:.1f}ms "
                f"max_concealed={self.max_concealed_pct:.1f}% cpu_s "
                + " ".join(f"{k}={self.cpu[k]:.1f}" for k in KINDS)
                + (f"  ({self.why})" if self.why else ""))


HEADER = ["system", "calls", "intact", "loss_%", "p99_jitter_ms", "max_concealed_%",
          *(f"{k}_cpu_s" for k in KINDS)]


# ---- where the time goes: CPU seconds per process kind, from /proc ---------------------------
def _stat(pid: str) -> tuple[int, str, float, float] | None:
    """ppid, name, own CPU seconds, CPU seconds of its reaped children."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:]
    f = rest.split()
    return int(f[1]), name, (int(f[11]) + int(f[12])) / TICK, (int(f[13]) + int(f[14])) / TICK


def cpu_by_kind(asterisk_pid: int) -> dict[str, float]:
    """CPU seconds used so far by Asterisk, by this process (ccari; also the SIP callers' RTP
    sockets and Playwright's client), and by the Chromium and SIPp processes below it (with
    the children they reaped: a Chromium process that ended still counts)."""
    procs = {pid: st for pid in os.listdir("/proc") if pid.isdigit() and (st := _stat(pid))}
    me = os.getpid()
    below, todo = [], [me]
    while todo:
        parent = todo.pop()
        kids = [int(p) for p, st in procs.items() if st[0] == parent]
        below += kids
        todo += kids
    used = dict.fromkeys(KINDS, 0.0)
    used["ccari"] = procs[str(me)][2]
    for pid in below:
        _, name, own, reaped = procs[str(pid)]
        kind = ("asterisk" if pid == asterisk_pid else "sipp" if name == "sipp"
                else "chromium" if name.startswith("chrom") else None)
        if kind:
            used[kind] += own + reaped
    return used


async def listen(asterisk_pid: int, window_s: float) -> dict[str, float]:
    """The listening window (a measurement, not a wait): the CPU each kind used in it."""
    before = await asyncio.to_thread(cpu_by_kind, asterisk_pid)
    await asyncio.sleep(window_s)
    after = await asyncio.to_thread(cpu_by_kind, asterisk_pid)
    return {k: after[k] - before[k] for k in KINDS}


# ---- the world: the browser-phone tests' Asterisk and ccari ----------------------------------
class _Dirs:
    """What browser_pbx asks of pytest's TempPathFactory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


@contextlib.asynccontextmanager
async def world(root: Path) -> AsyncIterator[tuple[VoiceEnv, PbxProcess, Runtime, str]]:
    """Asterisk, ccari on it, and ccari's public listener (its rate limits on new sessions
    and talk tickets opened: every page here comes from one address)."""
    pbx = browser_pbx("bwebrtc", _Dirs(root))  # type: ignore[arg-type]
    env, proc = await asyncio.to_thread(next, pbx)
    try:
        runs = browser_ccari((env, proc), root)
        rt = await anext(runs)
        rt.limiters.sessions_per_ip = Bucket(Rate(100_000, 0.001))
        rt.limiters.talk_tickets_per_ip = Bucket(Rate(100_000, 0.001))
        await open_trunks(rt)
        runner = web.AppRunner(public_app(rt))
        await runner.setup()
        port = free_tcp_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield env, proc, rt, f"http://127.0.0.1:{port}/demo/acme/"
        finally:
            await runner.cleanup()
            await anext(runs, None)  # fails if a channel or a bridge is left
    finally:
        await asyncio.to_thread(next, pbx, None)


async def open_trunks(rt: Runtime) -> None:
    """Trunk admission must not be what limits the SIP callers (acme has no agent in)."""
    assert rt.admission is not None
    async with rt.sessions() as s:
        acme = await s.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
    assert acme is not None
    await rt.admission.set_pool({"total_trunks": 10_000})
    await rt.admission.set_policy(acme, after_hours_trunks=10_000)


async def queued(rt: Runtime, n: int) -> bool:
    async with rt.sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Contact).where(
            Contact.state == "queued"))
    return count == n


async def all_queued(rt: Runtime, n: int, within: float) -> str:
    """'' once ``n`` calls wait in the queue, else what went wrong."""
    try:
        await eventually(lambda: queued(rt, n), within, f"{n} calls queued")
    except AssertionError as e:
        return str(e)
    return ""


async def hang_up_all(rt: Runtime, proc: PbxProcess) -> None:
    await asyncio.to_thread(proc.rx, "channel request hangup all")

    async def clean() -> bool:
        return await asyncio.to_thread(pbx_counts, proc) == (0, 0)

    await eventually(clean, 60, "Asterisk to have no channel left")
    await eventually(lambda: queued(rt, 0), 60, "ccari to have no call left in the queue")


# ---- webrtc: Chromium pages on the talk-now widget ------------------------------------------
async def _stats(page: Page) -> dict[str, Any]:
    return await page.evaluate(  # type: ignore[no-any-return]
        "window.ccariTalk ? window.ccariTalk.stats() : null") or {}


async def _talk(page: Page, url: str) -> None:
    await page.goto(url)
    await page.click(".ccari-w-launch")
    await page.click(".ccari-w-choice[data-choice=talk]", timeout=20000)
    await page.click(".ccari-w-talk button[data-topic=sales]")

    async def hears() -> bool:
        return (await _stats(page)).get("packetsReceived", 0) > PACKETS_PER_S

    try:
        await eventually(hears, 30, "the page to hear the queue's music")
    except AssertionError:
        state = await page.locator(".ccari-w-talk-state").text_content()
        raise AssertionError(f"the talk-now call did not get through: {state}") from None


def _audio(before: dict[str, Any], after: dict[str, Any]) -> Audio:
    if not before or not after:
        return NO_AUDIO  # the page's call ended
    samples = after["totalSamplesReceived"] - before["totalSamplesReceived"]
    return Audio(received=after["packetsReceived"] - before["packetsReceived"],
                 lost=max(0, after["packetsLost"] - before["packetsLost"]),
                 jitter_ms=1000.0 * after["jitter"],
                 concealed=(after["concealedSamples"] - before["concealedSamples"])
                 / samples if samples > 0 else 1.0)


class Browsers:
    """Chromium browsers, launched as the steps need them (``PAGES_PER_BROWSER``)."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self._stack = stack
        self._all: list[Browser] = []

    async def for_pages(self, n: int) -> list[Browser]:
        """The browser of each of ``n`` pages."""
        while len(self._all) * PAGES_PER_BROWSER < n:
            self._all.append(await self._stack.enter_async_context(chromium(*FAKE_MEDIA)))
        return [self._all[i // PAGES_PER_BROWSER] for i in range(n)]


async def webrtc_step(browsers: Browsers, rt: Runtime, proc: PbxProcess, url: str, n: int,
                      window_s: float) -> Step:
    contexts = [await b.new_context() for b in await browsers.for_pages(n)]
    try:
        pages = [await c.new_page() for c in contexts]
        setups = await asyncio.gather(*(_talk(p, url) for p in pages), return_exceptions=True)
        up = [p for p, e in zip(pages, setups, strict=True) if e is None]
        failed = [e for e in setups if e is not None]
        why = (f"{len(failed)} not set up: {str(failed[0]).splitlines()[0]}" if failed
               else await all_queued(rt, n, 20))
        before = await asyncio.gather(*(_stats(p) for p in up))
        cpu = await listen(proc.pid, window_s)
        after = await asyncio.gather(*(_stats(p) for p in up))
        calls = [_audio(b, a) for b, a in zip(before, after, strict=True)]
        return Step("webrtc", n, calls + [NO_AUDIO] * len(failed), window_s, cpu, why)
    finally:
        for c in contexts:
            await c.close()
        await hang_up_all(rt, proc)


# ---- sip: one SIPp for the carrier's callers, each with its own RTP socket -------------------
def rtp_audio(headers: Sequence[RtpHeader], since: float, until: float) -> Audio:
    """Loss (from the sequence numbers) and RFC 3550 interarrival jitter (8 kHz timestamps)
    of the packets received in [since, until)."""
    got = [h for h in headers if since <= h.at < until and h.pt == 0]
    if not got:
        return NO_AUDIO
    seqs, last = [], None
    for h in got:  # unwrap the 16-bit sequence numbers
        if last is None:
            seqs.append(h.seq)
        else:
            seqs.append(seqs[-1] + ((h.seq - last + 0x8000) % 0x10000 - 0x8000))
        last = h.seq
    expected = max(seqs) - min(seqs) + 1
    jitter = 0.0
    for a, b in zip(got, got[1:], strict=False):
        d = (b.at - a.at) - ((b.ts - a.ts) % (1 << 32)) / 8000
        jitter += (abs(d) - jitter) / 16
    return Audio(received=len(got), lost=max(0, expected - len(got)), jitter_ms=1000 * jitter,
                 concealed=0.0)


def callers(env: VoiceEnv, sinks: Sequence[RtpPeer]) -> Sipp:
    """One SIPp making ``len(sinks)`` calls to acme, the i-th with the i-th socket's port in
    its SDP (a row of SIPp's injection file), each waiting for Asterisk's BYE."""
    return Sipp("caller_media.xml", env.sip_target, service=ACME, local_ip=CARRIER_IP,
                calls=len(sinks), rate=SETUP_CPS, max_concurrent=len(sinks),
                params={"caller": "[field0]", "sdp_port": "[field1]", "hangup_after_ms": 0},
                inject=[(f"1555{i:04d}", str(s.port)) for i, s in enumerate(sinks)],
                timeout_s=SIPP_LIMIT_S, recv_timeout_ms=SIPP_LIMIT_S * 1000)


async def menus_answered(sinks: Sequence[RtpPeer], within: float) -> str:
    """Each caller presses 1 once the IVR's first words reach it; '' once all have."""
    pressed: set[int] = set()

    async def all_pressed() -> bool:
        for i, sink in enumerate(sinks):
            if i not in pressed and sink.remote:
                sink.press("1")
                pressed.add(i)
        return len(pressed) == len(sinks)

    try:
        await eventually(all_pressed, within, f"the IVR's first words on {len(sinks)} calls")
    except AssertionError as e:
        return f"{e} ({len(pressed)} heard)"
    return ""


async def sip_step(env: VoiceEnv, rt: Runtime, proc: PbxProcess, n: int,
                   window_s: float) -> Step:
    sound = tone(1.0, 500.0)
    sinks = [await RtpPeer.open(CARRIER_IP, sound) for _ in range(n)]
    sipp = callers(env, sinks)
    try:
        await sipp.start()
        setup_s = 20 + n / SETUP_CPS  # every INVITE sent, then the IVR's time
        why = await menus_answered(sinks, setup_s) or await all_queued(rt, n, 20)
        await asyncio.sleep(1.0)  # the music on hold under way (a measurement's start)
        since = time.monotonic()
        cpu = await listen(proc.pid, window_s)
        until = time.monotonic()
        return Step("sip", n, [rtp_audio(s.headers, since, until) for s in sinks], window_s,
                    cpu, why)
    finally:
        await hang_up_all(rt, proc)
        for s in sinks:
            s.close()
        with contextlib.suppress(Exception):
            await sipp.stop()


# ---- the run: each system ramped on its own --------------------------------------------------
def figure(steps: Sequence[Step]) -> tuple[int, int | None]:
    """The largest N that passed below the smallest N that did not (None: none failed)."""
    bad = min((s.n for s in steps if not s.passed), default=None)
    good = max((s.n for s in steps if s.passed and (bad is None or s.n < bad)), default=0)
    return good, bad


async def ramp(step: Callable[[int], Awaitable[Step]], start: int, cap: int,
               bisect: int) -> list[Step]:
    """N doubled from ``start`` until a step fails or N reaches ``cap``, then ``bisect``
    steps between the last N that passed and the first that failed."""
    steps: list[Step] = []

    async def run(n: int) -> bool:
        steps.append(await step(n))
        print(steps[-1].line(), flush=True)
        return steps[-1].passed

    n = start
    while await run(n) and n < cap:
        n = min(2 * n, cap)
    for _ in range(bisect):
        good, bad = figure(steps)
        if bad is None or bad - good < 2:
            break
        await run((good + bad) // 2)
    return steps


async def main(args: argparse.Namespace) -> dict[str, list[Step]]:
    root = Path(tempfile.mkdtemp(prefix="ccari-bench-webrtc-"))
    start, caps, bisect = (1, {"webrtc": 1, "sip": 1}, 0) if args.quick else (
        args.start, {"webrtc": args.max_webrtc, "sip": args.max_sip}, args.bisect)
    results: dict[str, list[Step]] = {}
    started = time.monotonic()
    try:
        async with world(root) as (env, proc, rt, url):
            print(f"bench: N from {start}, doubled to the first failure (caps: webrtc "
                  f"{caps['webrtc']}, sip {caps['sip']}), then {bisect} bisection steps; a "
                  f"{args.window:g}s listening window per step (cpu_s: CPU seconds in it, "
                  f"of {os.cpu_count()} cores); Asterisk pid {proc.pid}", flush=True)
            async with contextlib.AsyncExitStack() as stack:
                browsers = Browsers(stack)
                results["webrtc"] = await ramp(
                    lambda n: webrtc_step(browsers, rt, proc, url, n, args.window),
                    start, caps["webrtc"], bisect)
            results["sip"] = await ramp(lambda n: sip_step(env, rt, proc, n, args.window),
                                        start, caps["sip"], bisect)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(table(HEADER, [s.row() for side in results.values()
                         for s in sorted(side, key=lambda s: s.n)]))
    (web_n, web_bad), (sip_n, sip_bad) = figure(results["webrtc"]), figure(results["sip"])
    for side, n in (("webrtc", web_n), ("sip", sip_n)):
        for s in results[side]:
            if s.n == n:
                print(f"{side} at its figure, {n} calls: CPU seconds in the {s.window_s:g}s "
                      "window " + " ".join(f"{k}={s.cpu[k]:.2f}" for k in KINDS))
    capped = [side for side, bad in (("webrtc", web_bad), ("sip", sip_bad)) if bad is None]
    for side in capped:
        print(f"{side}: every step up to its cap ({caps[side]} calls) kept its audio intact: "
              f"{side}_calls is a lower bound (raise --max-{side})")
    broke = next(s for s in results["webrtc"] if s.n == (web_bad or web_n))
    jitters = [a.jitter_ms for s in results["webrtc"] for a in s.calls
               if not math.isnan(a.jitter_ms)]
    print(f"done in {time.monotonic() - started:.0f}s", flush=True)
    print(f"webrtc_calls={web_n} sip_calls={sip_n} "
          f"ratio={web_n / sip_n if sip_n else math.nan:.3f} audio_ok={broke.ok}/{broke.n} "
          f"p99_jitter_ms={percentile(jitters, 99):.1f}"
          + (f" lower_bound={','.join(capped)}" if capped else ""))
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser("Simultaneous browser calls with intact audio, against plain SIP calls.")
    p.add_argument("--quick", action="store_true", help="one call of each: a smoke run")
    p.add_argument("--start", type=int, default=2, help="calls in each system's first step")
    p.add_argument("--max-webrtc", type=int, default=64,
                   help="the most browser calls a step holds (a guard: a lower bound if reached)")
    p.add_argument("--max-sip", type=int, default=512,
                   help="the most SIP calls a step holds (a guard: a lower bound if reached)")
    p.add_argument("--bisect", type=int, default=2,
                   help="steps between the last N that passed and the first that failed")
    p.add_argument("--window", type=float, default=5.0, help="seconds listened per step")
    args = p.parse_args(argv)
    if args.full:
        args.window, args.bisect = max(args.window, 10.0), max(args.bisect, 3)
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
