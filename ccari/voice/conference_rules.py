"""A call's conference, decided without I/O: the parties the agent added, whether one more
fits, and whether the call goes on when someone leaves.

The customer and the agent are parties too: ``voice.conference_max_parties`` (default 6)
counts them, and the ones still ringing.  Once the agent has left, the conference goes on
while the customer and at least one added party remain; the customer leaving ends the
contact, as always.  The executor (``conference.py``) carries these out on Asterisk.

After a restart of ccari, each party the contact's log names is rebuilt from the log (its
phase, muted or not) and what Asterisk reports of its leg (:func:`party_step`):

===========  ==============  =================================================
logged       the leg         step
===========  ==============  =================================================
dialling     ringing         RINGING (its answer is to come)
dialling     up              JOIN (answered while ccari was away: into the call)
joined       there           KEEP (in the call, muted again if it was)
either       gone            LEFT (its end went unseen: logged now)
over         any             NOTHING (removed or left; a leg still up is hung up)
===========  ==============  =================================================
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccari.errors import BadRequest, Conflict, NotFound

PARTY_MAX = 64


@dataclass
class Party:
    """One leg the agent added (its stable id is ``cnf-<contact>-<n>``)."""

    leg: str
    who: dict[str, str]  # {"agent": username} or {"number": e164}
    since: dt.datetime  # dialled at, then joined at
    agent_id: int | None = None  # a colleague (kept out of the queue's offers meanwhile)
    joined: bool = False
    muted: bool = False

    def view(self) -> dict[str, Any]:
        return {"id": self.leg, "who": self.who, "since": self.since.isoformat(),
                "state": "joined" if self.joined else "ringing", "muted": self.muted}


@dataclass
class Conference:
    contact_id: str
    parties: dict[str, Party] = field(default_factory=dict)
    agent_left: bool = False

    def joined(self) -> int:
        return sum(1 for p in self.parties.values() if p.joined)


def check_room(conference: Conference, limit: int) -> None:
    """409 ``conference-full`` when the customer, the agent and the added parties (ringing
    ones too) already make ``limit``."""
    if 2 + len(conference.parties) >= limit:
        raise Conflict(f"a call has at most {limit} parties", error_id="conference-full")


def party_of(conference: Conference, message: Mapping[str, Any]) -> Party:
    """The party a command names (``party``: its id): 400 ``bad-party``, 404
    ``party-not-found``."""
    leg = message.get("party")
    if not isinstance(leg, str) or not leg or len(leg) > PARTY_MAX:
        raise BadRequest("party must be the id of a party of the call", error_id="bad-party")
    party = conference.parties.get(leg)
    if party is None:
        raise NotFound("no such party in this call", error_id="party-not-found")
    return party


def check_mute(party: Party, muted: bool) -> None:
    """409 when the party is not in the call yet, or already (un)muted."""
    if not party.joined:
        raise Conflict("the party has not answered", error_id="party-not-joined")
    if party.muted == muted:
        raise Conflict("the party is already " + ("muted" if muted else "unmuted"),
                       error_id="party-muted" if muted else "party-not-muted")


def check_leave(conference: Conference) -> None:
    """The agent may leave only a conference that goes on without her (409
    ``conference-empty``: hang up instead)."""
    if conference.joined() == 0:
        raise Conflict("nobody else is in the call: hang up instead",
                       error_id="conference-empty")


def goes_on(conference: Conference) -> bool:
    """After a party left: the call goes on while the agent is in it, or at least one added
    party that answered is (the customer's own leaving ends the call elsewhere)."""
    return not conference.agent_left or conference.joined() > 0


# ---- rebuilt after a restart -------------------------------------------------------------------
class PartyStep(enum.Enum):
    NOTHING = "nothing"
    RINGING = "ringing"
    JOIN = "join"
    KEEP = "keep"
    LEFT = "left"


@dataclass(frozen=True)
class LoggedParty:
    """A party as the contact's meta and log have it."""

    leg: str
    who: Mapping[str, str]
    since: dt.datetime  # dialled at, then joined at
    phase: str = "dialling"  # dialling | joined | over
    muted: bool = False


def logged_parties(parties: Sequence[Mapping[str, Any]],
                   events: Iterable[tuple[str, dt.datetime, Mapping[str, Any]]]
                   ) -> list[LoggedParty]:
    """The parties of ``parties`` (the contact's ``meta["conference"]``) in the phase its
    ``conference-*`` ``events`` (kind, at, data; in order) left each."""
    found = {str(p.get("leg", "")): LoggedParty(str(p.get("leg", "")), dict(p.get("to") or {}),
                                                dt.datetime.min.replace(tzinfo=dt.UTC))
             for p in parties}
    for kind, at, data in events:
        party = found.get(str(data.get("leg", "")))
        if party is None or party.phase == "over":
            continue
        if kind == "conference-dialling":
            party = LoggedParty(party.leg, party.who, at)
        elif kind == "conference-joined":
            party = LoggedParty(party.leg, party.who, at, "joined", party.muted)
        elif kind in ("conference-muted", "conference-unmuted"):
            party = LoggedParty(party.leg, party.who, party.since, party.phase,
                                kind == "conference-muted")
        elif kind in ("conference-removed", "conference-left"):
            party = LoggedParty(party.leg, party.who, party.since, "over")
        found[party.leg] = party
    return list(found.values())


def party_step(phase: str, leg_state: str | None) -> PartyStep:
    """``leg_state``: what Asterisk reports of the party's leg ("Up", "Ringing"...), None if
    it has none."""
    if phase == "over":
        return PartyStep.NOTHING
    if leg_state is None:
        return PartyStep.LEFT
    if phase == "joined":
        return PartyStep.KEEP
    return PartyStep.JOIN if leg_state == "Up" else PartyStep.RINGING
