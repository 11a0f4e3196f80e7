"""Overload control: past what it can carry, ccari turns new calls away at once.

A node offered more calls than it can serve does not fail evenly: every call waits a little
longer in each of its steps (event handling, the database's shared commits, Asterisk's
answers), callers give up in the IVR, and soon nobody is served.  The cure is to refuse the
excess at the door, before any work is spent on it, so that the calls already admitted keep
being served on time.

The signal is *delay*, not a fixed call count (which would have to be tuned per machine):
how long new calls wait to be answered (the oldest still waiting, so that a backlog shows
while it builds, and the slowest answered since the last sample), how long hot-path writes
wait for their shared commit, and how late the event loop runs a timer; the worst of them in
each sample.  :class:`Gate` is the pure decision (facts in, admit or refuse out): it admits
a fraction of the new calls that shrinks multiplicatively while the delay is above
``high_ms`` and grows back additively once it is under ``low_ms`` (AIMD, as TCP does), so
the admitted rate settles near what the node carries instead of swinging between all and
nothing.  Like TCP, which halves once per round trip, it shrinks at most once per
``settle`` samples: the calls admitted before a shrink keep the delays up until they are
through, and shrinking on them again would turn nearly everyone away for seconds.  It
never drops below ``floor``: a few calls keep probing whether the node recovered.
:class:`LoadMonitor` samples the delays every ``interval_s``.

Delays show a sudden surge late: at twice what a node carries they stay low for a second
or more, until the surge's first calls are a backlog, and by then that backlog is what the
node spends itself on while its calls fail together.  So the gate also takes the rate the
node carries, when its admin measured it (``Limits.max_rate``): it counts the calls offered
(those the dialplan already turned away included) and admits that rate of them within a
fraction of a second of a surge's start.  Beneath it the delay rule still holds.

A call refused for overload gets its tenant's fallback at once: the "lines busy"
announcement (early media, then 486) when the tenant has one, else SIP 503 (a carrier may
then route it elsewhere); nothing is written for it.  The refusing is done by Asterisk's
dialplan, before the call reaches ccari (``CCARI_SHED``: the per mille of new calls to turn
away, set by ccari), so a refused call costs ccari nothing; when that cannot be set, ccari
refuses the same share itself as calls arrive.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    high_ms: float = 250.0  # above this delay the admitted fraction shrinks...
    low_ms: float = 100.0  # ...below this one it grows back
    decrease: float = 0.5  # multiplied by this per sample above high_ms
    increase: float = 0.01  # plus this per sample below low_ms (slowly: +0.2 a second)
    floor: float = 0.05  # the smallest fraction admitted
    samples: int = 2  # consecutive samples above high_ms before it shrinks (one is a hiccup)
    # Samples after a shrink before the next one: the calls admitted before it keep the
    # delays up for a while, and shrinking on them again would refuse far more than needed.
    settle: int = 10
    # The most new calls a second the node takes (0: no such cap), as its admin measured it
    # (``python -m bench.voice`` prints it): past it the excess is refused within a fraction
    # of a second of a surge's start, before any delay shows it (the delays rise only once a
    # second or more of the surge is a backlog).  The delay rule still holds beneath it.
    max_rate: float = 0.0
    # The rate offered is counted over the last samples that saw ``rate_calls`` calls reach
    # ccari (an eighth of a second at 300 calls/s), at most ``rate_samples`` (a second): at
    # a low rate a few samples hold too few calls to tell a rate from chance.
    rate_calls: int = 40
    rate_samples: int = 20


@dataclass
class Gate:
    """Which new calls are admitted; pure, no clock, no I/O."""

    limits: Limits = Limits()
    fraction: float = 1.0  # the share the delay rule admits
    credit: float = 1.0
    above: int = 0
    settling: int = 0  # samples left before the fraction may shrink again
    # The last samples' arrivals: (calls that reached ccari, calls offered, seconds).
    arriving: collections.deque[tuple[int, float, float]] = field(
        default_factory=collections.deque)

    def __post_init__(self) -> None:
        self.arriving = collections.deque(self.arriving, maxlen=self.limits.rate_samples)

    @property
    def offered(self) -> float:
        """The rate new calls arrive at (calls/s, refused ones included), lately."""
        reached = offered = seconds = 0.0
        for calls, sample_offered, sample_s in reversed(self.arriving):
            reached, offered, seconds = reached + calls, offered + sample_offered, seconds + sample_s
            if reached >= self.limits.rate_calls:
                break
        return offered / seconds if seconds else 0.0

    @property
    def share(self) -> float:
        """The share of new calls admitted: the delay rule's, under the rate cap."""
        cap, offered = self.limits.max_rate, self.offered
        return min(self.fraction, cap / offered) if cap and offered > cap else self.fraction

    @property
    def overloaded(self) -> bool:
        return self.share < 1.0

    def observe(self, delay_ms: float, reached: int = 0, seconds: float = 0.0,
                let_through: float = 1.0) -> None:
        """One sample: the hot path's delay, and the new calls that reached ccari over the
        ``seconds`` since the sample before, while the PBX let ``let_through`` of them
        through (the rest it turned away: offered too)."""
        lim = self.limits
        if seconds > 0:
            self.arriving.append((reached, reached / max(let_through, 0.001), seconds))
        self.above = self.above + 1 if delay_ms > lim.high_ms else 0
        if self.settling:
            self.settling -= 1
        if self.above >= lim.samples:
            if not self.settling:
                self.fraction = max(lim.floor, self.fraction * lim.decrease)
                self.settling = lim.settle
        elif delay_ms < lim.low_ms:
            self.fraction = min(1.0, self.fraction + lim.increase)

    def admit(self) -> bool:
        """Admit this new call?  Spread evenly: exactly ``share`` of them over time."""
        share = self.share
        if share >= 1.0:
            self.credit = 1.0  # the first calls after a change are still taken
            return True
        self.credit += share
        if self.credit >= 1.0 - 1e-9:  # (0.1 added ten times is 0.9999...)
            self.credit -= 1.0
            return True
        return False


