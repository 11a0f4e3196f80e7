"""What a supervisor's monitoring mode means in Asterisk terms, and how to go from one mode
to another: a pure table and a planner, no I/O (``monitor_layouts.py`` carries the plans
out).

Each mode is a layout of the supervisor's phone leg:

* **listen**: a snoop on the agent's leg that hears both directions (the agent's voice and
  what the agent hears, the customer) and speaks nowhere, in the session's own bridge with
  the supervisor's phone: the supervisor hears both, nobody hears the supervisor;
* **whisper**: the same snoop, but it also speaks into what the agent hears: only the agent
  hears the supervisor;
* **barge**: no snoop; the supervisor's phone joins the call's bridge: everyone hears
  everyone;
* **take over**: as barge, and the agent's leg leaves the call (the supervisor stays with the
  customer).  There is no way back from it.

Once the agent has left a call that goes on (her conference, left to the others), the
snoop of listen is on the customer's leg instead (both directions: the customer and what
the customer hears, the other parties); barge is the same; whisper and take over are
refused (:func:`check_mode`).

A snoop's directions are fixed when Asterisk makes it, so a change of directions is a new
snoop (made first, then the old one hung up: no gap in what the supervisor hears).

A whisper is mixed into the audio Asterisk writes to the agent's leg; Asterisk 22.10.1 writes
none while nobody in the call speaks (a two-party bridge forwards what comes, and nothing
comes), so the whisper is silent then (asterisk issue 1966, fixed in 22.11).  While a
whisper is on, ``fill`` plays silence into the call's bridge: the bridge then mixes and
writes audio to the agent every 20 ms, which the whisper is mixed into.

The silence plays while *any* snoop is on (listen too), so the call's bridge does not change
technology under a snoop.  A snoop made while the bridge mixes (the silence of a whisper)
hears only one direction once the silence stops and Asterisk 22 moves the two legs left to
``simple_bridge``: whisper -> listen then left the supervisor hearing the agent but not the
customer (about one switch in four).  Made in a two-party bridge that then starts mixing,
a snoop hears both directions; a snoop kept in a bridge that keeps mixing, too.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

Direction = Literal["none", "in", "out", "both"]


class Mode(enum.StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"
    TAKE_OVER = "take_over"


class IllegalSwitch(Exception):
    """A mode change the table does not allow."""


class NoAgent(Exception):
    """A mode that needs the agent, on a call she is no longer in."""


def check_mode(mode: Mode, agent_in_call: bool) -> None:
    """Raise :class:`NoAgent` for a mode that means nothing without the agent: whisper (to
    whom?) and take over (from whom?).  Listen and barge stay: the call goes on (e.g. she
    left her conference to the others) and its bridge is still there to hear and join."""
    if not agent_in_call and not LAYOUTS[mode].without_agent:
        raise NoAgent(f"{mode.value} needs the agent, who has left the call")


@dataclass(frozen=True)
class Snoop:
    spy: Direction
    whisper: Direction


@dataclass(frozen=True)
class Layout:
    snoop: Snoop | None  # a snoop on the agent's leg, in the session's bridge
    in_call: bool  # the supervisor's leg is in the call's bridge (else in the session's)
    agent_stays: bool
    seen_by_agent: bool  # the agent's page says who is monitoring, and how
    fill: bool = False  # silence played into the call's bridge (see the module's doc)
    without_agent: bool = True  # meaningful once the agent has left the call


LAYOUTS: dict[Mode, Layout] = {
    Mode.LISTEN: Layout(Snoop("both", "none"), in_call=False, agent_stays=True,
                        seen_by_agent=False, fill=True),
    Mode.WHISPER: Layout(Snoop("both", "out"), in_call=False, agent_stays=True,
                         seen_by_agent=True, fill=True, without_agent=False),
    Mode.BARGE: Layout(None, in_call=True, agent_stays=True, seen_by_agent=True),
    Mode.TAKE_OVER: Layout(None, in_call=True, agent_stays=False, seen_by_agent=True,
                           without_agent=False),
}


@dataclass(frozen=True)
class Plan:
    """What to do, in this order: make ``new_snoop`` (it joins the session's bridge when it
    enters Stasis), move the supervisor's leg (``to_call`` / ``to_monitor``), drop the old
    snoop, start or stop the silence in the call's bridge, let the agent's leg go, then tell
    the agent ``notify`` (the mode she now sees) or ``notify_gone`` (she no longer sees a
    supervisor)."""

    new_snoop: Snoop | None = None
    drop_snoop: bool = False
    to_call: bool = False
    to_monitor: bool = False
    start_fill: bool = False
    stop_fill: bool = False
    drop_agent: bool = False
    notify: Mode | None = None
    notify_gone: bool = False


def plan(before: Mode | None, after: Mode | None) -> Plan:
    """From ``before`` (None: the supervisor's phone just answered) to ``after`` (None: the
    session ends).  Raises :class:`IllegalSwitch` out of a take-over."""
    if before is Mode.TAKE_OVER and after is not None and after is not Mode.TAKE_OVER:
        raise IllegalSwitch("the supervisor has taken the call over")
    old = LAYOUTS[before] if before is not None else None
    new = LAYOUTS[after] if after is not None else None
    old_snoop = old.snoop if old else None
    new_snoop = new.snoop if new else None
    was_in_call = bool(old and old.in_call)
    seen_before = bool(old and old.seen_by_agent)
    seen_after = bool(new and new.seen_by_agent)
    fill_before, fill_after = bool(old and old.fill), bool(new and new.fill)
    return Plan(
        new_snoop=new_snoop if new_snoop != old_snoop else None,
        drop_snoop=old_snoop is not None and new_snoop != old_snoop,
        to_call=bool(new and new.in_call) and not was_in_call,
        to_monitor=new is not None and not new.in_call and (was_in_call or old is None),
        start_fill=fill_after and not fill_before,
        stop_fill=fill_before and not fill_after,
        drop_agent=bool(new and not new.agent_stays) and not (old and not old.agent_stays),
        notify=after if seen_after and before != after else None,
        notify_gone=seen_before and not seen_after,
    )


def after_agent_left(mode: Mode) -> tuple[Mode, Plan]:
    """A session's mode, and what to do, once the agent has left a call that goes on: a
    snoop on her leg went with it, so listen gets a new one (on the customer's leg, see
    ``monitor_layouts.py``), and a whisper, to nobody now, becomes listen; barge is unchanged."""
    layout, listen = LAYOUTS[mode], LAYOUTS[Mode.LISTEN]
    if layout.snoop is None:
        return mode, Plan()
    return Mode.LISTEN, Plan(new_snoop=listen.snoop, drop_snoop=True,
                             start_fill=listen.fill and not layout.fill,
                             stop_fill=layout.fill and not listen.fill)


@dataclass(frozen=True)
class Logged:
    """A session as its contact's log has it."""

    supervisor_id: int
    mode: Mode
    # Silences it may have played into the call's bridge (each start or switch, at most one).
    fills: int = 1


def logged_sessions(events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Logged]:
    """The sessions a contact's log (``kind``, data; in order) has open, by session id,
    each with its mode now: started, switched, not stopped."""
    out: dict[str, Logged] = {}
    for kind, data in events:
        session = data.get("monitor")
        if not isinstance(session, str):
            continue
        if kind == "monitor-started":
            out[session] = Logged(int(data["supervisor_id"]), Mode(data["mode"]))
        elif kind == "monitor-mode" and session in out:
            was = out[session]
            out[session] = replace(was, mode=Mode(data["mode"]), fills=was.fills + 1)
        elif kind == "monitor-stopped":
            out.pop(session, None)
    return out
