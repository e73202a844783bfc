"""What the span writer keeps beside the spans, in the same transaction: metadata tags, trace, thread
and customer rows, and rollups (DESIGN.md). Computed here from the spans a transaction adds (sign +1)
or deletes (sign -1), then written with one statement per table and chunk.

Every statement is plain SQL that SQLite (3.24+) and PostgreSQL both run: multi-row VALUES with
ON CONFLICT ... DO UPDATE, and row-value IN lists. Only the placeholder and the names of the two-argument
min/max differ, which `Sql` holds. Nobody else writes these tables while the writer's transaction runs
(SQLite has one writer; PostgreSQL writers share an advisory lock), so a rollup row can be read, merged
in Python and written back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from spanbase.domain import histogram
from spanbase.domain.rollups import AGGREGATE_COLUMNS, DAILY, DAILY_BY_CUSTOMER, HOURLY, Aggregate
from spanbase.domain.rollups import GRAIN_US as _GRAIN_US
from spanbase.domain.spans import LLM_LOG_TYPES, SpanRecord, is_root, tags_for

HOUR = _GRAIN_US["hour"]
DAY = _GRAIN_US["day"]

Execute = Callable[[str, Sequence[Any]], Any]  # a cursor's execute(sql, params) -> iterable rows


@dataclass(frozen=True)
class Sql:
    """The few spellings that differ: placeholders, and min/max of two values."""

    param: str  # "?" (sqlite3) or "%s" (psycopg)
    least: str  # "min" or "LEAST"
    greatest: str  # "max" or "GREATEST"

    def row(self, n: int) -> str:
        return "(" + ", ".join([self.param] * n) + ")"

    def rows(self, width: int, count: int) -> str:
        return ", ".join([self.row(width)] * count)


SQLITE = Sql("?", "min", "max")
POSTGRES = Sql("%s", "LEAST", "GREATEST")


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


def metadata_of(record: SpanRecord) -> dict[str, str]:
    m = orjson.loads(record.metadata_json) if record.metadata_json else {}
    return m if isinstance(m, dict) else {}


def tags_of(record: SpanRecord) -> tuple[int, ...]:
    if record.tags is not None:
        return record.tags
    if record.metadata_json == "{}":
        return ()
    return tags_for(record.org_id, record.environment, {k: str(v) for k, v in metadata_of(record).items()})


# --------------------------------------------------------------------------------------------- deltas


@dataclass(slots=True)
class TraceDelta:
    """A trace's row: aggregates of its spans, and the fields of its root span."""

    start_us: int
    end_us: int
    first_day: int
    last_day: int
    span_count: int = 0
    llm_call_count: int = 0
    error_count: int = 0
    cost_sum: float = 0.0
    cost_n: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    # The span with no parent, once it has arrived: as a record before the writer numbers it, then by id.
    root: SpanRecord | None = None
    root_span_id: int | None = None
    root_span_unique_id: str | None = None
    # Root fields: the root span's once it has arrived, else the first value seen.
    name: str | None = None
    customer_identifier: str | None = None
    thread_identifier: str | None = None
    session_identifier: str | None = None
    model: str | None = None
    organization_key_id: str | None = None

    @property
    def has_root(self) -> bool:
        return self.root is not None or self.root_span_id is not None

    def merge(self, later: TraceDelta) -> None:
        self.start_us = min(self.start_us, later.start_us)
        self.end_us = max(self.end_us, later.end_us)
        self.first_day = min(self.first_day, later.first_day)
        self.last_day = max(self.last_day, later.last_day)
        for c in _TRACE_SUMS:
            setattr(self, c, getattr(self, c) + getattr(later, c))
        new_root = not self.has_root and later.has_root
        if new_root:
            self.root, self.root_span_id, self.root_span_unique_id = (
                later.root,
                later.root_span_id,
                later.root_span_unique_id,
            )
        for c in _TRACE_ROOT_FIELDS:
            theirs = getattr(later, c)
            if theirs is not None and (new_root or getattr(self, c) is None):
                setattr(self, c, theirs)

    def number_root(self) -> None:
        """Once the writer has numbered the spans: the root by its row id."""
        if self.root is not None:
            self.root_span_id = int(self.root.unique_id[:16], 16)
            self.root_span_unique_id = self.root.span_unique_id
            self.root = None


