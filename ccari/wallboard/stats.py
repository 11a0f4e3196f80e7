"""The wallboard's figures: a pure fold of the contact event log, with no I/O (time is passed in).

Every move of a contact is a :class:`Move` (the event log's ``from`` and ``to`` states,
with the contact's tenant, medium and skill).  :class:`Board` keeps, per contact, what the
figures need: when it first joined the queue, when it was first answered (connected) or
abandoned (left while queued or offered), and where it is now.  Moves may arrive more than
once or out of order (the event log is read with an overlap): each is counted once, by its
event id, and a contact's story is always read in time order.

Figures, per tenant, medium and skill (and ``all`` / ``all`` for the whole tenant), for a
period ending now (the last ``window_s``, and since midnight in the tenant's zone):

* ``entered``: contacts that joined the queue in the period;
* ``answered`` / ``abandoned``: outcomes that fell in the period (a contact's first
  answer, or its leaving before any answer);
* ``service_level``: % of those outcomes answered within the threshold, i.e.
  ``answered within T / (answered + abandoned) * 100`` (None with no outcome);
* ``abandon_rate``: ``abandoned / (answered + abandoned) * 100`` (None with no outcome);
* ``asa_s``: the average wait of the contacts answered (None with none);
* ``predicted_wait_s`` / ``experienced_wait_s``: for the answered contacts whose predicted
  wait was noted when they joined (:meth:`Board.predicted`), the average of both.

Live, whatever the period: ``waiting`` (queued or offered now) and ``longest_wait_s``.
Agents: :class:`AgentClock` notes when each agent entered her present state.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

ALL = "all"
WAITING = frozenset({"queued", "offered"})
ENDED = frozenset({"completed", "abandoned", "failed"})
# The span of a tally of contacts folded out of the board: a quarter of an hour, as every
# time zone's offset is a multiple of it, so a tally is all before or all after a midnight.
TALLY_S = 900.0


@dataclass(frozen=True, slots=True)
class Move:
    """One row of the contact event log: ``contact`` went from ``before`` to ``after``
    (``before`` is None for its creation)."""

    event_id: int
    at: float
    tenant: int
    contact: str
    medium: str
    skill: str
    before: str | None
    after: str


# A move as a track keeps it: (at, event id, before, after, medium, skill), in a tuple of them.
# Tuples of numbers and strings, which the cyclic collector stops tracking once it has seen
# them: a busy node keeps the last window's contacts, hundreds of thousands of moves, and
# full collector passes over them as objects stalled the event loop (127 ms with a window of
# 100 calls/s, against 37 ms kept so: the tracks are what is left to walk; bench.wallboard).
_Kept = tuple[float, int, str | None, str, str, str]


@dataclass(slots=True)
class _Track:
    """One contact's story, as far as the figures go."""

    tenant: int
    medium: str
    skill: str
    moves: tuple[_Kept, ...] = ()
    queued_at: float | None = None
    answered_at: float | None = None
    abandoned_at: float | None = None
    state: str = ""
    predicted_s: float | None = None

    def add(self, move: Move) -> None:
        kept = (move.at, move.event_id, move.before, move.after, move.medium, move.skill)
        self.moves = tuple(sorted((*self.moves, kept)))  # by time, then (unique) event id
        _, _, _, self.state, self.medium, self.skill = self.moves[-1]
        self.queued_at = self.answered_at = self.abandoned_at = None
        for at, _, before, after, _, _ in self.moves:
            if after == "queued" and self.queued_at is None:
                self.queued_at = at
            elif after == "connected" and self.answered_at is None and self.queued_at is not None:
                self.answered_at = at
            elif (after == "abandoned" and before in WAITING and self.answered_at is None
                  and self.abandoned_at is None):
                self.abandoned_at = at

    @property
    def event_ids(self) -> list[int]:
        return [m[1] for m in self.moves]

    @property
    def wait_s(self) -> float | None:
        if self.answered_at is None or self.queued_at is None:
            return None
        return self.answered_at - self.queued_at

    @property
    def last_at(self) -> float:
        return self.moves[-1][0]


@dataclass(frozen=True)
class Period:
    entered: int
    answered: int
    abandoned: int
    service_level: float | None
    abandon_rate: float | None
    asa_s: float | None
    predicted_wait_s: float | None
    experienced_wait_s: float | None


@dataclass(frozen=True)
class QueueFigures:
    medium: str
    skill: str
    waiting: int
    longest_wait_s: float
    window: Period
    today: Period


@dataclass(slots=True)
class _Tally:
    """The contacts folded out of the board (:meth:`Board.fold`), for one tenant, medium,
    skill and quarter of an hour (``TALLY_S``): what happened in it, counted (each contact's
    joining the queue, answer and abandon in the quarter each happened)."""

    entered: int = 0
    answered: int = 0
    abandoned: int = 0
    wait_sum: float = 0.0
    # answered contacts by their wait rounded up to a tenth of a second (thresholds are
    # counted exactly when they are multiples of 0.1 s)
    waits: Counter[int] = field(default_factory=Counter)
    predicted_sum: float = 0.0
    experienced_sum: float = 0.0
    predicted_n: int = 0


