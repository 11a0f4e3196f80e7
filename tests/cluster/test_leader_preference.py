"""The routing leader is a node that carries calls when one is connected: the leader rings
the phones, and a node serving the web only has no Asterisk to ring them with (real
PostgreSQL, the leadership alone)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from ccari.cluster.leader import Leadership
from ccari.cluster.postgres import dsn_of
from ccari.cluster.repo import LOCK_KEYS
from tests.cluster.conftest import CHECK_S, eventually_true
from tests.support.waits import eventually

Make = Callable[[str, bool], Leadership]


@pytest.fixture
async def leaderships(cluster_url: str) -> AsyncIterator[tuple[Make, list[tuple[str, str]]]]:
    made: list[Leadership] = []
    seen: list[tuple[str, str]] = []

    def make(node: str, carries_calls: bool) -> Leadership:
        async def elected(epoch: int) -> None:
            seen.append((node, "elected"))

        async def deposed() -> None:
            seen.append((node, "deposed"))

        lead = Leadership(dsn_of(cluster_url), node, on_elected=elected, on_deposed=deposed,
                          check_s=CHECK_S, carries_calls=carries_calls)
        made.append(lead)
        lead.start()
        return lead

    yield make, seen
    for lead in made:
        await lead.close()


async def test_a_web_node_hands_the_lead_to_a_node_that_carries_calls(
        leaderships: tuple[Make, list[tuple[str, str]]]) -> None:
    make, seen = leaderships
    web = make("web1", False)
    await eventually_true(lambda: web.leading, "the web node leading (alone)")
    calls = make("pbx1", True)
    await eventually_true(lambda: calls.leading and not web.leading, "the calls node leading")
    assert seen == [("web1", "elected"), ("web1", "deposed"), ("pbx1", "elected")]

    # Gone, the calls node leaves the lead to the web node again.
    await calls.close()
    await eventually_true(lambda: web.leading, "the web node leading again")
    assert seen[-1] == ("web1", "elected")


async def test_a_web_node_leaves_a_freed_lock_to_a_calls_node_waiting_for_it(
        leaderships: tuple[Make, list[tuple[str, str]]], cluster_url: str) -> None:
    make, seen = leaderships
    holder = await asyncpg.connect(dsn_of(cluster_url))  # an old leader, still holding it
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEYS["routing"])
        web = make("web1", False)
        calls = make("pbx1", True)

        async def both_waiting() -> bool:
            names = await holder.fetch("SELECT application_name FROM pg_stat_activity "
                                       "WHERE application_name LIKE 'ccari-lead:%'")
            return {r[0] for r in names} == {"ccari-lead:web1:web", "ccari-lead:pbx1:calls"}

        await eventually(both_waiting, what="both nodes waiting for the lock")
    finally:
        await holder.close()  # the lock is free: both try for it, only one may
    await eventually_true(lambda: calls.leading, "the calls node leading")
    assert not web.leading and seen == [("pbx1", "elected")]
