"""The few statements that differ between SQLite and PostgreSQL, each in one helper."""

from __future__ import annotations

from typing import Any, assert_never

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignoring_conflicts(table: Table, dialect: str, **values: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING: concurrent creators of the same row do not fail."""
    if dialect == "sqlite":
        return sqlite.insert(table).values(**values).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing()
    assert_never(dialect)  # type: ignore[arg-type]
