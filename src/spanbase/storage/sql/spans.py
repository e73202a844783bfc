"""Spans in SQL: the batch writer (the hot path, on raw DBAPI connections) and reads (SQLAlchemy Core).

Both statements skip rows whose unique_id exists already: a span with its own trace and span ids gets a
unique_id derived from them, so a resend is ignored and the first write stands.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import Engine, select

from spanbase.domain.spans import SpanRecord
from spanbase.settings import Settings
from spanbase.storage.sql.engine import connect_postgres, connect_sqlite, database_url, is_sqlite
from spanbase.storage.sql.tables import span_payloads, spans

_RECORD_FIELDS = tuple(f for f in SpanRecord.__dataclass_fields__ if f != "payload_json")
# SpanRecord.metadata_json is the column "metadata"; every other field has its column's name.
_COLUMNS = tuple("metadata" if f == "metadata_json" else f for f in _RECORD_FIELDS)
_light_values = attrgetter(*_RECORD_FIELDS)
_payload_values = attrgetter("unique_id", "payload_json")
_COLUMN_LIST = ", ".join(_COLUMNS)


def _values_sql(columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


class SqliteBatchWriter:
    """Multi-row INSERTs of up to `_CHUNK` rows.

    sqlite3 releases the GIL inside each statement and takes it back after: with executemany that is a
    GIL hand-off per row, and the request threads then wait on the writer (and it on them) thousands of
    times a commit. One statement per few hundred rows makes it a few hand-offs per commit.
    """

    _CHUNK = 500  # 500 x 44 light columns stays under SQLite's older 32,766 bound on bound parameters

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sql: dict[tuple[str, int], str] = {}

    def _statement(self, table: str, rows: int) -> str:
        key = (table, rows)
        sql = self._sql.get(key)
        if sql is None:
            if table == "spans":
                head = f"INSERT INTO spans ({_COLUMN_LIST}) VALUES "
                sql = head + _values_sql(len(_COLUMNS), rows) + " ON CONFLICT (unique_id) DO NOTHING"
            else:
                head = "INSERT INTO span_payloads (unique_id, body) VALUES "
                sql = head + _values_sql(2, rows) + " ON CONFLICT (unique_id) DO NOTHING"
            self._sql[key] = sql
        return sql

    def write(self, records: Sequence[SpanRecord]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for i in range(0, len(records), self._CHUNK):
                chunk = records[i : i + self._CHUNK]
                light = list(chain.from_iterable(map(_light_values, chunk)))
                conn.execute(self._statement("spans", len(chunk)), light)
                heavy = list(chain.from_iterable(map(_payload_values, chunk)))
                conn.execute(self._statement("span_payloads", len(chunk)), heavy)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()


class PostgresBatchWriter:
    """COPY into a session-private staging table, then one INSERT ... SELECT ... ON CONFLICT each.

    COPY is several times faster than INSERT for thousands of rows, but cannot skip conflicts itself.
    A connection lost (a server restart, a failover) is opened again at the next write, so the writer
    thread outlives it; the batch that met the failure is reported failed, never acknowledged.
    """

    _copy = f"COPY spans_stage ({_COLUMN_LIST}, body) FROM STDIN"
    _move = (
        f"INSERT INTO spans ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM spans_stage ON CONFLICT (unique_id) DO NOTHING"
    )
    _move_payloads = (
        "INSERT INTO span_payloads (unique_id, body) SELECT unique_id, body FROM spans_stage "
        "ON CONFLICT (unique_id) DO NOTHING"
    )

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None
        self._open()

    def _open(self) -> None:
        conn = self._connect()
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS spans_stage (LIKE spans) ON COMMIT DELETE ROWS; "
                "ALTER TABLE spans_stage ADD COLUMN IF NOT EXISTS body text"
            )
        conn.commit()
        self._conn = conn

    def write(self, records: Sequence[SpanRecord]) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._open()
        conn = self._conn
        try:
            with conn.cursor() as cur:
                with cur.copy(self._copy) as copy:
                    for r in records:
                        copy.write_row((*_light_values(r), r.payload_json))
                cur.execute(self._move)
                cur.execute(self._move_payloads)
            conn.commit()
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.rollback()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class SqlSpanStore:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    def open_writer(self) -> SqliteBatchWriter | PostgresBatchWriter:
        url = database_url(self._settings)
        if is_sqlite(url):
            return SqliteBatchWriter(connect_sqlite(str(url.database), self._settings.sqlite_synchronous))
        return PostgresBatchWriter(lambda: connect_postgres(url))

    def get_span(self, org_id: int, unique_id: str) -> dict[str, Any] | None:
        query = (
            select(spans, span_payloads.c.body)
            .outerjoin(span_payloads, span_payloads.c.unique_id == spans.c.unique_id)
            .where(spans.c.org_id == org_id, spans.c.unique_id == unique_id)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        span = dict(row)
        body = span.pop("body")
        span["payload"] = orjson.loads(body) if body else {}
        return span
