"""One routing leader per cluster: an advisory lock, an epoch fence, a takeover that offers
the waiting contacts once (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
from sqlalchemy import select

from ccari.cluster.postgres import dsn_of
from ccari.cluster.repo import ELECT, holds_sync
from ccari.contacts.lifecycle import State
from ccari.storage.models import Contact, ContactEvent
from tests.cluster.conftest import Node, cut, eventually_true
from tests.cluster.test_chat_across_nodes import open_chat
from tests.public.support import until


async def no_offer(page_ws: object, within_s: float = 0.5) -> bool:
    try:
        await until(page_ws, "offer", timeout=within_s)  # type: ignore[arg-type]
    except (AssertionError, TimeoutError):
        return True
    return False


async def test_only_the_leader_routes_and_another_node_takes_over(
        two_nodes: tuple[Node, Node], cluster_url: str) -> None:
    a, b = two_nodes
    assert a.rt.leadership is not None and b.rt.leadership is not None
    assert a.rt.leadership.leading and not b.rt.leadership.leading
    bob = await a.agent("acme", "bob")  # support; his page on the leader
    alice = await b.agent("acme", "alice")  # sales, three chat slots; her page on the other
    sales = {(await open_chat(node))[1] for node in (a, b)}
    _, support = await open_chat(b, "support")  # told to the leader, which routes it

    # Only the leader routes, to every node's pages (alice's through the bus).
    assert (await until(bob.ws, "offer"))["contact"]["id"] == support
    assert {(await until(alice.ws, "offer"))["contact"]["id"] for _ in sales} == sales

    # The leader's lock connection dies: the other node takes the lock, rebuilds the router
    # from the database and offers what waits again, once, to every node's pages.
    await cut(a.rt.leadership.connection, cluster_url)
    await eventually_true(lambda: b.rt.leadership is not None and b.rt.leadership.leading,
                          "b leading")
    # (a notices its lock is gone at its next check; meanwhile its offers are fenced off)
    await eventually_true(lambda: a.rt.leadership is not None and not a.rt.leadership.leading,
                          "a no longer leading")
    assert (await until(bob.ws, "offer"))["contact"]["id"] == support
    assert {(await until(alice.ws, "offer"))["contact"]["id"] for _ in sales} == sales
    # The node that no longer leads tells the leader of new work.
    _, late = await open_chat(a)
    assert (await until(alice.ws, "offer"))["contact"]["id"] == late
    await asyncio.sleep(3 * 0.2)  # a tries for the lock again: b keeps it
    assert b.rt.leadership.leading and not a.rt.leadership.leading

    async with b.rt.sessions() as s:
        contacts = list(await s.scalars(select(Contact)))
        events = list(await s.scalars(select(ContactEvent).order_by(ContactEvent.id)))
        epoch = await s.run_sync(lambda sync: holds_sync(sync, "routing", 2))
        stale = await s.run_sync(lambda sync: holds_sync(sync, "routing", 1))
    assert epoch and not stale
    # No agent holds more offers than her slots; no contact was ever offered while offered.
    alice_id = next(c.agent_id for c in contacts if c.id == late)
    bob_id = next(c.agent_id for c in contacts if c.id == support)
    holding = Counter(c.agent_id for c in contacts if c.state == State.OFFERED)
    assert holding == Counter({alice_id: 3, bob_id: 1})
    by_contact: dict[str, list[str]] = {}
    for e in events:
        by_contact.setdefault(e.contact_id, []).append(e.kind)
    for kinds in by_contact.values():
        moves = [k for k in kinds if k in ("offered", "queued", "connected")]  # states
        twice = [x for x, y in zip(moves, moves[1:], strict=False) if x == y == "offered"]
        assert not twice, kinds
    assert by_contact[support].count("offered") == 2  # once by each leader
    assert by_contact[late].count("offered") == 1


async def test_a_stale_leaders_offer_and_a_new_election_are_serialised(
        two_nodes: tuple[Node, Node], cluster_url: str) -> None:
    """The fence: an offer's transaction holding the leader's epoch delays the next
    election until it commits; after the election that epoch no longer holds."""
    a, _ = two_nodes
    assert a.rt.leadership is not None and a.rt.leadership.epoch == 1
    async with a.rt.sessions() as s:
        assert await s.run_sync(lambda sync: holds_sync(sync, "routing", 1))
        voter = await asyncpg.connect(dsn_of(cluster_url))
        try:
            election = asyncio.ensure_future(voter.fetchval(ELECT, "routing", "z"))
            await asyncio.sleep(0.3)
            assert not election.done()  # waits for the offer's transaction
            await s.commit()
            assert await asyncio.wait_for(election, 5) == 2
        finally:
            await voter.close()
    async with a.rt.sessions() as s:
        assert not await s.run_sync(lambda sync: holds_sync(sync, "routing", 1))
