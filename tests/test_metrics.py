"""The metrics page: Prometheus text, each value read when scraped."""

from __future__ import annotations

import logging

import pytest

from ccari.metrics import Metrics


def test_series_are_rendered_sorted_with_help_and_type() -> None:
    metrics, count = Metrics(), [0]
    metrics.gauge("ccari_b_up", "1 while up", lambda: 1)
    metrics.counter("ccari_a_total", "Things\nthat happened", lambda: count[0])
    count[0] = 3  # read when rendered, not when registered
    assert metrics.render() == (
        "# HELP ccari_a_total Things\\nthat happened\n# TYPE ccari_a_total counter\n"
        "ccari_a_total 3\n"
        "# HELP ccari_b_up 1 while up\n# TYPE ccari_b_up gauge\nccari_b_up 1\n"
    )


def test_floats_and_specials() -> None:
    metrics = Metrics()
    metrics.gauge("x", "x", lambda: 0.25)
    metrics.gauge("y", "y", lambda: float("inf"))
    assert "x 0.25\n" in metrics.render() and "y +Inf\n" in metrics.render()
    assert Metrics().render() == ""


def test_a_failing_reader_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    metrics.gauge("ok", "fine", lambda: 1)
    metrics.gauge("broken", "fails", lambda: 1 / 0)
    with caplog.at_level(logging.ERROR):
        text = metrics.render()
    assert "ok 1\n" in text and "broken" not in text
    assert "metric broken could not be read" in caplog.text


def test_names_are_checked() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match="ends in _total"):
        metrics.counter("ccari_restarts", "x", lambda: 0)
    metrics.gauge("g", "x", lambda: 0)
    with pytest.raises(ValueError, match="registered twice"):
        metrics.gauge("g", "x", lambda: 0)
