"""Spans in SQL: the batch writer (the hot path, on raw DBAPI connections) and reads (SQLAlchemy Core).

A span that carries its own trace and span ids has a unique_id derived from them: a resend is skipped,
so the first write stands. Within one batch the first of the duplicates is kept (`_first_of_each`);
against the stored spans, SQLite looks the ids up inside its write transaction (nobody else can write
then) and PostgreSQL lets ON CONFLICT skip them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
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
_COLUMN_LIST = ", ".join(_COLUMNS)


def _has_client_ids(r: SpanRecord) -> bool:
    return bool(r.trace_unique_id and r.span_unique_id)


def _first_of_each(records: Sequence[SpanRecord]) -> Sequence[SpanRecord]:
    """Drop later copies of a span resent within the same batch (only client-given ids can repeat)."""
    seen: set[str] = set()
    out: list[SpanRecord] = []
    for r in records:
        if _has_client_ids(r):
            if r.unique_id in seen:
                continue
            seen.add(r.unique_id)
        out.append(r)
    return out if len(out) != len(records) else records


def _values_sql(columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class SqliteBatchWriter:
    """Multi-row INSERTs of up to `_CHUNK` rows, with ids given by the writer.

    sqlite3 releases the GIL inside each statement and takes it back after: with executemany that is a
    GIL hand-off per row, and the request threads then wait on the writer (and it on them) thousands of
    times a commit. One statement per few hundred rows makes it a few hand-offs per commit.
    The writer numbers the spans itself (from max(id), read under the write lock), so a payload is
    stored under its span's rowid and needs no index of its own.
    """

    _CHUNK = 500  # 500 x 45 columns stays under SQLite's older 32,766 bound on bound parameters

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sql: dict[tuple[str, int], str] = {}

    def _statement(self, table: str, rows: int) -> str:
        key = (table, rows)
        sql = self._sql.get(key)
        if sql is None:
            if table == "spans":
                sql = f"INSERT INTO spans (id, {_COLUMN_LIST}) VALUES " + _values_sql(len(_COLUMNS) + 1, rows)
            elif table == "span_payloads":
                sql = "INSERT INTO span_payloads (span_id, body) VALUES " + _values_sql(2, rows)
            else:
                sql = f"SELECT unique_id FROM spans WHERE unique_id IN ({', '.join('?' * rows)})"
            self._sql[key] = sql
        return sql

    def _not_stored(self, records: Sequence[SpanRecord]) -> Sequence[SpanRecord]:
        keyed = [r.unique_id for r in records if _has_client_ids(r)]
        if not keyed:
            return records
        stored: set[str] = set()
        for chunk in _chunks(keyed, self._CHUNK):
            stored.update(row[0] for row in self._conn.execute(self._statement("lookup", len(chunk)), chunk))
        if not stored:
            return records
        return [r for r in records if r.unique_id not in stored]

    def write(self, records: Sequence[SpanRecord]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            fresh = self._not_stored(_first_of_each(records))
            next_id: int = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM spans").fetchone()[0]
            for chunk in _chunks(fresh, self._CHUNK):
                ids = range(next_id, next_id + len(chunk))
                next_id += len(chunk)
                light = list(chain.from_iterable((i, *_light_values(r)) for i, r in zip(ids, chunk, strict=True)))
                conn.execute(self._statement("spans", len(chunk)), light)
                heavy = list(chain.from_iterable((i, r.payload_json) for i, r in zip(ids, chunk, strict=True)))
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
    # The spans that were new come back from RETURNING, and only their payloads are stored.
    _move = (
        f"WITH new AS (INSERT INTO spans ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM spans_stage "
        "ON CONFLICT (unique_id) DO NOTHING RETURNING id, unique_id) "
        "INSERT INTO span_payloads (span_id, body) "
        "SELECT new.id, spans_stage.body FROM new JOIN spans_stage USING (unique_id)"
    )

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None
        self._open()

    def _open(self) -> None:
        conn = self._connect()
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS spans_stage ON COMMIT DELETE ROWS AS "
                f"SELECT {_COLUMN_LIST}, ''::text AS body FROM spans WITH NO DATA"
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
                    for r in _first_of_each(records):
                        copy.write_row((*_light_values(r), r.payload_json))
                cur.execute(self._move)
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
            .outerjoin(span_payloads, span_payloads.c.span_id == spans.c.id)
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