def period(tracks: Iterable[_Track], start: float, now: float, threshold_s: float,
           tallies: Iterable[tuple[float, _Tally]] = ()) -> Period:
    """The figures of ``tracks`` and of the ``tallies`` (start of its quarter, tally) for the
    period ``(start, now]`` (a tally counts when its quarter starts in it: its contacts'
    moves fell in ``(quarter, quarter + TALLY_S]``)."""
    entered = answered = abandoned = within = predicted_n = 0
    wait_sum = predicted_sum = experienced_sum = 0.0
    for t in tracks:
        if t.queued_at is not None and start < t.queued_at <= now:
            entered += 1
        wait = t.wait_s
        if t.answered_at is not None and wait is not None and start < t.answered_at <= now:
            answered += 1
            within += wait <= threshold_s
            wait_sum += wait
            if t.predicted_s is not None:
                predicted_n += 1
                predicted_sum += t.predicted_s
                experienced_sum += wait
        elif t.abandoned_at is not None and start < t.abandoned_at <= now:
            abandoned += 1
    tenths = threshold_s * 10 + 1e-6
    for quarter, tally in tallies:
        if start <= quarter <= now:
            entered += tally.entered
            answered += tally.answered
            abandoned += tally.abandoned
            within += sum(n for w, n in tally.waits.items() if w <= tenths)
            wait_sum += tally.wait_sum
            predicted_n += tally.predicted_n
            predicted_sum += tally.predicted_sum
            experienced_sum += tally.experienced_sum
    outcomes = answered + abandoned
    return Period(
        entered=entered, answered=answered, abandoned=abandoned,
        service_level=100.0 * within / outcomes if outcomes else None,
        abandon_rate=100.0 * abandoned / outcomes if outcomes else None,
        asa_s=wait_sum / answered if answered else None,
        predicted_wait_s=predicted_sum / predicted_n if predicted_n else None,
        experienced_wait_s=experienced_sum / predicted_n if predicted_n else None,
    )


