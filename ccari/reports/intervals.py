"""Interval reports: a pure fold of the contact event log and the agent state log (no I/O;
the time range, zone and "now" are passed in).

A contact's story is its events in time order.  From it come one :class:`_Story`: when it
first joined the queue, when it was first answered (or abandoned, before any answer),
and each *connection* with an agent (from ``connected`` to a transfer back to the queue or
the end), with the time on hold in it (``held`` to ``resumed``, or to the connection's end)
and the agent's wrap-up after the end (to her ``wrap-up`` event).

Attribution (the usual ACD choice):

* a queue (skill) or medium row counts a contact in the interval it *first joined the
  queue*, under the skill it joined for (a transfer moves it to no other row): offered,
  then answered or abandoned (at what wait), the service level, the ASA, the handle time
  of all its connections and its transfers all land there, so a row's figures describe
  the same contacts;
* an agent row counts each connection in the interval it *started* (her answer): answered,
  talk, hold, wrap-up, the transfers she made; and her time in each state, split at the
  interval bounds.

Figures: ``service_level`` = answered within the threshold / (answered + abandoned) x 100;
talk = connected time minus hold; handle = talk + hold + wrap-up; ``occupancy`` = time
reserved, busy or in wrap-up / time logged in and not in not-ready x 100.  A connection
still open (or a wrap-up not ended) counts when it ends.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

ALL = "all"
SIZES = {"15m": 900, "hour": 3600, "day": 86400}
DIMENSIONS = ("skill", "medium", "agent")
WAITING = frozenset({"queued", "offered"})
WORKING = ("reserved", "busy", "wrap_up")
AVAILABLE = ("ready", *WORKING)
STATES = ("ready", "reserved", "busy", "wrap_up", "not_ready")


@dataclass(frozen=True)
class Event:
    """One row of the contact event log (``kind``: a state for a move, ``created``, or
    something that moves nothing: ``held``, ``resumed``, ``wrap-up``...)."""

    id: int
    at: float
    contact: str
    medium: str
    skill: str
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class StateChange:
    """An agent entered ``state`` (``logged_out`` ends her time)."""

    agent: int
    at: float
    state: str


@dataclass(frozen=True)
class Grid:
    """The intervals of a report: each starts at ``starts[i]`` and ends at the next start
    (the last at ``end``)."""

    starts: tuple[float, ...]
    end: float

    def index(self, at: float) -> int | None:
        if not self.starts or not self.starts[0] <= at < self.end:
            return None
        return bisect.bisect_right(self.starts, at) - 1

    def bound(self, i: int) -> float:
        return self.starts[i + 1] if i + 1 < len(self.starts) else self.end


class GridError(ValueError):
    pass


def grid(start: float, end: float, size: str, zone: str, *, limit: int = 3000) -> Grid:
    """The whole intervals of ``size`` (``15m``, ``hour``, ``day``) that cover ``[start,
    end)``, aligned on the wall clock of ``zone`` (a day from local midnight to midnight)."""
    if size not in SIZES:
        raise GridError(f"interval is one of {', '.join(SIZES)}")
    if end <= start:
        raise GridError("the range is empty")
    tz = ZoneInfo(zone)
    local = dt.datetime.fromtimestamp(start, tz)
    if size == "day":
        first = dt.datetime.combine(local.date(), dt.time(), tzinfo=tz)
    else:
        step_min = SIZES[size] // 60
        first = local.replace(minute=local.minute - local.minute % step_min, second=0,
                              microsecond=0)
    starts = [first.timestamp()]
    while True:
        if size == "day":
            day = dt.datetime.fromtimestamp(starts[-1], tz).date() + dt.timedelta(days=1)
            nxt = dt.datetime.combine(day, dt.time(), tzinfo=tz).timestamp()
        else:
            nxt = starts[-1] + SIZES[size]
        if nxt >= end:
            return Grid(tuple(starts), nxt)
        starts.append(nxt)
        if len(starts) > limit:
            raise GridError(f"more than {limit} intervals: a shorter range or longer intervals")


# ---- one contact's story ----------------------------------------------------------------------
@dataclass
class _Connection:
    agent: int | None
    start: float
    end: float | None = None
    hold_s: float = 0.0
    held_since: float | None = None
    wrap_s: float = 0.0
    transferred: bool = False

    @property
    def talk_s(self) -> float:
        return 0.0 if self.end is None else self.end - self.start - self.hold_s


@dataclass
class _Story:
    medium: str = ""
    skill: str = ""
    queued_skill: str | None = None  # the skill it joined the queue for, when logged
    queued_at: float | None = None
    answered_at: float | None = None
    abandoned_at: float | None = None
    connections: list[_Connection] = field(default_factory=list)


def _to(event: Event) -> str | None:
    """The state an event moves the contact to (None: it moves nothing)."""
    to = event.data.get("state") if event.kind == "created" else event.data.get("to")
    return to if isinstance(to, str) else None


def _agent_id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def story(events: Iterable[Event]) -> _Story:
    """One contact's figures from its events (any order; read by time, then id)."""
    s = _Story()
    offered_to: int | None = None
    live: _Connection | None = None
    ended: _Connection | None = None  # the last ended connection, until its wrap-up
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        s.medium, s.skill = e.medium, e.skill
        to = _to(e)
        if e.kind == "held" and live is not None and live.held_since is None:
            live.held_since = e.at
        elif e.kind == "resumed" and live is not None and live.held_since is not None:
            live.hold_s += e.at - live.held_since
            live.held_since = None
        elif e.kind == "wrap-up" and ended is not None and ended.end is not None:
            if _agent_id(e.data.get("agent_id")) in (None, ended.agent):
                ended.wrap_s = e.at - ended.end
            ended = None
        if to is None:
            continue
        before = e.data.get("from")
        if to == "queued" and s.queued_at is None:
            s.queued_at = e.at
            skill = e.data.get("skill")
            s.queued_skill = skill if isinstance(skill, str) else None
        elif to == "offered" and _agent_id(e.data.get("agent_id")) is not None:
            offered_to = _agent_id(e.data.get("agent_id"))
        elif to == "connected" and live is None:
            live = _Connection(offered_to, e.at)
            s.connections.append(live)
            if s.answered_at is None and s.queued_at is not None:
                s.answered_at = e.at
        elif (to == "abandoned" and before in WAITING and s.queued_at is not None
              and s.answered_at is None and s.abandoned_at is None):
            s.abandoned_at = e.at
        if live is not None and before == "connected" and to != "connected":
            if live.held_since is not None:
                live.hold_s += e.at - live.held_since
                live.held_since = None
            live.end = e.at
            live.transferred = to == "queued"
            ended = None if live.transferred else live
            live = None
    return s


