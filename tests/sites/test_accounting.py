"""The loads kept from the legs ccari placed: sums per site and node, releases, rebuilds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ccari.sites.accounting import Leg, Loads


def leg(n: int, site: int | None = 1, node: str = "pbx1", codec: str = "ulaw",
        kbps: float = 87.2) -> Leg:
    return Leg(f"agent-c{n}-1", 7, site, node, codec, kbps)


def test_a_leg_counts_on_its_site_and_node_until_released_once() -> None:
    loads = Loads()
    loads.add(leg(1))
    loads.add(leg(2, codec="gsm", kbps=36.4))
    loads.add(leg(3, site=2, node="pbx2"))
    assert loads.site(1) == 123.6 and loads.site_calls(1) == 2 and loads.site(2) == 87.2
    assert loads.nodes(["pbx1", "pbx2", "pbx3"]) == {"pbx1": 123.6, "pbx2": 87.2, "pbx3": 0.0}
    assert loads.release("agent-c1-1") == leg(1)
    assert loads.release("agent-c1-1") is None  # StasisEnd, then ChannelDestroyed
    assert loads.release("never-counted") is None
    assert loads.site(1) == 36.4 and loads.nodes(["pbx1"]) == {"pbx1": 36.4}


def test_a_rebuild_counts_what_asterisk_has_and_keeps_what_changed_meanwhile() -> None:
    loads = Loads()
    loads.add(leg(1))  # ended while ccari was away: not in the live list
    loads.add(leg(2))
    mark = loads.mark()  # the live channels are read from here on
    loads.add(leg(3))  # dialled during the reconcile: not in the list read yet
    loads.release("agent-c2-1")  # ended during the reconcile: still in the list read
    changed = loads.rebuild([leg(2), leg(4, site=5)], mark)  # 4: placed by the previous process
    assert {x.leg_id for x in loads.legs()} == {"agent-c3-1", "agent-c4-1"}
    assert loads.site(1) == 87.2 and loads.site(5) == 87.2
    assert changed == {1, 5}


ops = st.lists(st.tuples(st.booleans(), st.integers(0, 8), st.sampled_from([None, 1, 2]),
                         st.sampled_from(["pbx1", "pbx2"]),
                         st.sampled_from([("ulaw", 87.2), ("gsm", 36.4)])), max_size=80)


@given(ops)
def test_the_sums_are_always_those_of_the_legs_counted(steps: list[tuple[bool, int, int | None, str,
                                                                            tuple[str, float]]]) -> None:
    loads = Loads()
    for add, n, site, node, (codec, kbps) in steps:
        if add:
            loads.add(leg(n, site, node, codec, kbps))
        else:
            loads.release(f"agent-c{n}-1")
        for s in (None, 1, 2):
            expected = round(sum(x.kbps for x in loads.legs() if x.site_id == s), 1)
            assert abs(loads.site(s) - expected) < 0.05
        for name, load in loads.nodes(["pbx1", "pbx2"]).items():
            assert abs(load - sum(x.kbps for x in loads.legs() if x.node == name)) < 0.05
    for x in loads.legs():
        loads.release(x.leg_id)
    assert loads.site(1) == loads.site(2) == 0.0 and len(loads) == 0
