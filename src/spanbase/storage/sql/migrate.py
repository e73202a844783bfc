"""Run the Alembic migrations to head; called at every start of the server and of the CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Two processes may start at once (a server and a CLI command): one migrates, the other waits.
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7305510)"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