# ---- the report ---------------------------------------------------------------------------------
@dataclass
class Row:
    """The figures of one interval for one key (a skill, a medium, an agent id, or ``all``)."""

    start: float
    end: float
    key: str
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within: int = 0
    waits_s: list[float] = field(default_factory=list)
    abandon_waits_s: list[float] = field(default_factory=list)
    handled: int = 0  # connections ended (with talk, hold and wrap-up counted)
    talk_s: float = 0.0
    hold_s: float = 0.0
    wrap_s: float = 0.0
    transfers: int = 0
    states_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STATES, 0.0))

    @property
    def service_level(self) -> float | None:
        outcomes = self.answered + self.abandoned
        return 100.0 * self.answered_within / outcomes if outcomes else None

    @property
    def asa_s(self) -> float | None:
        return sum(self.waits_s) / len(self.waits_s) if self.waits_s else None

    @property
    def handle_s(self) -> float:
        return self.talk_s + self.hold_s + self.wrap_s

    @property
    def aht_s(self) -> float | None:
        return self.handle_s / self.handled if self.handled else None

    @property
    def occupancy(self) -> float | None:
        available = sum(self.states_s[s] for s in AVAILABLE)
        working = sum(self.states_s[s] for s in WORKING)
        return 100.0 * working / available if available else None

    def add_connection(self, c: _Connection) -> None:
        if c.end is None:
            return
        self.handled += 1
        self.talk_s += c.talk_s
        self.hold_s += c.hold_s
        self.wrap_s += c.wrap_s
        self.transfers += c.transferred


