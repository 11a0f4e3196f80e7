"""A stored time as seconds since the epoch, computed by the database: ``epoch(column)``.

A restart reads 100,000 contacts' times to rebuild the router, which only wants seconds.
Letting the database compute them spares a ``datetime`` per value (SQLite stores text, which
SQLAlchemy parses with a regular expression) and its ``timestamp()``.

The value is exactly ``column_value.timestamp()``: both compute the whole number of
microseconds, then divide it by a million once (a correctly rounded division on both sides).
``NULL`` stays ``NULL``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class epoch(FunctionElement[float]):  # noqa: N801 (used like a SQL function)
    """Seconds since 1970-01-01 UTC of a ``UTCDateTime`` column, as a float."""

    type = Float()
    inherit_cache = True
    name = "epoch"

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)


@compiles(epoch)
def _default(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL: EXTRACT gives an exact numeric (microseconds included).
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS FLOAT)"


@compiles(epoch, "sqlite")
def _sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff' (the fraction may be absent):
    # whole seconds from strftime on the text without its fraction (SQLite would round
    # .9995 and more up to the next second), the microseconds from the text, divided once.
    col = compiler.process(element.clauses, **kw)
    return (f"((CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) * 1000000 "
            f"+ CAST(substr({col}, 21, 6) AS INTEGER)) / 1000000.0)")
