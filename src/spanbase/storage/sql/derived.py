"""What the span writer keeps beside the spans, in the same transaction: metadata tags, trace, thread
and customer rows, and rollups (DESIGN.md). Computed here from the spans a transaction adds or deletes,
then written a table at a time (storage/sql/statements.py says how rows travel on each database).

Nobody else writes these tables while the writer's transaction runs (SQLite has one writer; PostgreSQL
writers share an advisory lock), so a trace or rollup row can be read, merged in Python and written back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from spanbase.domain import histogram
from spanbase.domain.pickling import by_fields
from spanbase.domain.rollups import AGGREGATE_COLUMNS, DAILY, DAILY_BY_CUSTOMER, HOURLY, Aggregate
from spanbase.domain.rollups import GRAIN_US as _GRAIN_US
from spanbase.domain.spans import LLM_LOG_TYPES, SpanRecord, is_root, tags_for
from spanbase.storage.sql.statements import Execute, Row, Sql, columns_of
from spanbase.storage.sql.tables import customers, rollups, span_tags, tag_counts, threads, traces

HOUR = _GRAIN_US["hour"]
DAY = _GRAIN_US["day"]


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


@by_fields
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
            if c in _ROOT_ONLY:
                if new_root or (not self.has_root and getattr(self, c) is None):
                    setattr(self, c, theirs)
            elif theirs is not None and (new_root or getattr(self, c) is None):
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
# A trace's thread is its root span's, once the root has arrived, even when the root has none (the
# other root fields fall back to the other spans' values).
_ROOT_ONLY = frozenset({"thread_identifier"})
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


@by_fields
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
        hour = ts - ts % HOUR
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
        hkey = (org, env, hourly_id, hour, r.model, r.status)
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


@dataclass
class Portable:
    """Derived rows made in a parse worker, for the trip back: the records they name (tags, trace
    roots) by their place in the batch, since the records themselves travel apart, as tuples."""

    derived: Derived
    tags: list[tuple[int, int]]
    roots: dict[EntityKey, int]

    def attach(self, records: Sequence[SpanRecord]) -> Derived:
        """The rows again, naming `records` (the batch, rebuilt in the same order)."""
        d = self.derived
        d.tags = [(tag, records[i]) for tag, i in self.tags]
        for key, i in self.roots.items():
            d.traces[key].root = records[i]
        return d


def derive_portable(records: Sequence[SpanRecord]) -> Portable:
    d = derive(records)
    place = {id(r): i for i, r in enumerate(records)}
    tags = [(tag, place[id(r)]) for tag, r in d.tags]
    roots: dict[EntityKey, int] = {}
    for key, trace in d.traces.items():
        if trace.root is not None:
            roots[key] = place[id(trace.root)]
            trace.root = None
    d.tags = []
    return Portable(d, tags, roots)


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
        if name in _ROOT_ONLY:
            if new_root or (not t.has_root and getattr(t, name) is None):
                setattr(t, name, value)
        elif value is not None and (new_root or getattr(t, name) is None):
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
    where, _ = sql.any_of("trace_key", [0] * n)
    return f"SELECT {', '.join(('id', *_TRACE_COLUMNS))} FROM traces WHERE {where}"


@dataclass(slots=True)
class StoredTrace:
    id: int
    delta: TraceDelta


StoredTraces = dict[EntityKey, StoredTrace]  # (org_id, environment, trace_unique_id) -> its row


def _sums(table: str) -> tuple[str, ...]:
    return _ENTITY_SUMS if table == "customers" else _THREAD_SUMS


_EXTRA = {"threads": ("customer_identifier", "organization_key_id"), "customers": ("name", "email")}
_KEY = {"threads": "thread_identifier", "customers": "customer_identifier"}
_TABLES = {"threads": threads, "customers": customers}


def _entity_columns(table: str) -> tuple[str, ...]:
    return ("org_id", "environment", _KEY[table], "first_us", "last_us", *_sums(table), *_EXTRA[table])


def _entity_tail(sql: Sql, table: str) -> str:
    """Threads keep the first customer and key seen; customers the newest name and email given."""
    newest = table == "customers"
    sets = [
        f"first_us = {sql.least}({table}.first_us, excluded.first_us)",
        f"last_us = {sql.greatest}({table}.last_us, excluded.last_us)",
        *(f"{c} = {table}.{c} + excluded.{c}" for c in _sums(table)),
        *(
            f"{c} = COALESCE(excluded.{c}, {table}.{c})" if newest else f"{c} = COALESCE({table}.{c}, excluded.{c})"
            for c in _EXTRA[table]
        ),
    ]
    return f"ON CONFLICT (org_id, environment, {_KEY[table]}) DO UPDATE SET {', '.join(sets)}"


_ROLLUP_KEY = ("org_id", "environment", "level", "bucket_us", "d1", "d2")
_ROLLUP_COLUMNS = (*_ROLLUP_KEY, *AGGREGATE_COLUMNS, "hist")
_ROLLUP_UPSERT = f"ON CONFLICT ({', '.join(_ROLLUP_KEY)}) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in (*AGGREGATE_COLUMNS, "hist")
)
_ROLLUP_SELECT = ", ".join("r." + c for c in _ROLLUP_COLUMNS)
_ROLLUP_ON = "rollups r ON " + " AND ".join(f"r.{c} = k.k{i}" for i, c in enumerate(_ROLLUP_KEY))
_TAG_COUNT_UPSERT = "ON CONFLICT (tag, bucket_us) DO UPDATE SET n = tag_counts.n + excluded.n"
_TRACE_UPDATE = "ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _TRACE_VALUES)


class DerivedWriter:
    """Writes a Derived into the derived tables through one connection's `execute`.

    Traces are read, merged in Python and written back by id, like rollups: their one index is on an
    8-byte hash of the trace id (small, so each commit rewrites few of its pages), which cannot be the
    unique key an ON CONFLICT clause needs.
    """

    def __init__(self, sql: Sql, trace_key: Callable[[str], int]) -> None:
        self._sql = sql
        self._trace_key = trace_key

    def insert_tags(self, tx: Any, tags: Sequence[tuple[int, int, int]]) -> None:
        """(tag, timestamp_us, span_id) rows, and their hours' counts."""
        self._sql.insert(tx, span_tags, ("tag", "timestamp_us", "span_id"), tags)
        self.count_tags(tx, tags, 1)

    def count_tags(self, tx: Any, tags: Iterable[tuple[int, int, int]], sign: int) -> None:
        """Add (or take) these (tag, timestamp_us, span_id) rows to their hours' counts; an hour left with
        none goes."""
        counts: dict[tuple[int, int], int] = {}
        for tag, ts, _ in tags:
            key = (tag, ts - ts % HOUR)
            counts[key] = counts.get(key, 0) + 1
        rows = [(tag, hour, sign * n) for (tag, hour), n in counts.items()]
        self._sql.insert(tx, tag_counts, ("tag", "bucket_us", "n"), rows, _TAG_COUNT_UPSERT)
        if sign < 0:
            p = self._sql.param
            for tag, hour, _ in rows:
                tx.execute(f"DELETE FROM tag_counts WHERE tag = {p} AND bucket_us = {p} AND n <= 0", (tag, hour))

    def load_traces(self, execute: Execute, keys: Iterable[EntityKey]) -> StoredTraces:
        """The stored rows of these traces (those that exist)."""
        by_scope: dict[tuple[int, str], set[str]] = {}
        for org, env, trace in keys:
            by_scope.setdefault((org, env), set()).add(trace)
        stored: StoredTraces = {}
        for (org, env), wanted in by_scope.items():
            names = sorted(wanted)
            for i in range(0, len(names), 4096):
                chunk = names[i : i + 4096]
                where, params = self._sql.any_of("trace_key", [self._trace_key(t) for t in chunk])
                rows = execute(f"SELECT {', '.join(('id', *_TRACE_COLUMNS))} FROM traces WHERE {where}", params)
                for row in rows:
                    if row[1] == org and row[2] == env and row[3] in wanted:
                        delta = TraceDelta(*row[5:9])
                        for name, value in zip(_TRACE_VALUES[4:], row[9:], strict=True):
                            setattr(delta, name, value)
                        stored[(org, env, row[3])] = StoredTrace(int(row[0]), delta)
        return stored

    def add(self, tx: Any, d: Derived, stored: StoredTraces) -> None:
        """Add new spans' deltas; their tags are written by the caller."""
        inserts: list[Row] = []
        updates: list[Row] = []
        for key, t in d.traces.items():
            t.number_root()
            have = stored.get(key)
            org, env, trace = key
            if have is None:
                inserts.append((org, env, trace, self._trace_key(trace), *_trace_values(t)))
            else:
                have.delta.merge(t)
                updates.append((have.id, org, env, trace, self._trace_key(trace), *_trace_values(have.delta)))
        self._sql.insert(tx, traces, _TRACE_COLUMNS, inserts)
        # An upsert on the primary key: a multi-row UPDATE both databases run.
        self._sql.insert(tx, traces, ("id", *_TRACE_COLUMNS), updates, _TRACE_UPDATE)
        for table, deltas in (("threads", d.threads), ("customers", d.customers)):
            sums, extra = _sums(table), _EXTRA[table]
            rows = [
                (
                    org,
                    env,
                    ident,
                    e.first_us,
                    e.last_us,
                    *(getattr(e, c) for c in sums),
                    *(e.extra.get(c) for c in extra),
                )
                for (org, env, ident), e in deltas.items()
            ]
            self._sql.insert(tx, _TABLES[table], _entity_columns(table), rows, _entity_tail(self._sql, table))
        self.merge_rollups(tx, d.rollups, 1)

    def merge_rollups(self, tx: Any, deltas: dict[RollupKey, Aggregate], sign: int) -> None:
        """Read the stored rows of these keys, add (or subtract) the deltas, write them back."""
        execute = tx.execute
        keys = list(deltas)
        stored: dict[RollupKey, Aggregate] = {}
        key_columns = columns_of(rollups, _ROLLUP_KEY)
        for row in self._sql.select_keys(execute, _ROLLUP_SELECT, _ROLLUP_ON, key_columns, keys):
            stored[tuple(row[:6])] = Aggregate.from_scalars(tuple(row[6:-1]), histogram.decode(row[-1]))
        upserts: list[Row] = []
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
        self._sql.insert(tx, rollups, _ROLLUP_COLUMNS, upserts, _ROLLUP_UPSERT)
        where = " AND ".join(f"{c} = {self._sql.param}" for c in _ROLLUP_KEY)
        for key in gone:
            execute(f"DELETE FROM rollups WHERE {where}", key)

    def subtract_entities(self, execute: Execute, d: Derived) -> None:
        """Take deleted spans out of their threads and customers; a row left with no span goes.

        Call after the spans are deleted: first and last seen cannot be subtracted, so they are read
        again from the spans left, on the days the row spans (the spans' indexes lead with the day).
        """
        p = self._sql.param
        for table, key, deltas in (
            ("threads", "thread_identifier", d.threads),
            ("customers", "customer_identifier", d.customers),
        ):
            sums = _sums(table)
            sets = ", ".join(f"{c} = {c} - {p}" for c in sums)
            of = f"org_id = {p} AND environment = {p} AND {key} = {p}"
            for (org, env, ident), e in deltas.items():
                where = (org, env, ident)
                found = list(execute(f"SELECT first_us, last_us FROM {table} WHERE {of}", where))
                if not found:
                    continue
                first_day, last_day = found[0][0] // DAY, found[0][1] // DAY
                days = list(range(first_day, last_day + 1))
                marks = ", ".join([p] * len(days))
                remaining = list(
                    execute(
                        f"SELECT min(timestamp_us), max(timestamp_us) FROM spans WHERE {of} AND day IN ({marks})",
                        [*where, *days],
                    )
                )
                first, last = remaining[0] if remaining else (None, None)
                if first is None:
                    execute(f"DELETE FROM {table} WHERE {of}", where)
                    continue
                # The descriptive columns came from some span, maybe a deleted one: read them again too.
                described = [self._described(execute, table, column, where, days) for column in _EXTRA[table]]
                execute(
                    f"UPDATE {table} SET {sets}, first_us = {p}, last_us = {p}, "
                    + ", ".join(f"{c} = {p}" for c in _EXTRA[table])
                    + f" WHERE {of}",
                    [*(getattr(e, c) for c in sums), first, last, *described, *where],
                )

    def _described(self, execute: Execute, table: str, column: str, where: Row, days: list[int]) -> Any:
        """A thread's first customer and key seen, a customer's newest name and email given, from its spans."""
        p = self._sql.param
        span_column = {"name": "customer_name", "email": "customer_email"}.get(column, column)
        newest = table == "customers"
        marks = ", ".join([p] * len(days))
        rows = list(
            execute(
                f"SELECT {span_column} FROM spans WHERE org_id = {p} AND environment = {p} AND {_KEY[table]} = {p} "
                f"AND day IN ({marks}) AND {span_column} IS NOT NULL "
                f"ORDER BY timestamp_us {'DESC' if newest else 'ASC'}, id {'DESC' if newest else 'ASC'} LIMIT 1",
                [*where, *days],
            )
        )
        return rows[0][0] if rows else None


def _flat(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [v for row in rows for v in row]
