"""The few statements that differ between SQLite and PostgreSQL, each in one helper."""

from __future__ import annotations

from typing import Any, assert_never

from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignoring_conflicts(table: Table, dialect: str, **values: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the primary key: a row comes back only when this
    statement inserted it (rowcount is no help: PostgreSQL reports -1 with RETURNING)."""
    returning = list(table.primary_key.columns)
    if dialect == "sqlite":
        return sqlite.insert(table).values(**values).on_conflict_do_nothing().returning(*returning)
    if dialect == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing().returning(*returning)
    assert_never(dialect)  # type: ignore[arg-type]


_BINARY_COPY_TYPES = {
    "JSONB": "jsonb",
    "BIGINT": "int8",
    "SMALLINT": "int2",
    "BYTEA": "bytea",
    "INTEGER": "int4",
    "FLOAT": "float8",
    "DOUBLE PRECISION": "float8",
    "BOOLEAN": "bool",
    "VARCHAR": "text",  # varchar and text share one binary wire format
    "TEXT": "text",
}


def postgres_type_name(column: Column[Any]) -> str:
    """The type a binary COPY declares for a column, from the column's PostgreSQL DDL type."""
    ddl = column.type.compile(dialect=postgresql.dialect()).split("(")[0]  # type: ignore[no-untyped-call]
    try:
        return _BINARY_COPY_TYPES[ddl]
    except KeyError:
        raise TypeError(f"no binary COPY type for column {column.name} ({ddl})") from None


class _JsonTextBinaryDumper(Dumper):
    """Sends a str that already holds JSON as jsonb (version byte 1, then the text): psycopg's own jsonb
    dumper would serialise the str again, as a JSON string."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + str(obj).encode()


class _JsonText(str):
    """Only a key to register the dumper under; COPY with set_types picks dumpers by type oid."""


def register_json_text_dumper(conn: Any) -> None:
    """On this connection, binary jsonb values are taken from JSON text (used by the span writer only)."""
    dumper = type("JsonTextBinaryDumper", (_JsonTextBinaryDumper,), {"oid": conn.adapters.types["jsonb"].oid})
    conn.adapters.register_dumper(_JsonText, dumper)
