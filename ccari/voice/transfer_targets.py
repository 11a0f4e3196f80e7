"""Where an agent may send her call, decided without I/O: the target a transfer request
names (a skill, a colleague, an outside number) and whether a colleague may take it now.

The executor (``transfers.py``) reads the colleague's state and the tenant's dial policy
and carries the transfer out; these functions only judge what they are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ccari.contacts.routing import router_agent
from ccari.errors import BadRequest, Conflict
from ccari.routing import Medium
from ccari.storage.models import Agent

ATTRIBUTE_MAX = 64
NUMBER_MAX = 32


@dataclass(frozen=True)
class ToSkill:
    """Back to the queue for agents with this skill."""

    skill: str


@dataclass(frozen=True)
class ToAgent:
    """To one colleague of the same tenant (her username)."""

    username: str


@dataclass(frozen=True)
class ToNumber:
    """Out of the contact center, to a phone number (as the agent typed it)."""

    number: str


Target = ToSkill | ToAgent | ToNumber
_FIELDS = (("skill", ToSkill, ATTRIBUTE_MAX), ("agent", ToAgent, ATTRIBUTE_MAX),
           ("number", ToNumber, NUMBER_MAX))


def target_of(message: Mapping[str, Any]) -> Target:
    """The one target a request names (``skill``, ``agent`` or ``number``): 400
    ``bad-transfer`` for several, ``bad-skill`` for none (a skill is the default target),
    ``bad-<field>`` for a value that is not short text."""
    named = [(name, kind, limit) for name, kind, limit in _FIELDS if message.get(name) is not None]
    if len(named) > 1:
        raise BadRequest("name one of skill, agent or number", error_id="bad-transfer")
    name, kind, limit = named[0] if named else _FIELDS[0]
    value = message.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"{name} must be text of at most {limit} characters",
                         error_id=f"bad-{name}")
    return kind(value.strip())


# The colleague's state (the router's word) -> may she be sent a call now?
TAKES_CALLS: Mapping[str, bool] = {
    "ready": True,
    "reserved": False,  # an offer is ringing on her phone
    "busy": False,
    "not_ready": False,
    "wrap_up": False,
    "logged_out": False,
}


def colleague_for_skill(ready: Iterable[tuple[str, int]], me: str) -> str:
    """The colleague a consult to a skill rings: of those ready now who have it (username,
    proficiency), the most proficient (then by name), never the agent herself; 409
    ``no-agent-free`` when there is none (a transfer to the skill queues the call instead)."""
    best = sorted((-level, name) for name, level in ready if name != me and level > 0)
    if not best:
        raise Conflict("no colleague with this skill is free now (a transfer to the skill "
                       "waits in the queue)", error_id="no-agent-free")
    return best[0][1]


def check_colleague(state: str, *, same_agent: bool, video: bool = False,
                    takes_video: bool = False) -> None:
    """409 ``agent-unavailable`` unless she is logged in and ready; 400 ``bad-transfer``
    for a transfer to oneself.  A video call (``video``) stays one: 409
    ``agent-cannot-take-video`` unless she can ever take video (``takes_video``: her phone
    is the agent page and she has a video slot), whatever her state."""
    if same_agent:
        raise BadRequest("the call is already yours", error_id="bad-transfer")
    if video:
        check_video(takes_video)
    if not TAKES_CALLS.get(state, False):
        raise Conflict(f"this agent cannot take a call now ({state})",
                       error_id="agent-unavailable")


def check_video(takes_video: bool) -> None:
    """409 ``agent-cannot-take-video``: a video call going to someone who cannot take it."""
    if not takes_video:
        raise Conflict("this agent cannot take a video call (her phone is not the agent "
                       "page, or she has no video slot)", error_id="agent-cannot-take-video")


def video_leg(medium: Medium, agent: Agent) -> bool:
    """Is a leg of a call of ``medium`` to her phone rung with video (a video call, and she
    can take video)?"""
    return medium is Medium.VIDEO and takes_video(agent)


def takes_video(agent: Agent) -> bool:
    """Whether the router would ever offer her a video call: her phone is the agent page and
    she has a video slot (a SIP phone agent's video slot is closed)."""
    return router_agent(agent, attributes={}).slots.per_medium.get(Medium.VIDEO, 0) > 0
