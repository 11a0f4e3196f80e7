"""Customers as CSV, both ways.  Pure: text in, specs (or the rows' errors) out.

    name,email,phones,entitlements
    Ada Lovelace,ada@example.com,+441632960001;+441632960002,broadband:gold;tv:basic

Written by the :mod:`csv` module (quoted where needed), with a header.  Safe to open in a
spreadsheet: a cell that would start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return (a formula, to a spreadsheet) is written with a leading ``'``, which spreadsheets show
as text; reading takes that quote off again, so export then import gives the same customers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from ccari.crm import schemas
from ccari.crm.schemas import CustomerSpec, Invalid

HEADER = ("name", "email", "phones", "entitlements")
FORMULA = tuple("=+-@\t\r")
MAX_ROWS = 50_000


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1
    error: str
    message: str


def guard(cell: str) -> str:
    """The cell, made inert for spreadsheets (one more leading quote before a formula)."""
    return "'" + cell if cell.lstrip("'").startswith(FORMULA) else cell


def unguard(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA) else cell


def encode(customers: Iterable[CustomerSpec]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for c in customers:
        writer.writerow([guard(c.name), guard(c.email or ""),
                         guard(";".join("+" + p for p in c.phones)),
                         guard(";".join(f"{s}:{lvl}" for s, lvl in c.entitlements))])
    return out.getvalue()


def _body(cells: list[str]) -> dict[str, object]:
    name, email, phones, ents = (unguard(c) for c in cells)
    entitlements = []
    for item in (e.strip() for e in ents.split(";")):
        if item:
            service, colon, level = item.partition(":")
            if not colon:
                raise Invalid(f"entitlements: {item!r} is not service:level",
                              error_id="bad-entitlement")
            entitlements.append({"service": service, "level": level})
    return {"name": name, "email": email,
            "phones": [p.strip() for p in phones.split(";") if p.strip()],
            "entitlements": entitlements}


def decode(text: str) -> tuple[list[tuple[int, CustomerSpec]], list[RowError]]:
    """Every row (with its row number) or every row's error; also refused: a missing or wrong
    header, a row of the wrong width, the same phone or email on two rows."""
    rows: list[tuple[int, CustomerSpec]] = []
    errors: list[RowError] = []
    try:
        records = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    except csv.Error as exc:
        return [], [RowError(0, "bad-csv", f"not CSV: {exc}")]
    if not records or tuple(c.strip().lower() for c in records[0]) != HEADER:
        return [], [RowError(1, "bad-header", "the first row must be " + ",".join(HEADER))]
    if len(records) - 1 > MAX_ROWS:
        return [], [RowError(MAX_ROWS + 2, "too-many-rows", f"at most {MAX_ROWS} rows")]
    seen: dict[str, int] = {}
    for n, cells in enumerate(records[1:], start=2):
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(cells) != len(HEADER):
            errors.append(RowError(n, "bad-row", f"{len(HEADER)} cells expected, got {len(cells)}"))
            continue
        try:
            spec = schemas.customer(_body(cells))
        except Invalid as exc:
            errors.append(RowError(n, exc.error_id, exc.message))
            continue
        keys = [f"phone +{p}" for p in spec.phones]
        keys += [f"email {spec.email.lower()}"] if spec.email else []
        again = next((k for k in keys if k in seen), None)
        if again is not None:
            errors.append(RowError(n, "duplicate-row", f"{again} is on row {seen[again]} too"))
            continue
        seen.update(dict.fromkeys(keys, n))
        rows.append((n, spec))
    return rows, errors
