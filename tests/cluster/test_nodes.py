"""Which nodes are dead, as the leader counts their absences (pure)."""

from __future__ import annotations

from ccari.cluster.nodes import Absences, app_name


def test_a_node_with_pages_is_dead_once_absent_for_the_timeout() -> None:
    absences = Absences(timeout_s=5.0)
    assert absences.dead(0.0, present=["a"], watched=["a", "b"], me="a") == []
    assert absences.dead(4.9, present=["a"], watched=["a", "b"], me="a") == []
    assert absences.dead(5.0, present=["a"], watched=["a", "b"], me="a") == ["b"]


def test_a_node_back_before_the_timeout_starts_counting_again() -> None:
    absences = Absences(timeout_s=5.0)
    assert absences.dead(0.0, present=[], watched=["b"], me="a") == []
    assert absences.dead(3.0, present=["b"], watched=["b"], me="a") == []  # reconnected
    assert absences.dead(6.0, present=[], watched=["b"], me="a") == []  # absent since 6
    assert absences.dead(11.0, present=[], watched=["b"], me="a") == ["b"]


def test_never_this_node_nor_a_node_without_pages() -> None:
    absences = Absences(timeout_s=1.0)
    assert absences.dead(0.0, present=[], watched=["a"], me="a") == []
    assert absences.dead(9.0, present=[], watched=["a"], me="a") == []
    assert absences.dead(9.0, present=[], watched=[], me="a") == []


def test_a_reset_counts_from_the_next_look() -> None:
    absences = Absences(timeout_s=5.0)
    absences.dead(0.0, present=[], watched=["b"], me="a")
    absences.reset()
    assert absences.dead(6.0, present=[], watched=["b"], me="a") == []
    assert absences.dead(11.0, present=[], watched=["b"], me="a") == ["b"]


def test_the_application_name_fits_postgresqls_63_bytes() -> None:
    assert app_name("web2") == "ccari:web2"
    long = "n" * 80
    assert app_name(long) == ("ccari:" + long)[:63]
    # A name cut inside a character keeps whole characters only.
    assert len(app_name("é" * 40).encode()) <= 63
    absences = Absences(timeout_s=1.0)  # the cut name PostgreSQL reports is the node's
    assert absences.dead(5.0, present=[app_name(long)[6:]], watched=[long], me="a") == []