def report(events: Iterable[Event], changes: Iterable[StateChange], g: Grid, by: str, *,
           threshold_s: float, now: float) -> list[Row]:
    """The rows of the report by ``by`` (``skill``, ``medium`` or ``agent``): per interval,
    one row per key with something in it, then for skill and medium the interval's total
    (key ``all``, every interval, even empty).  ``changes`` must hold each agent's last
    change before the range (her state when it starts)."""
    if by not in DIMENSIONS:
        raise ValueError(f"by is one of {', '.join(DIMENSIONS)}")
    rows: dict[tuple[int, str], Row] = {}

    def row(i: int, key: str) -> Row:
        r = rows.get((i, key))
        if r is None:
            r = rows[i, key] = Row(g.starts[i], g.bound(i), key)
        return r

    per_contact: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        per_contact[e.contact].append(e)
    for contact_events in per_contact.values():
        s = story(contact_events)
        if by == "agent":
            for c in s.connections:
                i = g.index(c.start)
                if i is not None and c.agent is not None:
                    r = row(i, str(c.agent))
                    r.answered += 1
                    r.add_connection(c)
            continue
        i = None if s.queued_at is None else g.index(s.queued_at)
        if i is None or s.queued_at is None:
            continue
        skill = s.skill if s.queued_skill is None else s.queued_skill
        for r in (row(i, skill if by == "skill" else s.medium), row(i, ALL)):
            r.offered += 1
            if s.answered_at is not None:
                wait = s.answered_at - s.queued_at
                r.answered += 1
                r.answered_within += wait <= threshold_s
                r.waits_s.append(wait)
            elif s.abandoned_at is not None:
                r.abandoned += 1
                r.abandon_waits_s.append(s.abandoned_at - s.queued_at)
            for c in s.connections:
                r.add_connection(c)
    if by == "agent":
        _states(changes, g, min(now, g.end), row)
    else:
        for i in range(len(g.starts)):
            row(i, ALL)
    return sorted(rows.values(), key=lambda r: (r.start, r.key == ALL, _order(r.key)))


def _order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdecimal() else (0, key)


def _states(changes: Iterable[StateChange], g: Grid, until: float,
            row: Callable[[int, str], Row]) -> None:
    """Each agent's time per state, split at the interval bounds, up to ``until``."""
    per_agent: dict[int, list[StateChange]] = defaultdict(list)
    for c in changes:
        per_agent[c.agent].append(c)
    for agent, seq in per_agent.items():
        seq.sort(key=lambda c: c.at)
        for n, c in enumerate(seq):
            stop = seq[n + 1].at if n + 1 < len(seq) else until
            start = max(c.at, g.starts[0])
            stop = min(stop, until)
            if c.state not in STATES or stop <= start:
                continue
            i = g.index(start)
            while i is not None and i < len(g.starts) and g.starts[i] < stop:
                lo, hi = max(start, g.starts[i]), min(stop, g.bound(i))
                if hi > lo:
                    row(i, str(agent)).states_s[c.state] += hi - lo
                i += 1


def state_minutes(rows: Iterable[Row]) -> dict[str, list[float]]:
    """The agents report's chart: per interval (``t``, in order), the minutes spent in each
    state by all its agents together."""
    rows = [r for r in rows if r.key != ALL]
    starts = sorted({r.start for r in rows})
    at = {t: i for i, t in enumerate(starts)}
    minutes = {s: [0.0] * len(starts) for s in STATES}
    for r in rows:
        for state, seconds in r.states_s.items():
            minutes[state][at[r.start]] += seconds / 60
    return {"t": starts, **{s: [round(m, 2) for m in v] for s, v in minutes.items()}}
