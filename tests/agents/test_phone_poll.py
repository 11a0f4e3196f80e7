"""How often ccari reads the agent phones' state: never slower than Asterisk learns it."""

from __future__ import annotations

import pytest

from ccari.agents.phones import poll_interval


@pytest.mark.parametrize(("qualify_s", "interval_s"), [
    (0, 10.0),  # qualify off: only registrations change, a slow read is enough
    (1, 2.0), (6, 2.0), (9, 3.0), (30, 10.0), (3600, 10.0),
])
def test_a_third_of_the_qualify_period_between_2_and_10_s(qualify_s: int, interval_s: float) -> None:
    assert poll_interval(qualify_s) == interval_s
