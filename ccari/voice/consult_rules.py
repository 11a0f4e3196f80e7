"""A consult after a restart of ccari, decided without I/O: where the contact's log left it,
and what to do given what Asterisk still has (``consults.py`` carries it out).

The consult's steps are saved before Asterisk is told, so the log is what the agent asked;
the consulted leg's state says what became of it meanwhile:

==============================  ======================  ==================================
logged phase                    consulted leg           step
==============================  ======================  ==================================
dialling                        ringing                 RINGING (its answer is to come)
dialling or answered            up                      ANSWERED (agent + leg bridged)
dialling or answered            gone                    BACK_TO_AGENT (as a hang-up)
joined (three-way)              there                   JOINED (the leg in the call)
joined (three-way)              gone                    LEFT
over                            any                     AGENT_HOME if the agent is out of
                                                        the call's bridge, else NOTHING
==============================  ======================  ==================================

(A consult answered while ccari was away has no ``consult-answered`` in the log: ANSWERED
logs it.)  A completed consult's leg is the call's other side from then on
(:func:`handed_over`): the voice reconcile keeps the call with it, not with the agent.
The caller's hold during a consult is rebuilt with the agent's own hold (``reconcile.py``):
the log's ``consult-dialling`` holds her, its end gives her back.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class Phase(enum.StrEnum):  # in the order a consult goes through them
    DIALLING = "dialling"
    ANSWERED = "answered"
    JOINED = "joined"  # a three-way call
    OVER = "over"  # cancelled, completed, ended or left


# The log's consult events: the phase each leads to.
PHASES: dict[str, Phase] = {
    "consult-dialling": Phase.DIALLING,
    "consult-answered": Phase.ANSWERED,
    "consult-conference": Phase.JOINED,
    "consult-ended": Phase.OVER,
    "consult-completed": Phase.OVER,
    "consult-left": Phase.OVER,
}
# The events that hold the caller (a consult under way) and that give her back.
HOLDS = frozenset({"consult-dialling"})
RESUMES = frozenset({"consult-ended", "consult-conference", "consult-completed"})


class Step(enum.Enum):
    NOTHING = "nothing"
    RINGING = "ringing"
    ANSWERED = "answered"
    BACK_TO_AGENT = "back-to-agent"
    JOINED = "joined"
    LEFT = "left"
    AGENT_HOME = "agent-home"


@dataclass(frozen=True)
class LoggedConsult:
    """The contact's last consult as its meta and log have it."""

    n: int  # its number in the contact (the n of ``cns-<contact>-<n>``)
    leg: str
    to: Mapping[str, str]  # {"agent": username} or {"number": e164}
    phase: Phase

    @property
    def outside(self) -> bool:
        return "number" in self.to


def logged_consult(consults: Sequence[Mapping[str, Any]],
                   events: Iterable[tuple[str, Mapping[str, Any]]]) -> LoggedConsult | None:
    """The last consult of ``consults`` (the contact's ``meta["consults"]``) in the phase
    its ``events`` (kind, data; in order) left it; None if the contact never consulted."""
    if not consults:
        return None
    last = consults[-1]
    leg = str(last.get("leg", ""))
    order = list(Phase)  # a consult only moves forward
    phase = Phase.DIALLING
    for kind, data in events:
        new = PHASES.get(kind)
        if new is not None and data.get("leg") == leg and order.index(new) > order.index(phase):
            phase = new
    return LoggedConsult(len(consults), leg, dict(last.get("to") or {}), phase)


def handed_over(events: Iterable[tuple[str, Mapping[str, Any]]]) -> str | None:
    """The leg a completed consult made the call's other side (the agent left it), from the
    contact's events in order; None if no consult was completed."""
    legs = [str(data.get("leg", "")) for kind, data in events if kind == "consult-completed"]
    return legs[-1] if legs else None


def decide(phase: Phase, leg_state: str | None, *, agent_in_call: bool) -> Step:
    """``leg_state``: what Asterisk reports of the consulted leg ("Up", "Ringing"...), None
    if it has none; ``agent_in_call``: the agent's leg is in the call's bridge."""
    if phase is Phase.OVER:
        return Step.NOTHING if agent_in_call else Step.AGENT_HOME
    if phase is Phase.JOINED:
        return Step.LEFT if leg_state is None else Step.JOINED
    if leg_state is None:
        return Step.BACK_TO_AGENT
    if leg_state == "Up" or phase is Phase.ANSWERED:
        return Step.ANSWERED
    return Step.RINGING
