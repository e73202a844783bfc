"""Spans in SQL: the batch writer (the hot path, on raw DBAPI connections) and reads (SQLAlchemy Core).

The writer numbers the spans (the row id is inside each unique_id, see domain.spans.make_unique_id) and
keeps a resend from being stored twice: a span that carries its own trace and span ids is looked up by
them inside the write transaction, in its trace (found by the trace row, which gives the days to look
in); when it is stored already it gets the stored span's unique_id and is not written again, so the
first write stands.
Nobody else writes during that transaction: SQLite has one writer, and on PostgreSQL the writers of all
server processes take the same advisory lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import chain
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import Engine

from spanbase.domain.spans import SpanRecord, make_unique_id, row_id_of, trace_key
from spanbase.settings import Settings
from spanbase.storage.sql.derived import (
    Derived,
    DerivedWriter,
    EntityKey,
    StoredTrace,
    StoredTraces,
    derive,
    derive_portable,
    metadata_of,
    tags_of,
)
from spanbase.storage.sql.dialects import postgres_type_name, register_json_text_dumper
from spanbase.storage.sql.engine import (
    connect_postgres,
    connect_sqlite,
    database_url,
    is_sqlite,
    statistics_changed,
)
from spanbase.storage.sql.reads import MAX_LISTED_DAYS
from spanbase.storage.sql.statements import POSTGRES, SQLITE, Execute, Sql, chunks, rows_per_statement
from spanbase.storage.sql.tables import spans

_RECORD_FIELDS = tuple(f for f in SpanRecord.__dataclass_fields__ if f not in ("payload_json", "tags"))
# SpanRecord.metadata_json is the column "metadata"; every other field has its column's name.
_COLUMNS = tuple("metadata" if f == "metadata_json" else f for f in _RECORD_FIELDS)
_light_values = attrgetter(*_RECORD_FIELDS)
_COLUMN_LIST = ", ".join(_COLUMNS)
_SPAN_COPY_TYPES = [postgres_type_name(spans.c.id), *(postgres_type_name(spans.c[name]) for name in _COLUMNS)]
# Rows per multi-row INSERT of spans (under SQLite's 32,766 bound parameters), trace ids per lookup.
_SPAN_ROWS = rows_per_statement(len(_COLUMNS) + 1)
_CHUNK = 512

# (org_id, environment, trace_unique_id, span_unique_id): what makes a client-identified span the same.
ClientKey = tuple[int, str, str, str]


def _client_key(r: SpanRecord) -> ClientKey | None:
    if r.trace_unique_id and r.span_unique_id:
        return (r.org_id, r.environment, r.trace_unique_id, r.span_unique_id)
    return None


def _keys(traces: Sequence[str]) -> list[int]:
    return [trace_key(t) for t in traces]


def _trace_keys(records: Iterable[SpanRecord]) -> set[EntityKey]:
    return {(r.org_id, r.environment, r.trace_unique_id) for r in records if r.trace_unique_id}


class _Plan:
    """Which records of a batch to insert, and which are resends (of a stored span or of an earlier
    record of the same batch) that only take over an existing unique_id.

    `stored` maps client keys already in the store to their unique_ids (found through the trace rows).
    """

    def __init__(self, records: Sequence[SpanRecord], stored: dict[ClientKey, str]) -> None:
        self.new: list[SpanRecord] = []
        self._copies: list[tuple[SpanRecord, SpanRecord]] = []
        first: dict[ClientKey, SpanRecord] = {}
        for r in records:
            key = _client_key(r)
            if key is None:
                self.new.append(r)
            elif key in stored:
                r.unique_id = stored[key]
            elif key in first:
                self._copies.append((r, first[key]))
            else:
                first[key] = r
                self.new.append(r)

    def number(self, ids: Sequence[int]) -> None:
        """Give the new records their unique_ids (from their row ids), and the copies their original's."""
        # One read of the system's random source for the whole batch (a call per span measured 4% of
        # the writer's time).
        tags = os.urandom(8 * len(self.new))
        for n, (i, r) in enumerate(zip(ids, self.new, strict=True)):
            r.unique_id = make_unique_id(i, int.from_bytes(tags[8 * n : 8 * n + 8]))
        for copy, original in self._copies:
            copy.unique_id = original.unique_id


