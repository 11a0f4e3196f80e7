"""Prepared statements for the hot path's shared commits on SQLite: SQLAlchemy's own
statement, compiled once, run at the driver's speed.

A Core ``INSERT``/``UPDATE``/``DELETE`` through ``Connection.execute`` costs about 50 µs of
Python per statement (execution context, parameter processing, result set-up), the
``sqlite3`` call under it about 10 µs; a call in the voice ACD writes about fifteen such
statements.  :class:`Prepared` compiles the statement once per set of parameter names,
converts the values with the same bind processors SQLAlchemy would use (dates, JSON), and
hands the SQL to the connection's ``sqlite3`` cursor inside the same transaction.

:class:`Query` does the same for a ``SELECT`` read in a shared commit (a contact before
it moves, a customer by phone): about 20 µs of SQLAlchemy's execution and result set-up
against 10 µs for the ``sqlite3`` call, with the values converted by the result processors
SQLAlchemy would use.  :func:`detached` makes the ORM object such a row stands for without
the ORM's constructor (17 µs of attribute events for a contact's columns; this is 1 µs).

What they do not take (another database, a statement with ``RETURNING``, or one whose
compiled form needs values the parameters do not give, such as column defaults SQLAlchemy
fills in) runs through ``Connection.execute`` as before: the fast path never changes what
is written, only how fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Select
from sqlalchemy.orm import instrumentation
from sqlalchemy.sql.dml import UpdateBase

Params = Mapping[str, Any]
T = TypeVar("T")


def _driver_speed(conn: Connection) -> bool:
    """Is ``conn`` a plain ``sqlite3`` connection (a shared commit's)?  Through aiosqlite
    (an ``AsyncSession.run_sync``) SQLAlchemy runs the statement."""
    return conn.dialect.name == "sqlite" and not conn.dialect.is_async


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
        plan = self._plan(conn, rows[0]) if _driver_speed(conn) else None
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


@dataclass(frozen=True)
class _Reading:
    plan: _Plan
    keys: tuple[str, ...]
    results: tuple[Callable[[Any], Any] | None, ...]


class Query:
    """A ``SELECT`` built once (at import), read at the driver's speed on SQLite."""

    __slots__ = ("stmt", "_reading", "_compiled")

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        self._reading: _Reading | None = None
        self._compiled = False  # the SQLite form was tried (None: SQLAlchemy reads it)

    def first(self, conn: Connection, params: Params) -> dict[str, Any] | None:
        """The first row, by column key, or None."""
        reading = self._prepare(conn) if _driver_speed(conn) else None
        if reading is None:
            row = conn.execute(self.stmt, params).first()
            return None if row is None else dict(row._mapping)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(reading.plan.sql, reading.plan.values(params))
            raw = cursor.fetchone()
        finally:
            cursor.close()
        if raw is None:
            return None
        return {k: v if f is None or v is None else f(v)
                for k, v, f in zip(reading.keys, raw, reading.results, strict=True)}

    def scalar(self, conn: Connection, params: Params) -> Any:
        """The first column of the first row, or None."""
        row = self.first(conn, params)
        return None if row is None else next(iter(row.values()))

    def _prepare(self, conn: Connection) -> _Reading | None:
        if not self._compiled:
            self._compiled = True
            self._reading = self._compile(conn)
        return self._reading

    def _compile(self, conn: Connection) -> _Reading | None:
        dialect = conn.dialect
        compiled = self.stmt.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            return None
        names = tuple(compiled.positiontup or ())
        # A value written into the statement (``where(id == 1)``, ``limit(1)``) is a
        # constant of the plan.
        constants = {n: compiled.binds[n].effective_value for n in names
                     if compiled.binds[n].value is not None}
        columns = list(self.stmt.selected_columns)
        keys = tuple(str(c.key) for c in columns if c.key)
        if len(set(keys)) != len(columns):
            return None  # a column without a key, or two with the same
        convert = tuple(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                        for n in names)
        results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None)
                        for c in columns)
        return _Reading(_Plan(compiled.string, names, convert, constants), keys, results)


def detached(cls: type[T], values: Mapping[str, Any]) -> T:
    """The ORM object of class ``cls`` holding ``values``, detached, as ``cls(**values)``
    makes it but without the constructor's attribute events (a snapshot of a row)."""
    obj: T = instrumentation.manager_of_class(cls).new_instance()
    obj.__dict__.update(values)
    return obj
