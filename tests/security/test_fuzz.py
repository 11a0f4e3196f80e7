"""The fuzzing run in a bounded form: every route of both listeners, every credential."""

from __future__ import annotations

import pytest

from bench import fuzz


@pytest.mark.timeout(300)
def test_fuzzing_every_route_finds_no_server_error_and_no_schema_violation() -> None:
    # Bounded by the requests; the time bound is only a safety net (a loaded box sends
    # them more slowly, and the test is about what the answers are, not how fast).
    out = fuzz.run(1500, seconds=240.0, seed=20240601, log=lambda _line: None)
    assert out["requests"] >= 1500
    assert out["routes"] == out["operations"]  # every documented operation was reached
    assert out["server_errors"] == [], "\n".join(out["server_errors"])
    assert out["violations"] == [], "\n".join(out["violations"])