class LoadMonitor:
    """Samples the hot path's delays into the :class:`Gate`; counts refused calls.

    ``shed`` (optional) turns calls away before they reach ccari: it is told the share of new
    calls to refuse, in per mille, when that changes and every second while it is not 0, and
    says whether it took effect.  While it does, every call that still arrives is admitted
    (the share was already refused); otherwise the gate refuses here."""

    RESEND_S = 1.0  # while shedding, the share is told again this often (a restarted PBX)

    def __init__(self, gate: Gate, write_delay_ms: Callable[[], float], *,
                 interval_s: float = 0.05,
                 shed: Callable[[int], Awaitable[bool]] | None = None) -> None:
        self.gate = gate
        self._write_delay_ms = write_delay_ms
        self._interval = interval_s
        self._answers_ms = 0.0  # the slowest answer since the last sample
        self._pending: dict[str, float] = {}  # calls being admitted and answered: since when
        self._arrived = 0  # new calls that reached ccari since the last sample
        self._warned = False  # the log said refusing began, not yet that it is over
        self._calm = 0  # samples since, without refusing
        self.refused = 0
        self.shed = shed
        self.shed_permille = 0  # what the shed was last told, when it took effect
        self._shed_at = 0.0
        self._edge = False
        self._told = False
        self._want: int | None = None  # the share the teller is to tell next
        self._teller: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def overloaded(self) -> bool:
        return self.gate.overloaded

    def admit(self) -> bool:
        self.start()
        if self._edge and self.shed is not None:  # the PBX already turned its share away
            return True
        if self.gate.admit():
            return True
        self.refused += 1
        return False

    def arriving(self, call_id: str) -> None:
        """A new call reached ccari: until it is answered (or turned away), how long it has
        waited counts as a delay.  A backlog shows here as it builds, before the calls in
        it are answered late."""
        self._pending[call_id] = asyncio.get_running_loop().time()
        self._arrived += 1

    def answered(self, call_id: str) -> None:
        """The call is answered, or will not be (refused, gone): its wait is over."""
        since = self._pending.pop(call_id, None)
        if since is not None:
            waited_ms = (asyncio.get_running_loop().time() - since) * 1000
            self._answers_ms = max(self._answers_ms, waited_ms)

    def connected(self) -> None:
        """ARI is (re)connected: tell the PBX the share to refuse now (0 unless overloaded),
        whatever a previous process or connection left there; the sampling starts."""
        self._told = False
        self.start()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="voice:load-monitor")

    async def close(self) -> None:
        for task in (self._task, self._teller):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.shed is not None and self.shed_permille:
            try:  # calls go to ccari again (or to Asterisk's fallback while it is away)
                await self.shed(0)
            except Exception:
                log.warning("overload: could not tell the PBX to stop turning calls away")
            self.shed_permille, self._edge = 0, False

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            due = loop.time() + self._interval
            await asyncio.sleep(self._interval)
            now = loop.time()
            lag_ms = max(0.0, (now - due) * 1000)
            elapsed, last = max(now - last, 1e-3), now
            oldest = next(iter(self._pending.values()), None)  # the first still waiting
            waiting_ms = 0.0 if oldest is None else (now - oldest) * 1000
            writes_ms, answers_ms = self._write_delay_ms(), max(self._answers_ms, waiting_ms)
            delay = max(lag_ms, writes_ms, answers_ms)
            self._answers_ms = 0.0
            # The calls the dialplan turned away never reached ccari: more were offered.
            shed = self.shed_permille / 1000 if self._edge else 0.0
            self.gate.observe(delay, self._arrived, elapsed, 1.0 - shed)
            self._arrived = 0
            self._log_state(delay, lag_ms, writes_ms, answers_ms)
            await self._tell_shed(loop.time())

    def _log_state(self, delay: float, lag_ms: float, writes_ms: float, answers_ms: float) -> None:
        """Says when refusing begins, and when it has been over for a second (the rate cap
        flickers on and off while calls arrive right at it)."""
        if self.gate.overloaded:
            self._calm = 0
            if not self._warned:
                self._warned = True
                gate = self.gate
                why = (f"{gate.offered:.0f} calls/s offered, voice.max_calls_per_s is "
                       f"{gate.limits.max_rate:g}" if gate.fraction >= 1.0 else
                       f"delay {delay:.0f} ms: event loop {lag_ms:.0f}, writes {writes_ms:.0f}, "
                       f"answers {answers_ms:.0f}")
                log.warning("overload: refusing part of the new calls (%s)", why)
        elif self._warned:
            self._calm += 1
            if self._calm * self._interval >= 1.0:
                self._warned = False
                log.warning("overload over: admitting every call again (%d refused in all)",
                            self.refused)

    async def _tell_shed(self, now: float) -> None:
        """Hand the share to refuse to the teller task: the sampling never waits on the PBX
        (under overload its answers are slow, and the samples must go on)."""
        if self.shed is None:
            return
        permille = round(1000 * (1.0 - self.gate.share))
        changed = abs(permille - self.shed_permille) >= 10 or (permille == 0) != (self.shed_permille == 0)
        # Told once at start (a previous process may have left the PBX shedding), on every
        # change, and again every second while shedding (a restarted PBX forgets it).
        if self._told and not changed and not (permille and now - self._shed_at >= self.RESEND_S):
            return
        self._told = True
        self._shed_at = now
        self._want = permille
        if self._teller is None or self._teller.done():
            self._teller = asyncio.create_task(self._tell(), name="voice:load-shed")

    async def _tell(self) -> None:
        while self._want is not None and self.shed is not None:
            permille, self._want = self._want, None
            try:
                took = await self.shed(permille)
            except Exception:  # never let it die: ccari refuses them itself meanwhile
                log.exception("overload: could not tell the PBX to turn calls away")
                took = False
            self._edge = took and permille > 0
            self.shed_permille = permille if took else 0
