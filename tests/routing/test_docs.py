"""The worked example of the package docstring runs as written."""

from __future__ import annotations

import doctest

import ccari.routing


def test_worked_example() -> None:
    result = doctest.testmod(ccari.routing, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5
    assert result.failed == 0
