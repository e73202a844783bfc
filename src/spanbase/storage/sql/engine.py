"""Database connections: one function makes every DBAPI connection, so pragmas live in one place."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import QueuePool

from spanbase.settings import Settings


def database_url(settings: Settings) -> URL:
    """The SQLAlchemy URL: SQLite in the data dir, or PostgreSQL always through psycopg 3."""
    if not settings.database_url:
        return make_url(f"sqlite:///{settings.sqlite_path}")
    raw = settings.database_url
    if raw.startswith("postgres://"):  # Heroku-style alias
        raw = "postgresql://" + raw[len("postgres://") :]
    url = make_url(raw)
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite")
    raise ValueError(f"SPANBASE_DATABASE_URL: unsupported database {url.get_backend_name()!r}")


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def connect_sqlite(path: str, synchronous: str = "FULL", cached_statements: int = 128) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a commit is exactly where we say.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=30.0, cached_statements=cached_statements
    )
    # 16 KiB pages hold a whole ~5 KB span payload without overflow pages: measured 40 -> 17 us per
    # payload row written. Takes effect only when the file is created (before WAL mode is set).
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    # Checkpoint every 128 MiB of WAL rather than 16 MiB: an index page changed by many commits is then
    # copied into the database file once, not once per commit.
    conn.execute("PRAGMA wal_autocheckpoint=8192")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")  # the CLI may write keys while the server runs
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def connect_postgres(url: URL) -> psycopg.Connection[Any]:
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo)


def raw_connect(settings: Settings) -> Any:
    """A new DBAPI connection of the configured store (the span writer keeps one of its own)."""
    url = database_url(settings)
    if is_sqlite(url):
        return connect_sqlite(str(url.database), settings.sqlite_synchronous)
    return connect_postgres(url)


# A SQLite connection reads the planner's statistics once, when it opens: pooled readers kept planning
# with those of a nearly empty table after the writer's ANALYZE (a thread's 50 spans read through the
# time index: 8 ms or 400 ms, by connection). Each ANALYZE moves this on, and a reader checked out
# after one is replaced by a new connection, which reads them afresh (0.8 ms median to open and
# query, measured on a 200k-span file). Not `ANALYZE sqlite_schema`, which reloads them in place but
# takes the write lock: under steady ingest a reader then waited for the writer's commits, up to the
# busy timeout, before its first query.
_statistics_epoch = 0


def statistics_changed() -> None:
    global _statistics_epoch
    _statistics_epoch += 1


def make_engine(settings: Settings) -> Engine:
    url = database_url(settings)
    if is_sqlite(url):
        path = str(url.database)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            creator=lambda: connect_sqlite(path, settings.sqlite_synchronous),
            poolclass=QueuePool,
            pool_size=4,
            max_overflow=8,
        )

        # pysqlite's own transaction handling is off (isolation_level=None); let SQLAlchemy say BEGIN.
        # IMMEDIATE takes the write lock at once, for transactions that read then write (migrations).
        @event.listens_for(engine, "connect")
        def _connected(_: sqlite3.Connection, record: Any) -> None:
            record.info["statistics"] = _statistics_epoch

        @event.listens_for(engine, "checkout")
        def _fresh_statistics(_dbapi_conn: sqlite3.Connection, record: Any, _proxy: Any) -> None:
            if record.info.get("statistics") != _statistics_epoch:
                # The pool closes this connection and checks out a new one (whose connect event
                # records the epoch it opened at).
                raise DisconnectionError("planner statistics changed: reopen")

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # JSONB comes back through orjson rather than the standard library's json: a list page decodes the
    # metadata of each of its rows.
    return create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True, json_deserializer=orjson.loads)
