"""A report as JSON and as CSV (the stdlib ``csv`` module, RFC 4180 with CRLF line ends)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

from ccari.reports.intervals import STATES, Row
from ccari.reports.services import Report

COLUMNS = ("start", "end", "key", "name", "offered", "answered", "abandoned", "service_level",
           "asa_s", "abandon_avg_wait_s", "abandon_max_wait_s", "handled", "talk_s", "hold_s",
           "wrap_s", "handle_s", "aht_s", "transfers", "occupancy",
           *(f"{s}_s" for s in STATES))


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _iso(ts: float, zone: str) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(zone)).isoformat()


def row_json(r: Row, report: Report) -> dict[str, Any]:
    waits = r.abandon_waits_s
    out: dict[str, Any] = {
        "start": _iso(r.start, report.zone), "end": _iso(r.end, report.zone), "key": r.key,
        "name": report.names.get(int(r.key), r.key) if report.by == "agent" else r.key,
        "offered": r.offered, "answered": r.answered, "abandoned": r.abandoned,
        "service_level": _r(r.service_level), "asa_s": _r(r.asa_s),
        "abandon_waits_s": [_r(w) for w in sorted(waits)],
        "abandon_avg_wait_s": _r(sum(waits) / len(waits)) if waits else None,
        "abandon_max_wait_s": _r(max(waits)) if waits else None,
        "handled": r.handled, "talk_s": _r(r.talk_s), "hold_s": _r(r.hold_s),
        "wrap_s": _r(r.wrap_s), "handle_s": _r(r.handle_s), "aht_s": _r(r.aht_s),
        "transfers": r.transfers,
    }
    if report.by == "agent":
        out["occupancy"] = _r(r.occupancy)
        out["states_s"] = {s: _r(v) for s, v in r.states_s.items()}
    return out


def as_json(report: Report) -> dict[str, Any]:
    return {
        "tenant": report.tenant.slug, "by": report.by, "time_zone": report.zone,
        "service_level_s": report.threshold_s,
        "from": _iso(report.grid.starts[0], report.zone),
        "to": _iso(report.grid.end, report.zone),
        "rows": [row_json(r, report) for r in report.rows],
    }


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in report.rows:
        data = row_json(r, report)
        for state, seconds in data.pop("states_s", {}).items():
            data[f"{state}_s"] = seconds
        writer.writerow(["" if data.get(c) is None else data[c] for c in COLUMNS])
    return out.getvalue()
