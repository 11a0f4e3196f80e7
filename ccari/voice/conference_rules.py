"""A call's conference, decided without I/O: the parties the agent added, whether one more
fits, and whether the call goes on when someone leaves.

The customer and the agent are parties too: ``voice.conference_max_parties`` (default 6)
counts them, and the ones still ringing.  Once the agent has left, the conference goes on
while the customer and at least one added party remain; the customer leaving ends the
contact, as always.  The executor (``conference.py``) carries these out on Asterisk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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
