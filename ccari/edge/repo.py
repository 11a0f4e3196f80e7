"""The destinations Kamailio reads, and the live calls per node, in the database."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ccari.admission.models import TrunkCall
from ccari.edge.models import EdgeDestination
from ccari.edge.weights import CAPACITY, MAX_WEIGHT, WEIGHT, Destination, with_attr

SET_ID = 1  # the dispatcher set of the media nodes (the rendered config dispatches to it)


async def register(session: AsyncSession, node: str, uri: str, capacity: int) -> bool:
    """The node's Asterisk as a destination of the set (one row per node, found by its
    description): added with the full weight, or its address and capacity brought up to
    date (its weight and any other attribute kept).  True if the row changed."""
    row = await session.scalar(select(EdgeDestination).where(
        EdgeDestination.setid == SET_ID, EdgeDestination.description == node).with_for_update())
    if row is None:
        session.add(EdgeDestination(setid=SET_ID, destination=uri, description=node,
                                    attrs=with_attr(f"{WEIGHT}={MAX_WEIGHT}", CAPACITY, capacity)))
        return True
    attrs = with_attr(row.attrs, CAPACITY, capacity)
    if (row.destination, row.attrs) == (uri, attrs):
        return False
    row.destination, row.attrs = uri, attrs
    return True


async def destinations(session: AsyncSession) -> list[Destination]:
    rows = await session.execute(
        select(EdgeDestination.id, EdgeDestination.description, EdgeDestination.attrs,
               EdgeDestination.destination)
        .where(EdgeDestination.setid == SET_ID).order_by(EdgeDestination.id))
    return [Destination(id, node, attrs, uri) for id, node, attrs, uri in rows]


async def set_attrs(session: AsyncSession, changes: dict[int, str]) -> None:
    for row_id, attrs in changes.items():
        await session.execute(update(EdgeDestination).where(EdgeDestination.id == row_id)
                              .values(attrs=attrs))


async def calls_per_node(session: AsyncSession) -> dict[str, int]:
    """The calls each node carries now: its live admitted calls (``trunk_calls``: inbound
    carrier calls and the calls it placed)."""
    rows = await session.execute(select(TrunkCall.node, func.count()).group_by(TrunkCall.node))
    return {node: int(n) for node, n in rows}