class Board:
    """Every tenant's contacts of the last day (and those still waiting), folded from moves.

    A contact is kept one by one (its moves, to read its story in time order) while it may
    still move or count in the window; once it ended before the window and the log's re-read,
    :meth:`fold` adds it to tallies per quarter of an hour and forgets it: the board then
    grows with the quarters of the day, not with the contacts (a center taking calls all day
    long would otherwise keep a day of them, a few kB each)."""

    def __init__(self, window_s: float = 900.0) -> None:
        self.window_s = window_s
        self._tracks: dict[str, _Track] = {}
        # The same tracks by tenant: each wallboard reads only its tenant's.
        self._by_tenant: dict[int, dict[str, _Track]] = defaultdict(dict)
        self._seen: set[int] = set()
        # tenant -> (medium, skill, quarter) -> what the contacts folded out counted there
        self._tallies: dict[int, dict[tuple[str, str, float], _Tally]] = defaultdict(dict)

    @property
    def contacts(self) -> int:
        """How many contacts are kept one by one."""
        return len(self._tracks)

    @property
    def tallies(self) -> int:
        """How many (tenant, medium, skill, quarter of an hour) tallies are kept."""
        return sum(len(t) for t in self._tallies.values())

    def add(self, move: Move) -> bool:
        """Fold one move in; False when its event was already counted."""
        if move.event_id in self._seen:
            return False
        self._seen.add(move.event_id)
        track = self._tracks.get(move.contact)
        if track is None:
            track = self._tracks[move.contact] = _Track(move.tenant, move.medium, move.skill)
            self._by_tenant[move.tenant][move.contact] = track
        track.add(move)
        return True

    def predicted(self, contact: str, wait_s: float) -> None:
        """The wait predicted for ``contact`` as it joined the queue (the first one noted)."""
        track = self._tracks.get(contact)
        if track is not None and track.predicted_s is None:
            track.predicted_s = wait_s

    def unpredicted(self, now: float, within_s: float) -> list[tuple[str, float]]:
        """Contacts that joined the queue in the last ``within_s`` and are waiting there,
        whose predicted wait was not noted yet; with the seconds they have waited."""
        return [(c, now - t.queued_at) for c, t in self._tracks.items()
                if t.state == "queued" and t.predicted_s is None and t.queued_at is not None
                and now - t.queued_at <= within_s]

    def fold(self, before: float) -> None:
        """Tally and forget the contacts that ended before ``before`` (their moves and event
        ids: no read returns them again).  ``before`` must be before the window's start."""
        gone = [c for c, t in self._tracks.items() if t.state in ENDED and t.last_at < before]
        for contact in gone:
            track = self._forget(contact)
            if track.queued_at is not None:
                self._tally(track, track.queued_at).entered += 1
            wait = track.wait_s
            if track.answered_at is not None and wait is not None:
                answered = self._tally(track, track.answered_at)
                answered.answered += 1
                answered.wait_sum += wait
                answered.waits[math.ceil(round(wait * 10, 6))] += 1
                if track.predicted_s is not None:
                    answered.predicted_n += 1
                    answered.predicted_sum += track.predicted_s
                    answered.experienced_sum += wait
            elif track.abandoned_at is not None:
                self._tally(track, track.abandoned_at).abandoned += 1

    def _tally(self, track: _Track, at: float) -> _Tally:
        """The tally of ``track``'s tenant, medium and skill for the quarter of ``at``
        (``(quarter, quarter + TALLY_S]``, as periods are open at their start)."""
        tallies = self._tallies[track.tenant]
        key = (track.medium, track.skill, math.ceil(at / TALLY_S) * TALLY_S - TALLY_S)
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = _Tally()
        return found

    def prune(self, before: float) -> None:
        """Forget the contacts that ended before ``before`` (and their event ids), and the
        tallies of the quarters of an hour over before it."""
        gone = [c for c, t in self._tracks.items() if t.state in ENDED and t.last_at < before]
        for contact in gone:
            self._forget(contact)
        for tenant, tallies in list(self._tallies.items()):
            for key in [k for k in tallies if k[2] + TALLY_S <= before]:
                del tallies[key]
            if not tallies:
                del self._tallies[tenant]

    def _forget(self, contact: str) -> _Track:
        track = self._tracks.pop(contact)
        del self._by_tenant[track.tenant][contact]
        self._seen.difference_update(track.event_ids)
        return track

    def forget_tenant(self, tenant: int) -> None:
        """A deleted tenant: its contacts' stories (and their event ids) go."""
        for contact, track in self._by_tenant.pop(tenant, {}).items():
            self._tracks.pop(contact, None)
            self._seen.difference_update(track.event_ids)
        self._tallies.pop(tenant, None)

    def figures(self, tenant: int, now: float, *, threshold_s: float,
                midnight: float) -> list[QueueFigures]:
        """One row per medium and skill the tenant had in either period or has waiting, then the
        tenant's total (medium and skill ``all``)."""
        groups: dict[tuple[str, str], list[_Track]] = defaultdict(list)
        for t in self._by_tenant.get(tenant, {}).values():
            groups[(t.medium, t.skill)].append(t)
        folded: dict[tuple[str, str], list[tuple[float, _Tally]]] = defaultdict(list)
        for (medium, skill, quarter), tally in self._tallies.get(tenant, {}).items():
            folded[(medium, skill)].append((quarter, tally))
        everything = [t for ts in groups.values() for t in ts]
        all_folded = [mt for mts in folded.values() for mt in mts]
        rows = [(key, groups.get(key, []), folded.get(key, []))
                for key in sorted(groups.keys() | folded.keys())]
        rows.append(((ALL, ALL), everything, all_folded))
        out = []
        for (medium, skill), tracks, tallies in rows:
            waits = [now - t.queued_at for t in tracks
                     if t.state in WAITING and t.queued_at is not None]
            today = period(tracks, midnight, now, threshold_s, tallies)
            window = period(tracks, now - self.window_s, now, threshold_s, tallies)
            if medium != ALL and not waits and not any(
                    p.entered or p.answered or p.abandoned for p in (today, window)):
                continue
            out.append(QueueFigures(
                medium=medium, skill=skill, waiting=len(waits),
                longest_wait_s=max(waits, default=0.0), window=window, today=today))
        return out


def midnight(now: float, zone: str) -> float:
    """The last midnight before ``now`` in ``zone`` (an IANA name), as a timestamp."""
    tz = ZoneInfo(zone)
    local = dt.datetime.fromtimestamp(now, tz)
    return dt.datetime.combine(local.date(), dt.time(), tzinfo=tz).timestamp()


@dataclass(frozen=True)
class AgentFigure:
    id: int
    name: str
    state: str
    in_state_s: float


class AgentClock:
    """When each agent entered the state she is in (as first observed in that state)."""

    def __init__(self) -> None:
        self._since: dict[int, tuple[str, float]] = {}

    def observe(self, agent: int, state: str, now: float) -> float:
        """Note ``agent`` in ``state`` at ``now``; returns since when she has been in it."""
        seen = self._since.get(agent)
        if seen is None or seen[0] != state:
            self._since[agent] = (state, now)
            return now
        return seen[1]

    def figures(self, agents: Iterable[tuple[int, str, str]], now: float) -> list[AgentFigure]:
        """``agents``: (id, name, state) now; each with the seconds spent in that state."""
        return [AgentFigure(a, name, state, now - self.observe(a, state, now))
                for a, name, state in agents]


def by_state(agents: Iterable[AgentFigure]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for a in agents:
        counts[a.state] += 1
    return dict(sorted(counts.items()))
