"""The few statements that differ between SQLite and PostgreSQL, each in one helper."""

from __future__ import annotations

from typing import Any, assert_never

from sqlalchemy import Table
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
