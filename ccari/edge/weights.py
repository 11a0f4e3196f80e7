"""Pure: the dispatcher's relative weight of each media node from the calls it carries.

Kamailio's algorithm 11 sends a new call to an active destination with probability
``rweight / sum of the active destinations' rweight``; rweight is 1 to 100.  A node with all
its capacity free weighs 100, a full (or over-full) one 1: more free capacity, more weight.

A destination's attributes are Kamailio's ``name=value;name=value`` string; ccari owns
``rweight`` (kept here) and ``capacity`` (registered by the node: the calls its Asterisk
takes at most); any other attribute an admin set is kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MIN_WEIGHT = 1
MAX_WEIGHT = 100
WEIGHT = "rweight"
CAPACITY = "capacity"


def rweight(calls: int, capacity: int) -> int:
    """The relative weight (1..100) of a node carrying ``calls`` of ``capacity``:
    proportional to its free capacity, rounded half up, never below 1."""
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, not {capacity}")
    free = min(capacity, max(0, capacity - calls))
    return max(MIN_WEIGHT, (2 * MAX_WEIGHT * free + capacity) // (2 * capacity))


def parse_attrs(attrs: str) -> dict[str, str]:
    """``"a=1;b=2"`` -> ``{"a": "1", "b": "2"}`` in order (a bare name maps to "")."""
    out: dict[str, str] = {}
    for item in attrs.split(";"):
        name, _, value = item.strip().partition("=")
        if name.strip():
            out[name.strip()] = value.strip()
    return out


def format_attrs(attrs: Mapping[str, str]) -> str:
    return ";".join(f"{k}={v}" if v else k for k, v in attrs.items())


def with_attr(attrs: str, name: str, value: int | str) -> str:
    """``attrs`` with ``name`` set to ``value`` (appended if absent), the others kept."""
    parsed = parse_attrs(attrs)
    parsed[name] = str(value)
    return format_attrs(parsed)


def int_attr(attrs: str, name: str) -> int | None:
    try:
        return int(parse_attrs(attrs)[name])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Destination:
    """One dispatcher row as the planner sees it."""

    id: int
    node: str  # the row's description: the ccari node whose Asterisk it is
    attrs: str
    uri: str = ""


def plan(destinations: Iterable[Destination], calls: Mapping[str, int],
         default_capacity: int) -> dict[int, str]:
    """The new attributes of the destinations whose weight changes (by row id), from the
    live calls per node (a node absent from ``calls`` carries none) and each row's
    registered capacity (``default_capacity`` for a row without one)."""
    changes: dict[int, str] = {}
    for d in destinations:
        capacity = int_attr(d.attrs, CAPACITY)
        weight = rweight(calls.get(d.node, 0),
                         capacity if capacity and capacity > 0 else default_capacity)
        if int_attr(d.attrs, WEIGHT) != weight:
            changes[d.id] = with_attr(d.attrs, WEIGHT, weight)
    return changes
