"""The contact lifecycle: one state machine for every medium, in one table, with no I/O.

A contact (a call, a chat, an email, a callback, a voicemail) is always in one
:class:`State`; the same words are stored in ``contacts.state``, used by the voice ACD for
its calls, and shown on the pages.  A :class:`Fact` is something that happened to it (the
caller hung up, the agent answered, the offer timed out...).  :data:`TRANSITIONS` says, for
each state, which facts may happen and where they lead; anything else is a bug and raises
:class:`IllegalTransition` naming the state and the fact, never a silent no-op.

Everything that moves a contact goes through :func:`step` (``contacts.repo.apply`` saves the
move with its event); executors (voice, chat, email, callbacks, voicemail) only report
facts and carry out what follows.  The table below is generated from :data:`TRANSITIONS`
(``python -m ccari.contacts.lifecycle``) and a test keeps the two equal.

<!-- lifecycle-table -->
| state | fact | next state |
|---|---|---|
| ivr | routed | queued |
| ivr | customer-left | abandoned |
| ivr | self-served | completed |
| scheduled | due | queued |
| scheduled | dialled | dialing |
| scheduled | rescheduled | scheduled |
| scheduled | customer-left | abandoned |
| scheduled | gave-up | failed |
| dialing | routed | queued |
| dialing | rescheduled | scheduled |
| dialing | customer-left | abandoned |
| dialing | gave-up | failed |
| queued | offered | offered |
| queued | rescheduled | scheduled |
| queued | customer-left | abandoned |
| queued | gave-up | failed |
| offered | declined | queued |
| offered | customer-answered | offered |
| offered | answered | connected |
| offered | rescheduled | scheduled |
| offered | customer-left | abandoned |
| offered | gave-up | failed |
| connected | transferred | queued |
| connected | ended | completed |
| completed | customer-wrote | queued |
| abandoned | customer-wrote | queued |
<!-- /lifecycle-table -->
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ccari.errors import Conflict


class State(enum.StrEnum):
    IVR = "ivr"  # self-service: IVR menu, overflow callback offer, voicemail recording
    SCHEDULED = "scheduled"  # a callback waiting for its time
    DIALING = "dialing"  # a callback's customer is being called
    QUEUED = "queued"  # waiting for an agent
    OFFERED = "offered"  # presented to one agent (phone ringing, offer on the page)
    CONNECTED = "connected"  # with the agent
    COMPLETED = "completed"  # ended after service (or self-service)
    ABANDONED = "abandoned"  # the customer left before service (or cancelled)
    FAILED = "failed"  # ccari gave up (callback tries exhausted, window passed)


class Fact(enum.StrEnum):
    ROUTED = "routed"  # self-service or the dialled customer asks for an agent
    DUE = "due"  # a scheduled callback's time came (agent first: routed like any contact)
    DIALLED = "dialled"  # a callback attempt is placed
    RESCHEDULED = "rescheduled"  # a callback moved, deferred or retried later
    OFFERED = "offered"  # the router chose an agent
    DECLINED = "declined"  # the agent did not take it (no answer, busy, refused, gone)
    CUSTOMER_ANSWERED = "customer-answered"  # agent first: the customer picked up too
    ANSWERED = "answered"  # the agent took it
    TRANSFERRED = "transferred"  # the agent handed it back to the queue
    ENDED = "ended"  # the customer or the agent ended a connected contact
    SELF_SERVED = "self-served"  # ended without an agent (callback asked, message left...)
    CUSTOMER_LEFT = "customer-left"  # hung up, closed the chat, cancelled, line went dead
    GAVE_UP = "gave-up"  # ccari stops trying
    CUSTOMER_WROTE = "customer-wrote"  # an email reply to a closed thread reopens it


_S, _F = State, Fact
TRANSITIONS: Mapping[State, Mapping[Fact, State]] = {
    _S.IVR: {_F.ROUTED: _S.QUEUED, _F.CUSTOMER_LEFT: _S.ABANDONED, _F.SELF_SERVED: _S.COMPLETED},
    _S.SCHEDULED: {_F.DUE: _S.QUEUED, _F.DIALLED: _S.DIALING, _F.RESCHEDULED: _S.SCHEDULED,
                   _F.CUSTOMER_LEFT: _S.ABANDONED, _F.GAVE_UP: _S.FAILED},
    _S.DIALING: {_F.ROUTED: _S.QUEUED, _F.RESCHEDULED: _S.SCHEDULED,
                 _F.CUSTOMER_LEFT: _S.ABANDONED, _F.GAVE_UP: _S.FAILED},
    _S.QUEUED: {_F.OFFERED: _S.OFFERED, _F.RESCHEDULED: _S.SCHEDULED,
                _F.CUSTOMER_LEFT: _S.ABANDONED, _F.GAVE_UP: _S.FAILED},
    _S.OFFERED: {_F.DECLINED: _S.QUEUED, _F.CUSTOMER_ANSWERED: _S.OFFERED,
                 _F.ANSWERED: _S.CONNECTED, _F.RESCHEDULED: _S.SCHEDULED,
                 _F.CUSTOMER_LEFT: _S.ABANDONED, _F.GAVE_UP: _S.FAILED},
    _S.CONNECTED: {_F.TRANSFERRED: _S.QUEUED, _F.ENDED: _S.COMPLETED},
    _S.COMPLETED: {_F.CUSTOMER_WROTE: _S.QUEUED},
    _S.ABANDONED: {_F.CUSTOMER_WROTE: _S.QUEUED},
    _S.FAILED: {},
}

# Being handled on a node now (what a restarted node reconciles).
LIVE: frozenset[State] = frozenset({State.IVR, State.QUEUED, State.OFFERED, State.CONNECTED})
# Waiting for an agent (what the router holds).
WAITING: frozenset[State] = frozenset({State.QUEUED, State.OFFERED})
# Over: nothing more happens unless a customer writes again.
ENDED: frozenset[State] = frozenset({State.COMPLETED, State.ABANDONED, State.FAILED})


class IllegalTransition(Conflict):
    """A fact the lifecycle does not allow in the contact's state."""

    error_id = "illegal-transition"

    def __init__(self, state: str, fact: Fact) -> None:
        super().__init__(f"a contact in state {state!r} cannot take fact {fact.value!r}")
        self.state, self.fact = state, fact


def step(state: str, fact: Fact) -> State:
    """The state ``fact`` leads to from ``state``; :class:`IllegalTransition` if none."""
    try:
        return TRANSITIONS[State(state)][fact]
    except (KeyError, ValueError):
        raise IllegalTransition(state, fact) from None


def allows(state: str, fact: Fact) -> bool:
    """May ``fact`` happen to a contact in ``state``?"""
    try:
        return fact in TRANSITIONS[State(state)]
    except ValueError:
        return False


def table() -> str:
    """The transition table as Markdown (it stands in this module's docstring)."""
    rows = ["| state | fact | next state |", "|---|---|---|"]
    rows += [f"| {s} | {f} | {n} |" for s, moves in TRANSITIONS.items() for f, n in moves.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
