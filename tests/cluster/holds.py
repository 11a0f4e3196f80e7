"""The invariant "no agent ever holds two voice offers", checked on every event of the
contacts' logs (whichever node wrote them): an agent holds a call from the event that
offers it to her until the event that takes it from her (back to the queue, or ended)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HOLDING = ("offered", "connected")


@dataclass(frozen=True)
class Event:
    contact_id: str
    kind: str  # the state the contact entered
    at: dt.datetime
    data: dict[str, Any]
    order: int = 0  # the log's id: ties in ``at`` keep the order of writing


def double_holds(events: Iterable[Event]) -> list[tuple[int, str, str, dt.datetime]]:
    """Every moment an agent was given a call while holding another: (agent, the call she
    held, the call given, when)."""
    holder: dict[str, int] = {}  # contact -> the agent holding it
    holding: dict[int, str] = {}  # agent -> the call she holds
    found = []
    for event in sorted(events, key=lambda e: (e.at, e.order)):
        if event.kind == "offered":
            agent = int(event.data["agent_id"])
            held = holding.get(agent)
            if held is not None and held != event.contact_id:
                found.append((agent, held, event.contact_id, event.at))
            holding[agent] = event.contact_id
            holder[event.contact_id] = agent
        elif event.kind not in HOLDING and event.contact_id in holder:
            agent = holder.pop(event.contact_id)
            if holding.get(agent) == event.contact_id:
                del holding[agent]
    return found
