"""Alembic environment: always run by spanbase itself with a live connection (see migrate.py)."""

from __future__ import annotations

from alembic import context

from spanbase.storage.sql.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
