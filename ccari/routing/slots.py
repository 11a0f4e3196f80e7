"""An agent's live state inside the router: presence and the items held in its media slots."""

from __future__ import annotations

from dataclasses import dataclass, field

from ccari.routing.model import Agent, AgentState, AwayReason, Medium

ANY = ("", "")
"""Anchor of the groups of items with no required attribute."""

Anchor = tuple[str, str]
Profile = frozenset[tuple[tuple[str, str], int]]
"""An agent's attributes with their proficiencies (agents with the same one score the same)."""


def reserved_anchor(agent_id: str) -> Anchor:
    """Anchor of the groups of items reserved for one agent (no attribute name is empty)."""
    return ("", agent_id)


@dataclass(eq=False, slots=True)
class AgentRuntime:
    """One logged-in agent. ``presence`` is ``ready``, ``not_ready`` or ``wrap_up``."""

    agent: Agent
    presence: AgentState
    idle_since: float
    since: float = 0.0
    """When the agent last switched between working and away (not ready)."""
    reason: AwayReason | None = None
    """Why the router made the agent not ready; ``None`` when the agent chose it (or is not)."""
    wrap_until: float | None = None
    wrap_token: int = 0
    held: dict[str, Medium] = field(default_factory=dict)
    offered: set[str] = field(default_factory=set)
    kept_for: set[str] = field(default_factory=set)
    """Waiting exclusive items capacity is held back for (fair blending): while there is
    one, the agent gets no new work of its other media."""
    used: dict[Medium, int] = field(default_factory=dict)
    total_used: int = 0
    exclusive_used: int = 0
    free_media: frozenset[Medium] = frozenset()
    anchors: tuple[Anchor, ...] = ()
    profile: Profile | None = None
    """Its attributes with proficiencies, made the first time the free index needs them."""
    touched: set[str] | None = None
    """The router's set of agents whose state may have changed (holding and releasing
    items add this one)."""

    def __post_init__(self) -> None:
        self.rebind(self.agent)

    def rebind(self, agent: Agent) -> None:
        """Take new attributes or slots; the items held are recounted against the new slots."""
        self.agent = agent
        self.anchors = (*agent.attributes, ANY, reserved_anchor(agent.id))
        self.profile = None
        self.used = {}
        for medium in self.held.values():
            self.used[medium] = self.used.get(medium, 0) + 1
        self.total_used = len(self.held)
        self.exclusive_used = sum(1 for m in self.held.values() if m in agent.slots.exclusive)

    @property
    def id(self) -> str:
        return self.agent.id

    def can_take(self, medium: Medium) -> bool:
        """Whether an item of this medium may be offered now."""
        slots = self.agent.slots
        if self.presence is not AgentState.READY or self.total_used >= slots.total:
            return False
        if self.exclusive_used or self.used.get(medium, 0) >= slots.per_medium.get(medium, 0):
            return False
        if medium in slots.exclusive:
            return not self.total_used
        return not self.kept_for

    def blends(self, medium: Medium) -> bool:
        """Whether the agent handles ``medium`` alone, beside other media it may hold
        together: the agents fair blending holds capacity back on."""
        slots = self.agent.slots
        if medium not in slots.exclusive or not slots.capacity(medium):
            return False
        return any(n > 0 for m, n in slots.per_medium.items() if m not in slots.exclusive)

    def takeable(self) -> frozenset[Medium]:
        return frozenset([m for m in self.agent.slots.per_medium if self.can_take(m)])

    def hold(self, item_id: str, medium: Medium, *, offered: bool) -> None:
        if self.touched is not None:
            self.touched.add(self.agent.id)
        self.held[item_id] = medium
        if offered:
            self.offered.add(item_id)
        self.used[medium] = self.used.get(medium, 0) + 1
        self.total_used += 1
        if medium in self.agent.slots.exclusive:
            self.exclusive_used += 1

    def release(self, item_id: str) -> None:
        if self.touched is not None:
            self.touched.add(self.agent.id)
        medium = self.held.pop(item_id)
        self.offered.discard(item_id)
        self.used[medium] -= 1
        self.total_used -= 1
        if medium in self.agent.slots.exclusive:
            self.exclusive_used -= 1

    def occupancy(self) -> float:
        total = self.agent.slots.total
        return self.total_used / total if total else 1.0

    def state(self) -> AgentState:
        if self.presence is not AgentState.READY:
            return self.presence
        if self.offered:
            return AgentState.RESERVED
        if self.held:
            return AgentState.BUSY
        return AgentState.READY