_TRACE_ROOT_FIELDS = (
    "name",
    "customer_identifier",
    "thread_identifier",
    "session_identifier",
    "model",
    "organization_key_id",
)
_TRACE_SUMS = (
    "span_count",
    "llm_call_count",
    "error_count",
    "cost_sum",
    "cost_n",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
)


@dataclass(slots=True)
class EntityDelta:
    """A thread's or a customer's aggregates."""

    first_us: int
    last_us: int
    n: int = 0
    error_n: int = 0
    cost_sum: float = 0.0
    cost_n: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_sum: float = 0.0
    latency_n: int = 0
    ttft_sum: float = 0.0
    ttft_n: int = 0
    # Descriptive columns: threads keep the first value seen, customers the newest.
    extra: dict[str, str | None] = field(default_factory=dict)

    def add(self, r: SpanRecord) -> None:
        self.first_us = min(self.first_us, r.timestamp_us)
        self.last_us = max(self.last_us, r.timestamp_us)
        self.n += 1
        if r.status == "failed":
            self.error_n += 1
        if r.cost is not None:
            self.cost_sum += r.cost
            self.cost_n += 1
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.total_tokens += r.total_request_tokens
        if r.latency is not None:
            self.latency_sum += r.latency
            self.latency_n += 1
        if r.time_to_first_token is not None:
            self.ttft_sum += r.time_to_first_token
            self.ttft_n += 1

    def merge(self, later: EntityDelta, newest: bool) -> None:
        self.first_us = min(self.first_us, later.first_us)
        self.last_us = max(self.last_us, later.last_us)
        for c in _ENTITY_SUMS:
            setattr(self, c, getattr(self, c) + getattr(later, c))
        for c, value in later.extra.items():
            if value is not None and (newest or self.extra.get(c) is None):
                self.extra[c] = value


_ENTITY_SUMS = (
    "n",
    "error_n",
    "cost_sum",
    "cost_n",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "latency_sum",
    "latency_n",
    "ttft_sum",
    "ttft_n",
)
_THREAD_SUMS = _ENTITY_SUMS[:-2]  # threads keep no time to first token

EntityKey = tuple[int, str, str]  # (org_id, environment, identifier)
RollupKey = tuple[int, str, int, int, str, str]  # (org_id, environment, level, bucket_us, d1, d2)


@dataclass
class Derived:
    """Everything a set of spans adds to the derived tables (or, when they are deleted, takes away).

    Computed before the spans have row ids (by the request that sends them, off the writer's thread):
    a tag names its span by the record, whose unique_id carries the row id once the writer numbered it.
    """

    tags: list[tuple[int, SpanRecord]] = field(default_factory=list)
    traces: dict[EntityKey, TraceDelta] = field(default_factory=dict)
    threads: dict[EntityKey, EntityDelta] = field(default_factory=dict)
    customers: dict[EntityKey, EntityDelta] = field(default_factory=dict)
    rollups: dict[RollupKey, Aggregate] = field(default_factory=dict)

    def merge(self, later: Derived) -> None:
        """Add another set of spans' deltas, as if derive() had seen them after these."""
        self.tags.extend(later.tags)
        for tkey, trace in later.traces.items():
            mine = self.traces.get(tkey)
            if mine is None:
                self.traces[tkey] = trace
            else:
                mine.merge(trace)
        for table, newest in ((self.threads, False), (self.customers, True)):
            theirs = later.threads if table is self.threads else later.customers
            for ekey, entity in theirs.items():
                existing = table.get(ekey)
                if existing is None:
                    table[ekey] = entity
                else:
                    existing.merge(entity, newest)
        for rkey, agg in later.rollups.items():
            have = self.rollups.get(rkey)
            if have is None:
                self.rollups[rkey] = agg
            else:
                have.merge(agg)

    def tag_rows(self) -> list[tuple[int, int, int]]:
        """(tag, timestamp_us, span_id) rows, once the writer has numbered the spans."""
        return [(tag, r.timestamp_us, int(r.unique_id[:16], 16)) for tag, r in self.tags]