def _values_sql(columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


# Light columns of spans as a SELECT list, in SpanRecord order (after the id): deleting spans reads
# them back to take them out of the derived tables.
_SELECT_LIGHT = ", ".join(("id", *_COLUMNS))


def _record(row: Sequence[Any]) -> tuple[int, SpanRecord]:
    values = dict(zip(_RECORD_FIELDS, row[1:], strict=True))
    metadata = values["metadata_json"]
    if not isinstance(metadata, str):  # JSONB comes back decoded
        values["metadata_json"] = orjson.dumps(metadata).decode()
    return int(row[0]), SpanRecord(**values, payload_json="")


def prepare(records: Sequence[SpanRecord]) -> Derived:
    """What these spans add to the derived tables: computed by the request, before it queues them, so
    the writer thread (the one that cannot be parallel) only merges a few rows per request."""
    return derive(records)


def _derived_of(records: Sequence[SpanRecord], plan: _Plan, prepared: Sequence[object]) -> Derived:
    """The derived rows of the spans a transaction inserts: the requests' own, merged, when every span
    is new; computed again from the new spans when some were resends, which add nothing."""
    if len(plan.new) != len(records) or not prepared or not all(isinstance(p, Derived) for p in prepared):
        return derive(plan.new)
    merged = Derived()
    for p in prepared:
        merged.merge(p)  # type: ignore[arg-type]  # checked above
    return merged


def spans_of_traces(
    sql: Sql, columns: str, days: Sequence[tuple[int, int]], keys: Sequence[int]
) -> tuple[str, list[Any]]:
    """Spans of some trace keys on the days of the traces (first and last day of each), and the
    parameters: ix_spans_trace searched day by day, or over one range of days for traces spanning
    longer than MAX_LISTED_DAYS. The columns start with org_id, environment and trace_unique_id, which
    the caller checks (see tables.py, ix_spans_trace)."""
    first, last = min(d[0] for d in days), max(d[1] for d in days)
    listed: set[int] = set()
    for a, b in days:
        if b - a >= MAX_LISTED_DAYS or len(listed) >= MAX_LISTED_DAYS:
            listed.clear()
            break
        listed.update(range(a, b + 1))
    if listed:
        on_days, day_params = sql.any_of("day", sorted(listed))
    else:
        on_days, day_params = f"day BETWEEN {sql.param} AND {sql.param}", [first, last]
    of_keys, key_params = sql.any_of("trace_key", keys)
    text = f"SELECT org_id, environment, trace_unique_id, {columns} FROM spans WHERE {on_days} AND {of_keys}"
    return text, [*day_params, *key_params]


def _days(traces: Iterable[StoredTrace]) -> list[tuple[int, int]]:
    return [(t.delta.first_day, t.delta.last_day) for t in traces]


class _Writer:
    """What the SQLite and PostgreSQL writers share: the steps of a write around the insert itself,
    deleting traces, patching spans, planner statistics.

    Subclasses give a transaction (`_transaction`), the dialect's SQL spellings (`_sql`), new row ids
    and the insert of new spans (`_insert`). Every public method is one transaction, on the writer's thread.
    """

    _sql: Sql
    _derived: DerivedWriter
    # Planner statistics go stale as a table grows, and spans arrive in time order, so the newest days
    # are always past what the last ANALYZE saw: PostgreSQL then estimated a day's spans at one row and
    # picked any index that leads with the day (a trace's 5 spans read through the cost index: 18 ms, not
    # 0.1). Statistics are refreshed whenever the spans written since the last refresh are as many as
    # there were then, and at most a minute apart while spans keep coming (autovacuum may be off, as on
    # the machines this was measured on).
    _ANALYZE_FIRST = 2_000
    _ANALYZE_EVERY_S = 60.0
    _analyzed_rows = 0
    _analyzed_at = 0.0
    _written = 0

    def _transaction(self) -> AbstractContextManager[Any]:
        """A transaction; yields what runs its statements (an object with `execute`)."""
        raise NotImplementedError

    def _analyze(self, execute: Execute) -> None:
        raise NotImplementedError

    def _new_ids(self, tx: Any, n: int) -> Sequence[int]:
        raise NotImplementedError

    def _insert(self, tx: Any, ids: Sequence[int], records: Sequence[SpanRecord], derived: Derived) -> None:
        """Insert the new spans, their payloads and their metadata tags."""
        raise NotImplementedError

    def write(self, records: Sequence[SpanRecord], prepared: Sequence[object] = ()) -> None:
        with self._transaction() as tx:
            stored = self._derived.load_traces(tx.execute, _trace_keys(records))
            plan = _Plan(records, self._stored_spans(tx.execute, records, stored))
            ids = self._new_ids(tx, len(plan.new))
            plan.number(ids)
            derived = _derived_of(records, plan, prepared)
            if plan.new:
                self._insert(tx, ids, plan.new, derived)
            self._derived.add(tx, derived, stored)
        self.count_written(len(plan.new))

    def _stored_spans(
        self, execute: Execute, records: Sequence[SpanRecord], stored: StoredTraces
    ) -> dict[ClientKey, str]:
        """The client keys of these records already stored: looked up only in traces that exist, on
        their days (a resend carries the same times, so the same day)."""
        wanted: dict[tuple[int, str], set[str]] = defaultdict(set)
        for r in records:
            if r.trace_unique_id and r.span_unique_id and (r.org_id, r.environment, r.trace_unique_id) in stored:
                wanted[(r.org_id, r.environment)].add(r.trace_unique_id)
        found: dict[ClientKey, str] = {}
        for (org, env), traces in wanted.items():
            for chunk in chunks(sorted(traces), _CHUNK):
                days = _days(stored[(org, env, t)] for t in chunk)
                sql, params = spans_of_traces(self._sql, "span_unique_id, unique_id", days, _keys(chunk))
                names = set(chunk)
                for row_org, row_env, trace, span, unique_id in execute(sql, params):
                    if row_org == org and row_env == env and trace in names and span is not None:
                        found.setdefault((org, env, trace, span), unique_id)
        return found

    def count_written(self, n: int) -> None:
        self._written += n
        if self._written < self._ANALYZE_FIRST:
            return
        stale = time.monotonic() - self._analyzed_at >= self._ANALYZE_EVERY_S
        if stale or self._written >= self._analyzed_rows:
            with self._transaction() as tx:
                # The highest row id stands for the size (a count(*) scanned the table: 6% of the writer).
                rows = next(iter(tx.execute("SELECT coalesce(max(id), 0) FROM spans", ())))[0]
                self._analyze(tx.execute)
            statistics_changed()  # after the commit: readers reload the new statistics
            self._analyzed_rows = int(rows)
            self._analyzed_at = time.monotonic()
            self._written = 0

    def delete_traces(self, org_id: int, environments: Sequence[str], trace_ids: Sequence[str]) -> int:
        """Delete whole traces with everything derived from their spans; how many traces there were."""
        deleted = 0
        with self._transaction() as tx:
            execute = tx.execute
            keys_of = [(org_id, env, t) for env in environments for t in set(trace_ids)]
            stored = self._derived.load_traces(execute, keys_of)
            for (_, env), traces in _by_scope(stored).items():
                for chunk in chunks(sorted(traces), _CHUNK):
                    days = _days(stored[(org_id, env, t)] for t in chunk)
                    rows = execute(*spans_of_traces(self._sql, _SELECT_LIGHT, days, _keys(chunk)))
                    names = set(chunk)
                    spans = [_record(row[3:]) for row in rows if row[0] == org_id and row[1] == env and row[2] in names]
                    self._delete_spans(tx, spans)
                    ids = [stored[(org_id, env, t)].id for t in chunk]
                    execute(*self._in("DELETE FROM traces WHERE {}", "id", ids))
                    deleted += len(ids)
        return deleted

    def _delete_spans(self, tx: Any, spans: Sequence[tuple[int, SpanRecord]]) -> None:
        """Delete spans, their payloads and tags, and take them out of threads, customers and rollups."""
        execute = tx.execute
        p = self._sql.param
        derived = derive(r for _, r in spans)
        for tag_chunk in chunks(derived.tag_rows(), _CHUNK):
            where = " OR ".join([f"(tag = {p} AND timestamp_us = {p} AND span_id = {p})"] * len(tag_chunk))
            execute(f"DELETE FROM span_tags WHERE {where}", [v for row in tag_chunk for v in row])
        self._derived.count_tags(tx, derived.tag_rows(), -1)
        for id_chunk in chunks([span_id for span_id, _ in spans], _CHUNK):
            execute(*self._in("DELETE FROM span_payloads WHERE {}", "span_id", id_chunk))
            execute(*self._in("DELETE FROM spans WHERE {}", "id", id_chunk))
        self._derived.merge_rollups(tx, derived.rollups, -1)
        self._derived.subtract_entities(execute, derived)

    def patch_span(
        self,
        org_id: int,
        environments: Sequence[str],
        unique_id: str,
        columns: dict[str, Any],
        metadata: dict[str, str] | None,
    ) -> bool:
        """Set some columns of one span and merge metadata into its own; False when there is no such span."""
        row_id = row_id_of(unique_id)
        if row_id is None:
            return False
        p = self._sql.param
        with self._transaction() as tx:
            execute = tx.execute
            found = list(
                execute(
                    f"SELECT {_SELECT_LIGHT} FROM spans WHERE id = {p} AND unique_id = {p} AND org_id = {p}",
                    [row_id, unique_id, org_id],
                )
            )
            if not found:
                return False
            span_id, record = _record(found[0])
            if record.environment not in environments:
                return False
            sets = dict(columns)
            if metadata:
                before = set(tags_of(record))
                merged = {**metadata_of(record), **metadata}
                record.metadata_json = orjson.dumps(merged).decode()
                after = set(tags_of(record))
                for tag in before - after:
                    execute(
                        f"DELETE FROM span_tags WHERE tag = {p} AND timestamp_us = {p} AND span_id = {p}",
                        [tag, record.timestamp_us, span_id],
                    )
                self._derived.count_tags(tx, [(t, record.timestamp_us, span_id) for t in before - after], -1)
                self._derived.insert_tags(tx, [(t, record.timestamp_us, span_id) for t in after - before])
                sets["metadata"] = record.metadata_json
            if sets:
                assignments = ", ".join(f"{name} = {self._json_param() if name == 'metadata' else p}" for name in sets)
                execute(f"UPDATE spans SET {assignments} WHERE id = {p}", [*sets.values(), span_id])
        return True

    def _json_param(self) -> str:
        return self._sql.param

    def _in(self, template: str, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        where, params = self._sql.any_of(column, values)
        return template.format(where), params


def rebuild_derived(dbapi_connection: Any, dialect: str, chunk: int = 2000) -> int:
    """Derive the read path's rows (tags, traces, threads, customers, rollups) of spans stored without
    them (before migration 0002), inside the caller's transaction; how many spans there were."""
    sql = SQLITE if dialect == "sqlite" else POSTGRES
    derived_writer = DerivedWriter(sql, trace_key)
    cursor = dbapi_connection.cursor()
    last, done = 0, 0
    while True:
        cursor.execute(f"SELECT {_SELECT_LIGHT} FROM spans WHERE id > {sql.param} ORDER BY id LIMIT {chunk}", (last,))
        records = [r for _, r in map(_record, cursor.fetchall())]
        if not records:
            return done
        last = row_id_of(records[-1].unique_id) or last
        derived = derive(records)
        derived_writer.insert_tags(cursor, derived.tag_rows())
        derived_writer.add(cursor, derived, derived_writer.load_traces(cursor.execute, _trace_keys(records)))
        done += len(records)


def _by_scope(stored: StoredTraces) -> dict[tuple[int, str], list[str]]:
    out: dict[tuple[int, str], list[str]] = defaultdict(list)
    for org, env, trace in stored:
        out[(org, env)].append(trace)
    return out


class SqliteBatchWriter(_Writer):
    """Multi-row INSERTs of up to _CHUNK rows, numbered from max(id) + 1 read under the write lock.

    sqlite3 releases the GIL inside each statement and takes it back after: with executemany that is a
    GIL hand-off per row, and the request threads then wait on the writer (and it on them) thousands of
    times a commit. One statement per few hundred rows makes it a few hand-offs per commit.
    A payload is stored under its span's id, the payload table's rowid: it needs no index of its own.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sql_text: dict[tuple[str, int], str] = {}
        self._sql = SQLITE
        self._derived = DerivedWriter(SQLITE, trace_key)

    def _statement(self, table: str, rows: int) -> str:
        key = (table, rows)
        sql = self._sql_text.get(key)
        if sql is None:
            if table == "spans":
                sql = f"INSERT INTO spans (id, {_COLUMN_LIST}) VALUES " + _values_sql(len(_COLUMNS) + 1, rows)
            else:
                sql = "INSERT INTO span_payloads (span_id, body) VALUES " + _values_sql(2, rows)
            self._sql_text[key] = sql
        return sql

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _analyze(self, execute: Execute) -> None:
        # A sample of rows per index: milliseconds, where a full ANALYZE of a million spans takes seconds.
        execute("PRAGMA analysis_limit = 1000", ())
        execute("ANALYZE", ())

    def _new_ids(self, tx: sqlite3.Connection, n: int) -> Sequence[int]:
        first_id: int = tx.execute("SELECT coalesce(max(id), 0) + 1 FROM spans").fetchone()[0]
        return range(first_id, first_id + n)

    def _insert(
        self, tx: sqlite3.Connection, ids: Sequence[int], records: Sequence[SpanRecord], derived: Derived
    ) -> None:
        for id_chunk, chunk in zip(chunks(ids, _SPAN_ROWS), chunks(records, _SPAN_ROWS), strict=True):
            light = list(chain.from_iterable((i, *_light_values(r)) for i, r in zip(id_chunk, chunk, strict=True)))
            tx.execute(self._statement("spans", len(chunk)), light)
            heavy = list(chain.from_iterable((i, r.payload_json) for i, r in zip(id_chunk, chunk, strict=True)))
            tx.execute(self._statement("span_payloads", len(chunk)), heavy)
        self._derived.insert_tags(tx, derived.tag_rows())

    def close(self) -> None:
        self._conn.close()


class PostgresBatchWriter(_Writer):
    """Ids from the table's sequence, rows by COPY (several times faster than INSERT for thousands).

    A connection lost (a server restart, a failover) is opened again at the next write, so the writer
    thread outlives it; the batch that met the failure is reported failed, never acknowledged.
    """

    # Held for the transaction: the writers of several server processes on one database take turns.
    _LOCK = "SELECT pg_advisory_xact_lock(7305511)"
    # A block of n ids in one call (a nextval a row cost 4.5 us a span): no one else takes span ids while
    # the writers' lock is held.
    _ids = (
        "SELECT setval(pg_get_serial_sequence('spans', 'id'), nextval(pg_get_serial_sequence('spans', 'id')) + %s - 1)"
    )
    # Binary COPY: measured 12.5 -> 10.2 us per row on the server and 8 -> 5 us of our CPU per row.
    _copy_spans = f"COPY spans (id, {_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
    # Binary COPY for the ~5 KB payloads: measured 38 -> 26 us per row (no text escaping to parse).
    _copy_payloads = "COPY span_payloads (span_id, body) FROM STDIN (FORMAT BINARY)"

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = self._open()
        self._sql = POSTGRES
        self._derived = DerivedWriter(POSTGRES, trace_key)

    def _open(self) -> Any:
        conn = self._connect()
        register_json_text_dumper(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        if self._conn.closed or self._conn.broken:
            self._conn = self._open()
        conn = self._conn
        try:
            with conn.cursor() as cur:
                cur.execute(self._LOCK)
                yield cur
            conn.commit()
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.rollback()
            raise

    # The tables whose plans depend on their size (autovacuum keeps up with the rest), and in spans and
    # traces only the columns whose statistics steer a plan: what their indexes hold and the common
    # filters. All columns (the metadata JSONB, error texts, random ids, which no plan estimate reads)
    # took 1.2-1.5 s at 200k spans, this list about 0.45 s, the writer waiting all along. The metadata
    # index is sampled too: the summary of a metadata filter joins it, and PostgreSQL chose a nested
    # loop over it when it believed it empty.
    _ANALYZE_SQL = (
        "ANALYZE spans (org_id, environment, day, timestamp_us, trace_key, customer_identifier,"
        " thread_identifier, cost, model, status, log_type), span_tags,"
        " traces (org_id, environment, start_us, trace_key, name, customer_identifier, thread_identifier)"
    )

    def _analyze(self, execute: Execute) -> None:
        execute(self._ANALYZE_SQL, ())

    def _json_param(self) -> str:
        return "%s::jsonb"

    def _new_ids(self, tx: Any, n: int) -> Sequence[int]:
        if not n:
            return []
        last: int = tx.execute(self._ids, (n,)).fetchone()[0]
        return range(last - n + 1, last + 1)

    def _insert(self, tx: Any, ids: Sequence[int], records: Sequence[SpanRecord], derived: Derived) -> None:
        with tx.copy(self._copy_spans) as copy:
            copy.set_types(_SPAN_COPY_TYPES)
            for i, r in zip(ids, records, strict=True):
                copy.write_row((i, *_light_values(r)))
        with tx.copy(self._copy_payloads) as copy:
            copy.set_types(["int8", "text"])
            for i, r in zip(ids, records, strict=True):
                copy.write_row((i, r.payload_json))
        self._derived.insert_tags(tx, derived.tag_rows())

    def close(self) -> None:
        self._conn.close()


class SqlSpanStore:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    def open_writer(self) -> SqliteBatchWriter | PostgresBatchWriter:
        url = database_url(self._settings)
        if is_sqlite(url):
            # A cached statement keeps its last bound values: the payload statements of every power of two
            # up to 512 rows hold ~5 MB of them. The multi-row statements of all tables fit in 96.
            conn = connect_sqlite(str(url.database), self._settings.sqlite_synchronous, cached_statements=96)
            return SqliteBatchWriter(conn)
        return PostgresBatchWriter(lambda: connect_postgres(url))

    def prepare(self, records: Sequence[SpanRecord]) -> object:
        return prepare(records)

    # The same rows made in a parse worker, for the trip back (derived.Portable); a module-level
    # function, which a worker process is given by reference.
    prepare_in_worker = staticmethod(derive_portable)
