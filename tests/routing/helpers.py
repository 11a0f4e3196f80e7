"""Small factories for routing tests."""

from __future__ import annotations

from ccari.routing import Agent, Medium, Requirement, SlotSpec, WorkItem

T = "acme"


def agent(
    agent_id: str,
    *skills: str | tuple[str, int],
    tenant: str = T,
    slots: SlotSpec | None = None,
    pools: frozenset[str] = frozenset(),
    extra: dict[tuple[str, str], int] | None = None,
) -> Agent:
    """An agent with ``skill=<name>`` attributes (proficiency 5 unless given)."""
    attributes: dict[tuple[str, str], int] = dict(extra or {})
    for skill in skills:
        name, level = (skill, 5) if isinstance(skill, str) else skill
        attributes[("skill", name)] = level
    return Agent(agent_id, tenant, "hq", attributes, slots or SlotSpec.voice(), pools)


def item(
    item_id: str,
    *skills: str | Requirement,
    at: float = 0.0,
    medium: Medium = Medium.VOICE,
    tenant: str = T,
    **kwargs: object,
) -> WorkItem:
    """A work item requiring ``skill=<name>`` for each plain string."""
    reqs = tuple(s if isinstance(s, Requirement) else Requirement("skill", s) for s in skills)
    return WorkItem(item_id, tenant, medium, reqs, arrived_at=at, **kwargs)  # type: ignore[arg-type]


def pairs(offers: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(o.item_id, o.agent_id) for o in offers]