def derive(records: Iterable[SpanRecord]) -> Derived:
    # The ingest hot path (once per span, on a request's thread): locals and no per-span allocation
    # beyond the rows themselves.
    d = Derived()
    tags, traces, threads, customers, rollups = d.tags, d.traces, d.threads, d.customers, d.rollups
    hourly: dict[RollupKey, Aggregate] = {}
    bucket_of = histogram.bucket_of
    hourly_id, by_customer_id = HOURLY.id, DAILY_BY_CUSTOMER.id
    for r in records:
        org, env, ts = r.org_id, r.environment, r.timestamp_us
        for tag in tags_of(r):
            tags.append((tag, r))
        if r.trace_unique_id:
            _add_trace(traces, (org, env, r.trace_unique_id), r)
        if r.thread_identifier:
            key = (org, env, r.thread_identifier)
            thread = threads.get(key)
            if thread is None:
                thread = threads[key] = EntityDelta(ts, ts)
                thread.extra = {"customer_identifier": r.customer_identifier, "organization_key_id": None}
            extra = thread.extra
            if extra["customer_identifier"] is None:
                extra["customer_identifier"] = r.customer_identifier
            if extra["organization_key_id"] is None:
                extra["organization_key_id"] = r.organization_key_id
            thread.add(r)
        customer_id = r.customer_identifier
        if customer_id:
            key = (org, env, customer_id)
            customer = customers.get(key)
            if customer is None:
                customer = customers[key] = EntityDelta(ts, ts)
            # The newest name and email given win (a customer may change them).
            if r.customer_name:
                customer.extra["name"] = r.customer_name
            if r.customer_email:
                customer.extra["email"] = r.customer_email
            customer.add(r)
        bucket = None if r.latency is None else bucket_of(r.latency)
        hkey = (org, env, hourly_id, ts - ts % HOUR, r.model, r.status)
        agg = hourly.get(hkey)
        if agg is None:
            agg = hourly[hkey] = Aggregate()
        agg.add_record(r, bucket)
        ckey = (org, env, by_customer_id, ts - ts % DAY, customer_id or "", "")
        agg = rollups.get(ckey)
        if agg is None:
            agg = rollups[ckey] = Aggregate()
        agg.add_record(r, bucket)
    # A day's rollup by model and status is the sum of its hours'.
    for (org, env, _, hour, model, status), agg in hourly.items():
        rollups[(org, env, hourly_id, hour, model, status)] = agg
        dkey = (org, env, DAILY.id, hour - hour % DAY, model, status)
        day = rollups.get(dkey)
        if day is None:
            rollups[dkey] = day = Aggregate()
        day.merge(agg)
    return d


def _add_trace(traces: dict[EntityKey, TraceDelta], key: EntityKey, r: SpanRecord) -> None:
    t = traces.get(key)
    if t is None:
        t = traces[key] = TraceDelta(r.start_time_us, r.timestamp_us, r.day, r.day)
    else:
        if r.start_time_us < t.start_us:
            t.start_us = r.start_time_us
        if r.timestamp_us > t.end_us:
            t.end_us = r.timestamp_us
        if r.day < t.first_day:
            t.first_day = r.day
        if r.day > t.last_day:
            t.last_day = r.day
    t.span_count += 1
    if r.log_type in LLM_LOG_TYPES:
        t.llm_call_count += 1
    if r.status == "failed":
        t.error_count += 1
    if r.cost is not None:
        t.cost_sum += r.cost
        t.cost_n += 1
    t.prompt_tokens += r.prompt_tokens
    t.completion_tokens += r.completion_tokens
    t.total_tokens += r.total_request_tokens
    values = (
        r.span_name or r.span_workflow_name,
        r.customer_identifier,
        r.thread_identifier,
        r.session_identifier,
        r.model or None,
        r.organization_key_id,
    )
    new_root = is_root(r.span_parent_id) and not t.has_root
    if new_root:
        t.root = r
    for name, value in zip(_TRACE_ROOT_FIELDS, values, strict=True):
        if value is not None and (new_root or getattr(t, name) is None):
            setattr(t, name, value)


