"""The in-memory history admission keeps between decisions: dedup, window, bounded size."""

from __future__ import annotations

import pytest

from ccari.admission.history import History


def test_rows_read_twice_are_counted_once():
    h = History(max_durations=10)
    assert h.add_arrival(1, "acme", 100.0)
    assert not h.add_arrival(1, "acme", 100.0)  # the overlap of the next read
    assert h.add_arrival(2, "acme", 50.0)
    assert h.arrivals("acme").values == (50.0, 100.0)
    assert h.add_duration("c1", "acme", ended_at=100.0, duration_s=30.0)
    assert not h.add_duration("c1", "acme", ended_at=100.0, duration_s=30.0)
    assert h.durations("acme").values == (30.0,)
    assert len(h.arrivals("globex")) == 0 and len(h.durations("globex")) == 0


def test_prune_drops_old_arrivals_and_dedup_keys():
    h = History()
    h.add_arrival(1, "acme", 10.0)
    h.add_arrival(2, "acme", 20.0)
    h.add_arrival(3, "bravo", 5.0)
    h.add_duration("c1", "acme", ended_at=10.0, duration_s=60.0)
    before = h.arrivals("acme")
    h.prune(arrivals_before=15.0, durations_seen_before=15.0)
    assert h.arrivals("acme").values == (20.0,) and before.values == (10.0, 20.0)
    assert h.tenants_with_arrivals() == frozenset({"acme"})
    # The duration stays in the history; only its dedup key is forgotten.
    assert h.durations("acme").values == (60.0,)


def test_the_duration_history_keeps_the_latest_calls():
    h = History(max_durations=3)
    for i in range(5):
        h.add_duration(f"c{i}", "acme", ended_at=float(i), duration_s=float(10 * i))
    assert h.durations("acme").values == (20.0, 30.0, 40.0)
    h.add_duration("neg", "acme", ended_at=9.0, duration_s=-1.0)  # clock skew between nodes
    assert h.durations("acme").values == (0.0, 30.0, 40.0)
    with pytest.raises(ValueError):
        History(max_durations=0)
