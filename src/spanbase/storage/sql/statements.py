"""Many rows in few statements, the fast way each database takes them; used by the span writer.

SQLite takes multi-row VALUES lists: bound parameters cost little there, and a statement of a few
hundred rows is parsed once and cached (row counts are powers of two, see `chunks`). PostgreSQL plans
a statement of ten thousand parameters slowly (one batch of trace rows took 150 us a span that way),
so there every column travels as one array and `unnest` turns the arrays back into rows: one short
statement per table whatever the row count, prepared once by psycopg.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Table

from spanbase.storage.sql.dialects import postgres_type_name

Execute = Callable[[str, Sequence[Any]], Any]  # a cursor's execute(sql, params) -> iterable rows
Row = Sequence[Any]


def rows_per_statement(width: int, cap: int = 1 << 14) -> int:
    """The most rows of `width` parameters one statement takes: a power of two (see chunks), under
    SQLite's 32,766 bound parameters."""
    return 1 << (min(cap, 32_000 // width).bit_length() - 1)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Slices of `size` items (a power of two), then of powers of two: 4000 by 1024 is 1024 x 3, 512,
    256, 128, 64, 32.

    Each slice is one statement, and each statement costs the writer thread a hand-off of the GIL to
    the request threads and back (sqlite3 releases it while SQLite runs), up to a switch interval each:
    the fewer statements a commit takes, the better. And a statement is prepared once per row count and
    cached: with any count allowed, nearly every commit met new ones, and parsing them took a tenth of the
    writer's time. Powers of two give both: few statements, from a dozen row counts.
    """
    i, n = 0, len(items)
    while i < n:
        step = 1 << (min(n - i, size).bit_length() - 1)
        yield items[i : i + step]
        i += step


def columns_of(table: Table, names: Sequence[str]) -> list[Column[Any]]:
    return [table.c[name] for name in names]


class Sql:
    """The spellings that differ, and how rows travel. Subclasses: SQLite and PostgreSQL."""

    param: str
    least: str  # min of two values
    greatest: str

    def __init__(self) -> None:
        self._text: dict[tuple[str, int], str] = {}

    def _cached(self, key: str, n: int, build: Callable[[int], str]) -> str:
        text = self._text.get((key, n))
        if text is None:
            text = self._text[(key, n)] = build(n)
        return text

    def insert(self, tx: Any, table: Table, names: Sequence[str], rows: Sequence[Row], on_conflict: str = "") -> None:
        """Insert rows of the named columns, each clashing one handled by `on_conflict` (an ON CONFLICT
        clause, which may name the table and `excluded`). `tx` runs the statements: it has `execute`
        (and, on PostgreSQL, `copy`)."""
        raise NotImplementedError

    def select_keys(
        self, execute: Execute, select: str, on: str, columns: Sequence[Column[Any]], keys: Sequence[Row]
    ) -> list[Row]:
        """`SELECT {select} FROM <keys as k(k0, k1, ...)> JOIN {on}`: the rows of a table for these keys."""
        raise NotImplementedError

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column` is one of `values`, and the parameters for it."""
        raise NotImplementedError


class SqliteSql(Sql):
    param, least, greatest = "?", "min", "max"

    def _rows(self, width: int, n: int) -> str:
        row = "(" + ", ".join(["?"] * width) + ")"
        return ", ".join([row] * n)

    def insert(self, tx: Any, table: Table, names: Sequence[str], rows: Sequence[Row], on_conflict: str = "") -> None:
        width = len(names)
        head = f"INSERT INTO {table.name} ({', '.join(names)})"

        def build(n: int) -> str:
            return f"{head} VALUES {self._rows(width, n)} {on_conflict}"

        for chunk in chunks(rows, rows_per_statement(width)):
            tx.execute(self._cached(head + on_conflict, len(chunk), build), [v for row in chunk for v in row])

    def select_keys(
        self, execute: Execute, select: str, on: str, columns: Sequence[Column[Any]], keys: Sequence[Row]
    ) -> list[Row]:
        # A join with the keys as a VALUES list, not a row-value IN list: SQLite scans the whole table for
        # `(a, b, ...) IN (VALUES ...)`, and probes the primary key once per key for the join.
        width = len(columns)
        names = ", ".join(f"k{i}" for i in range(width))
        out: list[Row] = []
        for chunk in chunks(keys, rows_per_statement(width)):
            text = self._cached(
                select + on,
                len(chunk),
                lambda n: f"WITH k({names}) AS (VALUES {self._rows(width, n)}) SELECT {select} FROM k JOIN {on}",
            )
            out.extend(execute(text, [v for row in chunk for v in row]))
        return out

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join(['?'] * len(values))})", list(values)


def _array_type(column: Column[Any]) -> str:
    return postgres_type_name(column) + "[]"


class PostgresSql(Sql):
    param, least, greatest = "%s", "LEAST", "GREATEST"

    def _unnest(self, columns: Sequence[Column[Any]]) -> str:
        return "unnest(" + ", ".join(f"%s::{_array_type(c)}" for c in columns) + ")"

    def insert(self, tx: Any, table: Table, names: Sequence[str], rows: Sequence[Row], on_conflict: str = "") -> None:
        # Binary COPY: a third of the client's time of an unnest INSERT (whose arrays psycopg builds in
        # Python) for a thousand trace rows. Rows that may clash go through a temporary table first.
        if not rows:
            return
        columns = ", ".join(names)
        target = table.name
        if on_conflict:
            # A temporary table lives as long as its connection (a new one after a reconnect has none).
            target = f"stage_{table.name}_{len(names)}"
            tx.execute(f"CREATE TEMP TABLE IF NOT EXISTS {target} AS SELECT {columns} FROM {table.name} WITH NO DATA")
            tx.execute(f"TRUNCATE {target}")
        with tx.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([postgres_type_name(table.c[name]) for name in names])
            for row in rows:
                copy.write_row(row)
        if on_conflict:
            tx.execute(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {target} {on_conflict}")

    def select_keys(
        self, execute: Execute, select: str, on: str, columns: Sequence[Column[Any]], keys: Sequence[Row]
    ) -> list[Row]:
        if not keys:
            return []
        names = ", ".join(f"k{i}" for i in range(len(columns)))
        text = f"SELECT {select} FROM {self._unnest(columns)} AS k({names}) JOIN {on}"
        return list(execute(text, [list(col) for col in zip(*keys, strict=True)]))

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(values)]


SQLITE = SqliteSql()
POSTGRES = PostgresSql()
