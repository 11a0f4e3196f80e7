"""The contact lifecycle: one state machine for every medium, in one table, with no I/O.

A contact (a call, a chat, an email, a callback, a voicemail) is always in one
:class:`State`; the same words are stored in ``contacts.state``, used by the voice ACD for
its calls, and shown on the pages.  A :class:`Fact` is something that happened to it (the
caller hung up, the agent answered, the offer timed out...).  :data:`TRANSITIONS` says, for
each state, which facts may happen and where they lead; anything else is a bug and raises
:class:`IllegalTransition` naming the state and the fact, never a silent no-op.

Everything that moves a contact goes through :func:`step` (``contacts.repo.apply`` saves the
move with its event).  A move also says what must follow, as :class:`Command` s
(:func:`move`): take the offer back from the agent, put the contact back in its place,
join or part the customer and the agent, wrap up, release the trunk...  Executors (voice,
chat, email, callbacks, voicemail) only report facts and carry out those commands their
own way (chat, e-mail and callbacks through the one :mod:`ccari.contacts.executor` for the
queue and the agent's pages; a contact created waiting follows :func:`born`).  The table
below is generated from :data:`TRANSITIONS` and :func:`commands` (``python -m
ccari.contacts.lifecycle``) and a test keeps the two equal.

<!-- lifecycle-table -->
| state | fact | next state | commands |
|---|---|---|---|
| ivr | routed | queued | enqueue |
| ivr | customer-left | abandoned | release |
| ivr | self-served | completed | release |
| scheduled | due | queued | enqueue |
| scheduled | dialled | dialing | - |
| scheduled | rescheduled | scheduled | - |
| scheduled | customer-left | abandoned | - |
| scheduled | gave-up | failed | - |
| dialing | routed | queued | enqueue |
| dialing | rescheduled | scheduled | release |
| dialing | customer-left | abandoned | release |
| dialing | gave-up | failed | release |
| queued | offered | offered | present |
| queued | rescheduled | scheduled | dequeue, release |
| queued | customer-left | abandoned | dequeue, release |
| queued | gave-up | failed | dequeue, release |
| offered | declined | queued | withdraw, requeue |
| offered | customer-answered | offered | - |
| offered | answered | connected | connect |
| offered | rescheduled | scheduled | withdraw, dequeue, release |
| offered | customer-left | abandoned | withdraw, dequeue, release |
| offered | gave-up | failed | withdraw, dequeue, release |
| connected | transferred | queued | disconnect, enqueue |
| connected | ended | completed | disconnect, wrap-up, release |
| completed | customer-wrote | queued | enqueue |
| abandoned | customer-wrote | queued | enqueue |
<!-- /lifecycle-table -->
"""

from __future__ import annotations

import dataclasses
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

# The disposition of a call whose Asterisk, or whose ccari node, was lost under it.
NODE_LOST = "media-node-lost"

# Being handled on a node now (what a restarted node reconciles).
LIVE: frozenset[State] = frozenset({State.IVR, State.QUEUED, State.OFFERED, State.CONNECTED})
# Waiting for an agent (what the router holds).
WAITING: frozenset[State] = frozenset({State.QUEUED, State.OFFERED})
# Over: nothing more happens unless a customer writes again.
ENDED: frozenset[State] = frozenset({State.COMPLETED, State.ABANDONED, State.FAILED})
# May hold something outside ccari (a voice call's trunk; a callback being dialled).
HOLDING: frozenset[State] = LIVE | {State.DIALING}


class Command(enum.StrEnum):
    """What follows a move, for the executor of the contact's medium to carry out (in this
    order).  The lifecycle says *what*; voice says how (hang up a leg, bridge), chat and
    e-mail say it their way (tell the page)."""

    WITHDRAW = "withdraw"  # take the offer back from its agent (the ringing leg, the page)
    REQUEUE = "requeue"  # back in its place in the queue (an offer not taken)
    DEQUEUE = "dequeue"  # the router forgets a contact that waited or was offered
    ENQUEUE = "enqueue"  # the router takes the contact (it waits for an agent)
    PRESENT = "present"  # ring the chosen agent's phone, show the offer on its page
    CONNECT = "connect"  # join the customer and the agent (a bridge, the conversation)
    DISCONNECT = "disconnect"  # end what joined them (legs still up, the bridge)
    WRAP_UP = "wrap-up"  # the agent's slot is freed, through wrap-up
    RELEASE = "release"  # free what the contact held outside ccari (its trunk)


def commands(state: State, fact: Fact, new: State) -> tuple[Command, ...]:
    """The commands of a move (``step(state, fact)`` is ``new``), derived from what the
    contact leaves and what it enters; the module's table lists them."""
    c = Command
    out: list[Command] = []
    if state is State.OFFERED and new is not State.CONNECTED and new is not State.OFFERED:
        out.append(c.WITHDRAW)
    if state is State.OFFERED and new is State.QUEUED:
        out.append(c.REQUEUE)
    elif state in WAITING and new not in WAITING and new is not State.CONNECTED:
        out.append(c.DEQUEUE)
    if new is State.QUEUED and state is not State.OFFERED:
        if state is State.CONNECTED:
            out.append(c.DISCONNECT)
        out.append(c.ENQUEUE)
    if state is State.QUEUED and new is State.OFFERED:
        out.append(c.PRESENT)
    if new is State.CONNECTED:
        out.append(c.CONNECT)
    if state is State.CONNECTED and new in ENDED:
        out += [c.DISCONNECT, c.WRAP_UP]
    if state in HOLDING and new not in HOLDING:
        out.append(c.RELEASE)
    return tuple(out)


def born(state: State) -> tuple[Command, ...]:
    """The commands that follow a contact created in ``state`` (not a move: a chat or an
    e-mail is born queued, and the router takes it)."""
    return (Command.ENQUEUE,) if state is State.QUEUED else ()


@dataclasses.dataclass(frozen=True, slots=True)
class Move:
    """A step of the lifecycle: the new state and the commands that follow it."""

    state: State
    commands: tuple[Command, ...]


def move(state: str, fact: Fact) -> Move:
    """:func:`step` with the commands that follow (:class:`IllegalTransition` if refused)."""
    new = step(state, fact)
    return Move(new, COMMANDS[State(state), fact])


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
    rows = ["| state | fact | next state | commands |", "|---|---|---|---|"]
    rows += [f"| {s} | {f} | {n} | {', '.join(COMMANDS[s, f]) or '-'} |"
             for s, moves in TRANSITIONS.items() for f, n in moves.items()]
    return "\n".join(rows)


# Every move's commands, computed once.
COMMANDS: Mapping[tuple[State, Fact], tuple[Command, ...]] = {
    (s, f): commands(s, f, n) for s, moves in TRANSITIONS.items() for f, n in moves.items()
}


if __name__ == "__main__":
    print(table())