# --------------------------------------------------------------------------------------------- writing


_TRACE_COLUMNS = (
    "org_id",
    "environment",
    "trace_unique_id",
    "trace_key",
    "start_us",
    "end_us",
    "first_day",
    "last_day",
    *_TRACE_SUMS,
    "root_span_id",
    "root_span_unique_id",
    *_TRACE_ROOT_FIELDS,
)
_TRACE_VALUES = _TRACE_COLUMNS[4:]  # what a TraceDelta holds


def _trace_values(t: TraceDelta) -> tuple[Any, ...]:
    return tuple(getattr(t, c) for c in _TRACE_VALUES)


def trace_select(sql: Sql, n: int) -> str:
    """The rows of n trace keys (organization, environment and id are checked by the caller: named in
    the query, they led PostgreSQL with stale statistics to an index of the organization's traces)."""
    return f"SELECT {', '.join(('id', *_TRACE_COLUMNS))} FROM traces WHERE trace_key IN ({', '.join([sql.param] * n)})"


@dataclass(slots=True)
class StoredTrace:
    id: int
    delta: TraceDelta


StoredTraces = dict[EntityKey, StoredTrace]  # (org_id, environment, trace_unique_id) -> its row


def _sums(table: str) -> tuple[str, ...]:
    return _ENTITY_SUMS if table == "customers" else _THREAD_SUMS


def _entity_upsert(sql: Sql, table: str, key: str, extra: Sequence[str], newest_extra: bool, rows: int) -> str:
    sums = _sums(table)
    columns = ("org_id", "environment", key, "first_us", "last_us", *sums, *extra)
    sets = [
        f"first_us = {sql.least}({table}.first_us, excluded.first_us)",
        f"last_us = {sql.greatest}({table}.last_us, excluded.last_us)",
        *(f"{c} = {table}.{c} + excluded.{c}" for c in sums),
        *(
            f"{c} = COALESCE(excluded.{c}, {table}.{c})"
            if newest_extra
            else f"{c} = COALESCE({table}.{c}, excluded.{c})"
            for c in extra
        ),
    ]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {sql.rows(len(columns), rows)} "
        f"ON CONFLICT (org_id, environment, {key}) DO UPDATE SET {', '.join(sets)}"
    )


_ROLLUP_KEY = ("org_id", "environment", "level", "bucket_us", "d1", "d2")
_ROLLUP_COLUMNS = (*_ROLLUP_KEY, *AGGREGATE_COLUMNS, "hist")


def _rollup_upsert(sql: Sql, rows: int) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in (*AGGREGATE_COLUMNS, "hist"))
    return (
        f"INSERT INTO rollups ({', '.join(_ROLLUP_COLUMNS)}) VALUES {sql.rows(len(_ROLLUP_COLUMNS), rows)} "
        f"ON CONFLICT ({', '.join(_ROLLUP_KEY)}) DO UPDATE SET {sets}"
    )


def _rollup_select(sql: Sql, rows: int) -> str:
    # A join with the keys as a VALUES list, not a row-value IN list: SQLite scans the whole table for
    # `(a, b, ...) IN (VALUES ...)`, and probes the primary key once per key for the join.
    keys = ", ".join(f"k{i}" for i in range(len(_ROLLUP_KEY)))
    on = " AND ".join(f"r.{c} = k.k{i}" for i, c in enumerate(_ROLLUP_KEY))
    return (
        f"WITH k({keys}) AS (VALUES {sql.rows(len(_ROLLUP_KEY), rows)}) "
        f"SELECT {', '.join('r.' + c for c in _ROLLUP_COLUMNS)} FROM k JOIN rollups r ON {on}"
    )


