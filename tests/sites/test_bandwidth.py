"""The bandwidth core: what a call costs, and which node and codec the next agent leg gets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccari.sites.bandwidth import (
    Costs,
    Placement,
    Refusal,
    Site,
    choose,
    fits,
    has_room,
    least_loaded,
    phone_codecs,
)

SIP = phone_codecs("sip")  # ulaw, alaw, gsm
BROWSER = phone_codecs("browser")  # ulaw, alaw
ONE = {"pbx1": 0.0}


@pytest.mark.parametrize(("costs", "codec", "kbps"), [
    (Costs(), "ulaw", 87.2),  # Cisco's planning figure for G.711 at 50 pps on Ethernet
    (Costs(), "alaw", 87.2),
    (Costs(), "gsm", 36.4),  # 33-byte frames: (33 + 40 + 18) x 8 / 20
    (Costs(link_bytes=0), "ulaw", 80.0),  # at the IP layer
    (Costs(link_bytes=0), "gsm", 29.2),
    (Costs(ptime_ms=30), "ulaw", 79.5),  # fewer, bigger packets: less overhead
    (Costs(ptime_ms=40, link_bytes=0), "gsm", 21.2),
])
def test_what_one_call_costs_per_direction(costs: Costs, codec: str, kbps: float) -> None:
    assert costs.kbps(codec) == kbps


@pytest.mark.parametrize(("capacity", "load", "allowed", "expected"), [
    # No capacity: unlimited, G.711 whatever the load.
    (None, 10_000.0, SIP, "ulaw"),
    # G.711 while the site stays under 80% of its link with it.
    (200, 0.0, SIP, "ulaw"),
    (200, 72.8, SIP, "ulaw"),  # 72.8 + 87.2 = 160 = 80% of 200: still under
    # Above the threshold: GSM, while it fits under the capacity itself.
    (200, 72.9, SIP, "gsm"),
    (200, 163.6, SIP, "gsm"),  # 163.6 + 36.4 = 200: exactly full
    # Not even GSM fits: refused.
    (200, 163.7, SIP, "site-full"),
    # A link too small for one G.711 call under the threshold: GSM from the first call.
    (100, 0.0, SIP, "gsm"),
    (30, 0.0, SIP, "site-full"),
    # A browser phone has no GSM: G.711 up to the capacity, then refused.
    (200, 72.9, BROWSER, "ulaw"),
    (200, 112.8, BROWSER, "ulaw"),
    (200, 112.9, BROWSER, "site-full"),
    # The phone's preferred law first among equals.
    (None, 0.0, ("alaw", "ulaw"), "alaw"),
    # A phone that only takes GSM gets it, threshold or not.
    (200, 0.0, ("gsm",), "gsm"),
    # Nothing ccari knows: refused.
    (None, 0.0, ("opus",), "no-codec"),
])
def test_the_codec_of_the_next_leg(capacity: int | None, load: float, allowed: tuple[str, ...],
                                   expected: str) -> None:
    decision = choose(Site(capacity), load, ONE, allowed)
    got = decision.codec if isinstance(decision, Placement) else decision.reason
    assert got == expected
    assert has_room(Site(capacity), load, allowed) == isinstance(decision, Placement)


@pytest.mark.parametrize(("lower_at", "load", "expected"), [
    (0.5, 12.8, "ulaw"),  # 12.8 + 87.2 = 100 = 50% of 200
    (0.5, 12.9, "gsm"),
    (1.0, 112.8, "ulaw"),  # no threshold below the capacity: G.711 until it is full
    (1.0, 112.9, "gsm"),
])
def test_the_threshold_is_the_sites_setting(lower_at: float, load: float, expected: str) -> None:
    decision = choose(Site(200, lower_at), load, ONE, SIP)
    assert isinstance(decision, Placement) and decision.codec == expected


@pytest.mark.parametrize(("nodes", "expected"), [
    ({"pbx1": 0.0}, "pbx1"),
    ({"pbx1": 174.4, "pbx2": 87.2}, "pbx2"),
    ({"pbx2": 0.0, "pbx1": 0.0}, "pbx1"),  # a tie: the first by name, every time
    ({"b": 36.4, "a": 87.2, "c": 36.4}, "b"),
])
def test_the_leg_goes_out_from_the_least_loaded_media_node(nodes: dict[str, float],
                                                         expected: str) -> None:
    decision = choose(Site(None), 0.0, nodes, SIP)
    assert isinstance(decision, Placement) and decision.node == expected


@pytest.mark.parametrize(("nodes", "prefer", "expected"), [
    ({"a": 0.0, "b": 0.0}, "b", "b"),  # a tie: the caller's own node, no hop for nothing
    ({"a": 0.0, "b": 87.2}, "b", "a"),  # less loaded elsewhere: the leg goes there
    ({"a": 36.4, "b": 36.4, "c": 36.4}, "c", "c"),
    ({"a": 0.0, "b": 0.0}, "z", "a"),  # preferring a node not offered changes nothing
])
def test_a_tie_goes_to_the_preferred_node(nodes: dict[str, float], prefer: str,
                                          expected: str) -> None:
    decision = choose(Site(None), 0.0, nodes, SIP, prefer=prefer)
    assert isinstance(decision, Placement) and decision.node == expected


def test_no_media_node_no_leg() -> None:
    assert choose(Site(None), 0.0, {}, SIP) == Refusal("no-media-node")


# ---- properties ----------------------------------------------------------------------------
loads = st.floats(min_value=0, max_value=5000, allow_nan=False).map(lambda x: round(x, 1))
capacities = st.one_of(st.none(), st.integers(min_value=1, max_value=5000))
thresholds = st.floats(min_value=0.05, max_value=1.0)
phones = st.sampled_from([SIP, BROWSER, ("gsm",), ("alaw", "ulaw", "gsm"), ("gsm", "ulaw")])
node_loads = st.dictionaries(st.sampled_from(["pbx1", "pbx2", "pbx3", "pbx4"]), loads, min_size=1)
costs = st.builds(Costs, st.sampled_from([10, 20, 30, 40, 60]), st.integers(0, 60))


@given(capacities, thresholds, loads, node_loads, phones, costs)
def test_never_over_capacity_and_always_the_least_loaded_node(
        capacity: int | None, lower_at: float, load: float, nodes: dict[str, float],
        allowed: tuple[str, ...], cost: Costs) -> None:
    decision = choose(Site(capacity, lower_at), load, nodes, allowed, cost)
    if isinstance(decision, Refusal):
        # Refused only when even the cheapest codec the phone takes would not fit.
        assert capacity is not None
        assert not fits(load, min(cost.kbps(c) for c in allowed), capacity)
        return
    assert nodes[decision.node] == min(nodes.values())
    assert decision.codec in allowed and decision.kbps == cost.kbps(decision.codec)
    if capacity is not None:
        assert fits(load, decision.kbps, capacity)
    best = max(cost.kbps(c) for c in allowed)
    if decision.kbps < best:
        # Lowered only when the best would have crossed the threshold.
        assert capacity is not None and not fits(load, best, lower_at * capacity)
    elif capacity is not None and any(cost.kbps(c) < best for c in allowed):
        # The best while a lower one exists: under the threshold.
        assert fits(load, best, lower_at * capacity)


@given(capacities, thresholds, st.lists(phones, min_size=1, max_size=60), costs)
def test_filling_a_site_leg_after_leg_never_passes_its_capacity(
        capacity: int | None, lower_at: float, legs: list[tuple[str, ...]], cost: Costs) -> None:
    site, load, nodes = Site(capacity, lower_at), 0.0, {"pbx1": 0.0, "pbx2": 0.0}
    for allowed in legs:
        decision = choose(site, load, nodes, allowed, cost)
        if isinstance(decision, Placement):
            load = round(load + decision.kbps, 1)
            nodes[decision.node] = round(nodes[decision.node] + decision.kbps, 1)
            # Two nodes sharing the legs stay within one leg of each other.
            assert abs(nodes["pbx1"] - nodes["pbx2"]) <= cost.kbps("ulaw") + 0.05
    assert capacity is None or fits(load, 0.0, capacity)


def test_least_loaded_of_nothing_is_none() -> None:
    assert least_loaded({}) is None
