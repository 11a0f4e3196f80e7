"""Prepared writes for the hot path's shared commits on SQLite: SQLAlchemy's own statement,
compiled once, run at the driver's speed.

A Core ``INSERT``/``UPDATE``/``DELETE`` through ``Connection.execute`` costs about 50 µs of
Python per statement (execution context, parameter processing, result set-up), the
``sqlite3`` call under it about 10 µs; a call in the voice ACD writes about fifteen such
statements.  :class:`Prepared` compiles the statement once per set of parameter names,
converts the values with the same bind processors SQLAlchemy would use (dates, JSON), and
hands the SQL to the connection's ``sqlite3`` cursor inside the same transaction.

What it does not take (another database, a statement with ``RETURNING``, or one whose
compiled form needs values the parameters do not give, such as column defaults SQLAlchemy
fills in) runs through ``Connection.execute`` as before: the fast path never changes what
is written, only how fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult
from sqlalchemy.sql.dml import UpdateBase

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Written:
    """What a write reports: the rows it changed (-1 when the database does not say, as
    PostgreSQL for several rows), and the new row's id for an insert of one row."""

    rowcount: int
    lastrowid: int | None = None


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    convert: tuple[Callable[[Any], Any] | None, ...]
    constants: dict[str, Any]

    def values(self, row: Params) -> tuple[Any, ...]:
        if self.constants:
            row = {**self.constants, **row}
        return tuple(row[n] if f is None else f(row[n])
                     for n, f in zip(self.names, self.convert, strict=True))


class Prepared:
    """A write statement built once (at import), with its compiled forms for SQLite."""

    __slots__ = ("stmt", "_plans")

    def __init__(self, stmt: UpdateBase) -> None:
        self.stmt = stmt
        self._plans: dict[frozenset[str], _Plan | None] = {}  # None: SQLAlchemy runs it

    def execute(self, conn: Connection, params: Params | Sequence[Params]) -> Written:
        """Run it with ``params`` (one mapping, or several with the same keys)."""
        many = not isinstance(params, Mapping)
        rows: Sequence[Params] = params if many else [params]  # type: ignore[assignment,list-item]
        if not rows:
            return Written(0)
        plan = self._plan(conn, rows[0]) if conn.dialect.name == "sqlite" else None
        if plan is None:
            result: CursorResult[Any] = conn.execute(self.stmt, list(rows) if many else rows[0])
            key = None
            if not many and self.stmt.is_insert and result.inserted_primary_key:
                key = result.inserted_primary_key[0]
            return Written(int(result.rowcount or 0), key)
        values = [plan.values(row) for row in rows]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if len(values) == 1:
                cursor.execute(plan.sql, values[0])
            else:
                cursor.executemany(plan.sql, values)
            return Written(cursor.rowcount, cursor.lastrowid)
        finally:
            cursor.close()

    def _plan(self, conn: Connection, row: Params) -> _Plan | None:
        key = frozenset(row)
        if key not in self._plans:
            self._plans[key] = self._compile(conn, row)
        return self._plans[key]

    def _compile(self, conn: Connection, row: Params) -> _Plan | None:
        if self.stmt._returning:
            return None
        dialect = conn.dialect
        compiled = self.stmt.compile(dialect=dialect, column_keys=sorted(row))
        names = tuple(compiled.positiontup or ())
        # Values SQLAlchemy computes at execution (column defaults, onupdate) or renders
        # some other way: left to SQLAlchemy.  A value written into the statement itself
        # (``where(id == 1)``) is a constant of the plan.
        if (compiled.insert_prefetch or compiled.update_prefetch
                or compiled.literal_execute_params or compiled.post_compile_params):
            return None
        constants = {n: compiled.binds[n].effective_value for n in names if n not in row}
        convert = tuple(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                        for n in names)
        return _Plan(compiled.string, names, convert, constants)