class DerivedWriter:
    """Writes a Derived into the derived tables through one connection's `execute`, SQL text cached.

    Traces are read, merged in Python and written back by id, like rollups: their one index is on an
    8-byte hash of the trace id (small, so each commit rewrites few of its pages), which cannot be the
    unique key an ON CONFLICT clause needs.
    """

    def __init__(self, sql: Sql, trace_key: Callable[[str], int]) -> None:
        self._sql = sql
        self._trace_key = trace_key
        self._cache: dict[tuple[str, int], str] = {}

    def _statement(self, kind: str, rows: int, build: Callable[[int], str]) -> str:
        text = self._cache.get((kind, rows))
        if text is None:
            text = self._cache[(kind, rows)] = build(rows)
        return text

    def insert_tags(self, execute: Execute, tags: Sequence[tuple[int, int, int]]) -> None:
        """(tag, timestamp_us, span_id) rows."""
        for chunk in chunks(tags, rows_per_statement(3)):
            text = self._statement("tags", len(chunk), lambda n: f"INSERT INTO span_tags VALUES {self._sql.rows(3, n)}")
            execute(text, [v for row in chunk for v in row])

    def load_traces(self, execute: Execute, keys: Iterable[EntityKey]) -> StoredTraces:
        """The stored rows of these traces (those that exist)."""
        by_scope: dict[tuple[int, str], set[str]] = {}
        for org, env, trace in keys:
            by_scope.setdefault((org, env), set()).add(trace)
        stored: StoredTraces = {}
        for (org, env), traces in by_scope.items():
            for chunk in chunks(sorted(traces), rows_per_statement(1, 4096)):
                text = self._statement("trace_select", len(chunk), lambda n: trace_select(self._sql, n))
                wanted = set(chunk)
                for row in execute(text, [self._trace_key(t) for t in chunk]):
                    if row[1] == org and row[2] == env and row[3] in wanted:
                        delta = TraceDelta(*row[5:9])
                        for name, value in zip(_TRACE_VALUES[4:], row[9:], strict=True):
                            setattr(delta, name, value)
                        stored[(org, env, row[3])] = StoredTrace(int(row[0]), delta)
        return stored

    def add(self, execute: Execute, d: Derived, stored: StoredTraces) -> None:
        """Add new spans' deltas; their tags are written by the caller (by COPY on PostgreSQL)."""
        sql = self._sql
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for key, t in d.traces.items():
            t.number_root()
            have = stored.get(key)
            org, env, trace = key
            if have is None:
                inserts.append((org, env, trace, self._trace_key(trace), *_trace_values(t)))
            else:
                have.delta.merge(t)
                updates.append((have.id, org, env, trace, self._trace_key(trace), *_trace_values(have.delta)))
        columns = ", ".join(_TRACE_COLUMNS)
        for chunk in chunks(inserts, rows_per_statement(len(_TRACE_COLUMNS))):
            text = self._statement(
                "trace_insert",
                len(chunk),
                lambda n: f"INSERT INTO traces ({columns}) VALUES {sql.rows(len(_TRACE_COLUMNS), n)}",
            )
            execute(text, _flat(chunk))
        sets = ", ".join(f"{c} = excluded.{c}" for c in _TRACE_VALUES)
        for chunk in chunks(updates, rows_per_statement(len(_TRACE_COLUMNS) + 1)):
            text = self._statement(
                "trace_update",
                len(chunk),
                # An upsert on the primary key, as a multi-row UPDATE both databases run.
                lambda n: (
                    f"INSERT INTO traces (id, {columns}) "
                    f"VALUES {sql.rows(len(_TRACE_COLUMNS) + 1, n)} ON CONFLICT (id) DO UPDATE SET {sets}"
                ),
            )
            execute(text, _flat(chunk))
        self._add_entities(execute, "threads", "thread_identifier", d.threads, False)
        self._add_entities(execute, "customers", "customer_identifier", d.customers, True)
        self.merge_rollups(execute, d.rollups, 1)

    def _add_entities(
        self, execute: Execute, table: str, key: str, deltas: dict[EntityKey, EntityDelta], newest: bool
    ) -> None:
        if not deltas:
            return
        extra = ("customer_identifier", "organization_key_id") if table == "threads" else ("name", "email")
        sums = _sums(table)
        rows = [
            (org, env, ident, e.first_us, e.last_us, *(getattr(e, c) for c in sums), *(e.extra.get(c) for c in extra))
            for (org, env, ident), e in deltas.items()
        ]
        for chunk in chunks(rows, rows_per_statement(len(rows[0]))):
            text = self._statement(table, len(chunk), lambda n: _entity_upsert(self._sql, table, key, extra, newest, n))
            execute(text, _flat(chunk))

    def merge_rollups(self, execute: Execute, deltas: dict[RollupKey, Aggregate], sign: int) -> None:
        """Read the stored rows of these keys, add (or subtract) the deltas, write them back."""
        keys = list(deltas)
        stored: dict[RollupKey, Aggregate] = {}
        for chunk in chunks(keys, rows_per_statement(len(_ROLLUP_KEY))):
            text = self._statement("rollup_select", len(chunk), lambda n: _rollup_select(self._sql, n))
            for row in execute(text, _flat(chunk)):
                key = tuple(row[:6])
                stored[key] = Aggregate.from_scalars(tuple(row[6:-1]), histogram.decode(row[-1]))
        upserts: list[tuple[Any, ...]] = []
        gone: list[RollupKey] = []
        for key in keys:
            agg = stored.get(key)
            if agg is None:
                agg = Aggregate()
            agg.merge(deltas[key], sign)
            if agg.n <= 0:
                gone.append(key)
            else:
                upserts.append((*key, *agg.scalars(), histogram.encode(agg.hist)))
        for chunk in chunks(upserts, rows_per_statement(len(_ROLLUP_COLUMNS))):
            text = self._statement("rollup_upsert", len(chunk), lambda n: _rollup_upsert(self._sql, n))
            execute(text, _flat(chunk))
        where = " AND ".join(f"{c} = {self._sql.param}" for c in _ROLLUP_KEY)
        for key in gone:
            execute(f"DELETE FROM rollups WHERE {where}", key)

    def subtract_entities(self, execute: Execute, d: Derived) -> None:
        """Take deleted spans out of their threads and customers; a row left with no span goes."""
        p = self._sql.param
        for table, key, deltas in (
            ("threads", "thread_identifier", d.threads),
            ("customers", "customer_identifier", d.customers),
        ):
            sums = _sums(table)
            sets = ", ".join(f"{c} = {c} - {p}" for c in sums)
            spans_of = f"org_id = {p} AND environment = {p} AND {key} = {p}"
            for (org, env, ident), e in deltas.items():
                where = (org, env, ident)
                execute(f"UPDATE {table} SET {sets} WHERE {spans_of}", [*(getattr(e, c) for c in sums), *where])
                # First and last seen cannot be subtracted: read them again, from the spans' index.
                first_last = list(
                    execute(f"SELECT min(timestamp_us), max(timestamp_us) FROM spans WHERE {spans_of}", where)
                )
                first, last = first_last[0] if first_last else (None, None)
                if first is None:
                    execute(f"DELETE FROM {table} WHERE {spans_of}", where)
                else:
                    execute(f"UPDATE {table} SET first_us = {p}, last_us = {p} WHERE {spans_of}", [first, last, *where])


def _flat(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [v for row in rows for v in row]
