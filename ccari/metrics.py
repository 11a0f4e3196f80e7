"""Process metrics in the Prometheus text format (``GET /metrics`` on the internal listener).

Each series is registered once by the composition root with a function that reads its
value when the page is scraped: the counts stay with their owners (the PBX watch, the ARI
client) and nothing here holds state of its own but the list of series.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Series:
    name: str
    kind: str  # "counter" or "gauge"
    help: str
    read: Callable[[], float]


class Metrics:
    def __init__(self) -> None:
        self._series: dict[str, Series] = {}

    def counter(self, name: str, help: str, read: Callable[[], float]) -> None:
        """A count that only goes up (its name ends in ``_total``)."""
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r}: a counter's name ends in _total")
        self._add(Series(name, "counter", help, read))

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        """A value that goes up and down (1/0 for a yes/no state)."""
        self._add(Series(name, "gauge", help, read))

    def _add(self, series: Series) -> None:
        if series.name in self._series:
            raise ValueError(f"metric {series.name!r} registered twice")
        self._series[series.name] = series

    def render(self) -> str:
        """Every series, sorted by name; one whose reader fails is left out (and logged)."""
        lines: list[str] = []
        for s in sorted(self._series.values(), key=lambda s: s.name):
            try:
                value = float(s.read())
            except Exception:
                log.exception("metric %s could not be read", s.name)
                continue
            help_text = s.help.replace("\\", "\\\\").replace("\n", "\\n")
            lines += [f"# HELP {s.name} {help_text}", f"# TYPE {s.name} {s.kind}",
                      f"{s.name} {_number(value)}"]
        return "\n".join(lines) + "\n" if lines else ""


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() else repr(value)
