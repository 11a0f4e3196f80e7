"""The facts the router takes and the decisions it returns: plain, immutable, typed values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ccari.errors import Conflict, NotFound


class Medium(StrEnum):
    """What kind of work an item is; agents have slots per medium."""

    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    FAX = "fax"
    VIDEO = "video"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    WEBHELP = "webhelp"

    @property
    def is_call(self) -> bool:
        """A call through the PBX (the voice ACD holds it): voice, or video from the page."""
        return self in CALLS


#: The media the voice ACD carries: a call to an agent's phone, with or without video.
CALLS = frozenset({Medium.VOICE, Medium.VIDEO})


class AgentState(StrEnum):
    """What an agent is doing, as the router sees it.

    ``ready``: may receive offers (free slots, nothing in progress). ``reserved``: ready, with at
    least one offer waiting for accept/reject. ``busy``: ready, handling at least one item (a
    multi-slot agent may still receive offers for its free slots). ``not_ready`` and ``wrap_up``:
    no new offers; items in progress go on. ``wrap_up`` ends with :meth:`Router.agent_ready` or,
    when ``complete(..., wrap_up=seconds)`` gave a duration, by itself at that time.
    """

    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"
    BUSY = "busy"
    WRAP_UP = "wrap_up"


class AwayReason(StrEnum):
    """Why the router, not the agent, made an agent not ready (shown on the agent's page and
    the supervisor's). ``missed_offer``: an offer of any medium lapsed (a phone that rang out,
    a chat or e-mail not accepted in time): see :meth:`Router.reject`. ``in_call``: on a call
    the router did not place (consulted by a colleague, a party of a conference): see
    :meth:`Router.agent_engaged`. ``call_lost``: her call was closed without her (its ccari
    node died) and may go on in its Asterisk: she says when she is free: see
    :meth:`Router.complete`."""

    MISSED_OFFER = "missed_offer"
    IN_CALL = "in_call"
    CALL_LOST = "call_lost"

    @classmethod
    def of(cls, value: object) -> AwayReason | None:
        """The reason ``value`` names (as saved or told between nodes); None for any other."""
        return cls(value) if isinstance(value, str) and value in cls._value2member_map_ else None


class RoutingError(Conflict):
    """The routing core refused an event."""

    error_id = "routing-conflict"


class UnknownItem(RoutingError, NotFound):
    """No such work item in the router."""

    error_id = "routing-unknown-item"
    status = 404


class UnknownAgent(RoutingError, NotFound):
    """No such logged-in agent in the router."""

    error_id = "routing-unknown-agent"
    status = 404


class DuplicateId(RoutingError):
    """An item or agent with this id is already in the router."""

    error_id = "routing-duplicate-id"


class InvalidTransition(RoutingError):
    """The event does not apply to the item's or agent's current state."""

    error_id = "routing-invalid-transition"


@dataclass(frozen=True, slots=True)
class Requirement:
    """An attribute a work item asks for: ``Requirement("skill", "billing", min_proficiency=4)``.

    ``required``: agents lacking it (or below ``min_proficiency``) are never offered the item.
    Otherwise it is preferred: it only adds ``weight * proficiency`` to an agent's fit score.
    """

    name: str
    value: str
    required: bool = True
    min_proficiency: int = 0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("requirement name must not be empty")
        if not math.isfinite(self.weight):
            raise ValueError("requirement weight must be finite")


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A contact waiting to be handled: a call, chat, email, fax, callback...

    Items are served by ``priority`` (higher first), then by the time since which they have been
    waiting (``max(arrived_at, not_before)``, earlier first), then by ``id``. An item with
    ``not_before`` in the future (a scheduled callback) is not routed before that time.
    ``reserved_agent`` restricts the item to that agent (until a relaxation step releases it).
    """

    id: str
    tenant: str
    medium: Medium
    requirements: tuple[Requirement, ...] = ()
    priority: int = 0
    arrived_at: float = 0.0
    queue: str = "default"
    reserved_agent: str | None = None
    not_before: float | None = None

    @property
    def waiting_since(self) -> float:
        """The age origin used for ordering and relaxation."""
        if self.not_before is None:
            return self.arrived_at
        return max(self.arrived_at, self.not_before)

    @property
    def order_key(self) -> tuple[int, float, str]:
        """Smaller is served first: priority (higher first), then age, then id."""
        return (-self.priority, self.waiting_since, self.id)


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """How much work of each medium an agent can hold at once.

    ``per_medium[m]``: at most this many items of medium ``m`` (absent means none).
    ``total``: at most this many items altogether. A medium in ``exclusive`` is handled alone: it is
    only offered to an agent holding nothing, and an agent holding one gets nothing else.
    """

    per_medium: Mapping[Medium, int]
    total: int
    exclusive: frozenset[Medium] = frozenset()

    def __post_init__(self) -> None:
        if self.total < 0 or any(n < 0 for n in self.per_medium.values()):
            raise ValueError("slot capacities must not be negative")

    @classmethod
    def voice(cls) -> SlotSpec:
        """One voice call and nothing else."""
        return cls({Medium.VOICE: 1}, 1, frozenset({Medium.VOICE}))

    @classmethod
    def blended(cls, per_medium: Mapping[Medium, int], total: int | None = None) -> SlotSpec:
        """Several media at once; voice, if present, is exclusive."""
        exclusive = frozenset({Medium.VOICE}) & frozenset(per_medium)
        total = sum(per_medium.values()) if total is None else total
        return cls(dict(per_medium), total, exclusive)

    def capacity(self, medium: Medium) -> int:
        """How many items of this medium fit when the agent holds nothing else."""
        n = min(self.per_medium.get(medium, 0), self.total)
        return min(n, 1) if medium in self.exclusive else n


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent as logged in: ``attributes`` maps ``(name, value)`` to a proficiency (>= 0).

    ``pools``: the agent pools it belongs to; routing rules send a queue's work to pools.
    ``site`` is informative (snapshots, predictions); route by site with an attribute.
    """

    id: str
    tenant: str
    site: str = ""
    attributes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    slots: SlotSpec = field(default_factory=SlotSpec.voice)
    pools: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if any(p < 0 for p in self.attributes.values()):
            raise ValueError("proficiency must not be negative")


@dataclass(frozen=True, slots=True, order=True)
class Offer:
    """A decision: offer ``item_id`` to ``agent_id`` in a ``medium`` slot, which is now reserved."""

    item_id: str
    agent_id: str
    medium: Medium


@dataclass(frozen=True, slots=True)
class WaitPrediction:
    """Predicted wait of a waiting item and the agents it may get.

    ``wait``: the median (half the items wait less) of the seconds from ``now`` until an offer;
    ``inf`` if no logged-in agent can ever take it.
    ``position``: 1 + the (rounded) number of items ahead that compete for the same agents.
    ``eligible_agents``: staffed (logged in, not ``not_ready``) agents it may go to now;
    ``available_agents``: those of them with a free slot right now.
    """

    item_id: str
    wait: float
    position: int
    eligible_agents: int
    available_agents: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole routing state, ordered deterministically (for dashboards and tests)."""

    waiting: tuple[str, ...]
    scheduled: tuple[str, ...]
    offers: tuple[Offer, ...]
    busy: tuple[tuple[str, str], ...]
    agents: tuple[tuple[str, AgentState], ...]
