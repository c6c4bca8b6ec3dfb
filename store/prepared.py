"""Hot-path statements: peewee writes each SQL text once per dialect, then only values change.

Building a query's SQL is most of what a peewee call costs (0.19 ms of a 0.25 ms
SELECT by key, 57 of 63 us of an INSERT; measured in this repository). The
ingest path runs a dozen fixed-shape statements per mail, so each is written
once by its builder and replayed with new parameters.

A builder takes the parameters in the order peewee binds them and returns the
query. The hot writes take one typed row instead (a NamedTuple declared in peewee's
binding order, built by keyword at the call site): `execute_row(_insert_event,
EventRow(ticket=..., at=..., kind=..., detail=...))`. The first call per dialect checks that order against peewee's own: a
builder whose parameters do not line up fails loudly there, in the tests, and
never binds a value to the wrong column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import peewee

from store.db import database, is_postgres

M = TypeVar("M", bound=peewee.Model)
R = TypeVar("R", bound=tuple)
Builder = Callable[..., peewee.Query]

_sql: dict[tuple[Builder, type], str] = {}


class StatementOrderError(RuntimeError):
    """A builder's parameters are not in the order peewee binds them (a bug in the builder)."""


def sql_of(build: Builder, params: Sequence[Any], *, row: bool = False) -> str:
    key = (build, type(database.obj))
    sql = _sql.get(key)
    if sql is None:
        sql, bound = (build(params) if row else build(*params)).sql()
        if len(bound) != len(params) or not all(map(_same, bound, params)):
            # Types only: the values are mail text and must stay out of the log.
            raise StatementOrderError(f"{build.__qualname__}: peewee binds {_types(bound)}, "
                                      f"the call gave {_types(params)}")
        _sql[key] = sql
    return sql


def _same(bound: Any, given: Any) -> bool:
    # Drivers wrap blobs (psycopg2.Binary keeps the bytes in .adapted; sqlite3 a memoryview).
    return bound == given or getattr(bound, "adapted", None) == given


def _types(values: Sequence[Any]) -> str:
    return "(" + ", ".join(type(v).__name__ for v in values) + ")"


def execute(build: Builder, *params: Any) -> Any:
    """Run the statement; returns the DB-API cursor."""
    return database.execute_sql(sql_of(build, params), params)


def execute_row(build: Callable[[R], peewee.Query], row: R) -> Any:
    """Run the statement `build` makes of one typed row (a NamedTuple in binding order)."""
    return database.execute_sql(sql_of(build, row, row=True), row)


def insert_row(build: Callable[[R], peewee.Query], row: R) -> int:
    """execute_row() of an INSERT; returns the new row's id."""
    cursor = execute_row(build, row)
    return cursor.fetchone()[0] if is_postgres() else cursor.lastrowid


def rowcount(build: Builder, *params: Any) -> int:
    return execute(build, *params).rowcount


def insert(build: Builder, *params: Any) -> int:
    """Run an INSERT and return the new row's id (PostgreSQL: RETURNING, SQLite: lastrowid)."""
    cursor = execute(build, *params)
    return cursor.fetchone()[0] if is_postgres() else cursor.lastrowid


def scalar(build: Builder, *params: Any) -> Any:
    row = execute(build, *params).fetchone()
    return row[0] if row else None


def rows(build: Builder, *params: Any) -> list[tuple[Any, ...]]:
    return execute(build, *params).fetchall()


def models(model: type[M], build: Builder, *params: Any) -> list[M]:
    """Model instances from a SELECT of the model's own columns."""
    # peewee.ModelRaw, not Model.raw(): SpoolEntry and Outbox have a column named `raw`.
    return list(peewee.ModelRaw(model, sql_of(build, params), params))


def model(model: type[M], build: Builder, *params: Any) -> M | None:
    found = models(model, build, *params)
    return found[0] if found else None
