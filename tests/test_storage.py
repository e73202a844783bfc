"""Storage details that decide ingest speed at scale; each one was a measured slowdown before."""

from __future__ import annotations

import pickle
import sqlite3
import threading
import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from spanbase.domain.queries import ListQuery, PageRequest, Scope, Sort, Window
from spanbase.domain.rollups import Aggregate
from spanbase.query.fields import SPANS
from spanbase.query.filters import parse_filters
from spanbase.settings import Settings
from spanbase.storage.sql import migrate
from spanbase.storage.sql.derived import EntityDelta, TraceDelta, trace_select
from spanbase.storage.sql.engine import make_engine, statistics_changed
from spanbase.storage.sql.reader import make_reads
from spanbase.storage.sql.spans import spans_of_traces
from spanbase.storage.sql.statements import POSTGRES, SQLITE

# The resend lookup reads the trace rows of a batch by trace key, then the spans of the traces that
# exist, by day and trace key. Given other constraints, SQLite's planner (and PostgreSQL's, with the
# statistics of a table that grew fast) once chose the time index and scanned every span of the
# organization on each commit, which made ingest quadratic.


def _sqlite_plan(settings: Settings, sql: str, params: list[object]) -> str:
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        return " ".join(str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    finally:
        conn.close()


def _load(client: TestClient, n: int) -> None:
    logs = [{"model": "m", "trace_unique_id": f"t{i}", "span_unique_id": "s"} for i in range(n)]
    assert client.post("/api/request-logs/bulk/", json={"logs": logs}).status_code == 201


def _load_and_sample(settings: Settings, client: TestClient, logs: list[dict[str, Any]]) -> None:
    """Store the spans, then take SQLite's statistics as the writer does (sampled)."""
    for start in range(0, len(logs), 500):
        assert client.post("/api/request-logs/bulk/", json={"logs": logs[start : start + 500]}).status_code == 201
    conn = sqlite3.connect(settings.sqlite_path)
    conn.execute("PRAGMA analysis_limit = 1000")
    conn.execute("ANALYZE")
    conn.close()


def _recording_engine(settings: Settings) -> tuple[Engine, list[tuple[str, Any]]]:
    """An engine of the store, and the statements it runs (with their parameters), as it runs them."""
    engine = make_engine(settings)
    statements: list[tuple[str, Any]] = []
    event.listen(
        engine, "before_cursor_execute", lambda _c, _cur, sql, params, _x, _m: statements.append((sql, params))
    )
    return engine, statements


def test_sqlite_resend_lookup_uses_the_trace_indexes(settings: Settings, client: TestClient) -> None:
    if settings.database_url:
        pytest.skip("a SQLite query plan")
    _load(client, 300)
    plan = _sqlite_plan(settings, trace_select(SQLITE, 3), [1, 2, 3])
    assert "ix_traces_trace_key" in plan, plan
    plan = _sqlite_plan(settings, *spans_of_traces(SQLITE, "unique_id", [(1, 2)], [1, 2, 3]))
    assert "ix_spans_trace" in plan, plan


def test_sqlite_pages_are_16_kib(settings: Settings, client: TestClient) -> None:
    """A ~5 KB payload fits one 16 KiB page; with 4 KiB pages it spills into overflow pages."""
    if settings.database_url:
        pytest.skip("a SQLite file property")
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_postgres_compresses_payloads_with_lz4(settings: Settings, client: TestClient) -> None:
    """pglz cost the backend ~3x lz4's CPU a payload (migration 0003)."""
    if not settings.database_url:
        pytest.skip("a PostgreSQL column property")
    words = " ".join(f"word{i}" for i in range(1500))  # ~13 KB: over TOAST's threshold, and compressible
    assert client.post("/api/request-logs/bulk/", json={"logs": [{"model": "m", "input": words}]}).status_code == 201
    with psycopg.connect(settings.database_url) as conn:
        method = conn.execute("SELECT pg_column_compression(body) FROM span_payloads").fetchone()
    assert method == ("lz4",)


def test_postgres_resend_lookup_uses_the_trace_indexes(settings: Settings, client: TestClient) -> None:
    """On a table this small a sequential scan is the right plan, so the test forbids it: what it checks
    is that the indexes serve the lookups with every condition (the varchar column compared as text, say).
    The lookups name only the columns of their index, which no other index leads with."""
    if not settings.database_url:
        pytest.skip("a PostgreSQL query plan")
    _load(client, 300)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("ANALYZE spans, traces")
        conn.execute("SET enable_seqscan = off")
        day, key = conn.execute("SELECT day, trace_key FROM spans LIMIT 1").fetchone()  # type: ignore[misc]
        plan = conn.execute("EXPLAIN " + trace_select(POSTGRES, 2), [[key, 2]]).fetchall()
        text = " ".join(row[0] for row in plan)
        assert "ix_traces_trace_key" in text, text
        sql, params = spans_of_traces(POSTGRES, "unique_id", [(day, day + 1)], [key, 2])
        plan = conn.execute("EXPLAIN " + sql, params).fetchall()
        text = " ".join(row[0] for row in plan)
        assert "ix_spans_trace" in text, text
        assert "Filter" not in text, text


def test_sqlite_reads_a_trace_id_filter_through_the_trace_index(settings: Settings, client: TestClient) -> None:
    """With sampled statistics (the writer's ANALYZE) SQLite rated a window's time range as selective as
    a trace key, and listed and counted a trace's spans by reading the whole window (respan-tracing's
    read-back, 300 ms at 150k spans in an hour)."""
    if settings.database_url:
        pytest.skip("a SQLite query plan")
    now = time.time()
    logs = [
        {"model": "m", "trace_unique_id": f"t{i % 100}", "span_unique_id": f"s{i}", "timestamp": now - i / 10}
        for i in range(2000)
    ]
    _load_and_sample(settings, client, logs)
    engine, statements = _recording_engine(settings)
    scope = Scope(1, ("prod",))
    window = Window(int((now - 3600) * 1e6), int((now + 60) * 1e6))
    for values in (["t7"], ["t7", "t8"]):
        query = ListQuery(
            scope=scope,
            filter=parse_filters({"trace_unique_id": {"operator": "in", "value": values}}, SPANS),
            sort=Sort("timestamp", descending=True),
            page=PageRequest(1, 100),
            window=window,
            fields=None,
        )
        statements.clear()
        page = make_reads(engine).spans.list_spans(query, content=False)
        assert page.total == 20 * len(values)
        by_trace = [(sql, params) for sql, params in statements if "trace_unique_id" in sql.partition("WHERE")[2]]
        assert len(by_trace) == 2, statements  # the page and the count
        for sql, params in by_trace:
            plan = _sqlite_plan(settings, sql, list(params))
            assert "ix_spans_trace" in plan and "timestamp_us" not in plan, plan
    engine.dispose()


def test_sqlite_readers_reload_the_statistics_after_the_writer_analyzes(settings: Settings) -> None:
    """A SQLite connection reads the planner's statistics when it opens; pooled readers planned with
    those of a nearly empty table long after the writer's ANALYZE (a thread read in 8 or 400 ms). After
    a change a reader is a new connection, opened while the writer holds its lock: reloading in place
    (ANALYZE sqlite_schema) takes the write lock and waited for the writer."""
    if settings.database_url:
        pytest.skip("SQLite connections")
    engine = make_engine(settings)
    migrate.upgrade(engine)

    def reader() -> object:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM spans").scalar_one()
            return conn.connection.dbapi_connection

    first = reader()
    assert reader() is first  # statistics unchanged: the pooled connection stays
    writer = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the span writer mid-transaction, as under steady ingest
    try:
        statistics_changed()
        started = time.monotonic()
        second = reader()
        assert time.monotonic() - started < 1.0, "the reader waited for the writer's lock"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert second is not first
    assert reader() is second
    engine.dispose()


def test_the_derived_rows_a_worker_sends_back_survive_pickling() -> None:
    trace = TraceDelta(1, 2, 3, 4, span_count=2, cost_sum=0.5, name="root", model="gpt-4o")
    entity = EntityDelta(1, 2, n=3, extra={"customer_identifier": "c"})
    aggregate = Aggregate(n=3, latency_sum=1.5, hist={7: 2})
    for row in (trace, entity, aggregate):
        again = pickle.loads(pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL))
        assert again == row and again is not row


def test_postgres_writer_analyzes_only_the_columns_plans_read(settings: Settings, client: TestClient) -> None:
    """Statistics of every column (the metadata JSONB, the random ids) took the writer 1.2-1.5 s at 200k
    spans; what a plan estimates from is the indexed and commonly filtered columns."""
    if not settings.database_url:
        pytest.skip("PostgreSQL statistics")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM pg_statistic WHERE starelid IN ('spans'::regclass, 'traces'::regclass)")
    logs = [
        {"model": "m", "trace_unique_id": f"t{i}", "customer_identifier": f"c{i % 7}", "metadata": {"k": "v"}}
        for i in range(500)
    ]
    for _ in range(5):  # past the writer's first ANALYZE, at 2,000 spans, which runs before the answer
        assert client.post("/api/request-logs/bulk/", json={"logs": logs}).status_code == 201
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT tablename, attname FROM pg_stats WHERE schemaname = 'public'").fetchall()
    analyzed = {(table, column) for table, column in rows}
    for wanted in ("day", "timestamp_us", "trace_key", "customer_identifier", "cost", "model"):
        assert ("spans", wanted) in analyzed
    assert ("traces", "trace_key") in analyzed and ("span_tags", "tag") in analyzed
    for skipped in (("spans", "metadata"), ("spans", "unique_id"), ("traces", "trace_unique_id")):
        assert skipped not in analyzed


def test_a_list_page_counts_on_a_connection_of_its_own(settings: Settings, client: TestClient) -> None:
    """The total is counted while the page is read; a failed page returns its connections first."""
    now = time.time()
    logs = [{"model": "m", "customer_identifier": "busy", "timestamp": now - i} for i in range(120)]
    assert client.post("/api/request-logs/bulk/", json={"logs": logs}).status_code == 201
    engine = make_engine(settings)
    reads = make_reads(engine)
    threads: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *_: threads.append(threading.current_thread().name))
    query = ListQuery(
        scope=Scope(1, ("prod",)),
        filter=parse_filters({"customer_identifier": {"operator": "", "value": "busy"}}, SPANS),
        sort=Sort("timestamp", descending=True),
        page=PageRequest(2, 50),
        window=Window(int((now - 3600) * 1e6), int((now + 60) * 1e6)),
        fields=None,
    )
    page = reads.spans.list_spans(query, content=True)
    assert page.total == 120 and len(page.rows) == 50
    assert any(name.startswith("spanbase-count") for name in threads)
    assert any(not name.startswith("spanbase-count") for name in threads)

    def broken(*_: object, **__: object) -> list[dict[str, Any]]:
        raise RuntimeError("the page failed")

    reads.spans._rows = broken  # type: ignore[attr-defined]  # the SQL implementation of SpanReads
    with pytest.raises(RuntimeError, match="the page failed"):
        reads.spans.list_spans(query, content=True)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    engine.dispose()


def test_sqlite_reads_a_thread_through_its_index(settings: Settings, client: TestClient) -> None:
    """Ordered by time, SQLite's planner walked the organization's time index rather than sort the
    thread's rows found through the thread index: 390 ms for 50 spans over 26 days at 1M spans."""
    if settings.database_url:
        pytest.skip("a SQLite query plan")
    now = time.time()
    logs = [
        {"model": "m", "thread_identifier": f"th{i % 40}", "timestamp": now - i * 1800, "metadata": {"k": "v"}}
        for i in range(2000)
    ]
    _load_and_sample(settings, client, logs)
    engine, statements = _recording_engine(settings)
    reads = make_reads(engine)
    found = reads.entities.get_thread(Scope(1, ("prod",)), "th7")
    assert found is not None and len(found[1]) == 50
    by_thread = [(sql, params) for sql, params in statements if "thread_identifier = ?" in sql and "FROM spans" in sql]
    assert by_thread, statements
    for sql, params in by_thread:
        plan = _sqlite_plan(settings, sql, list(params))
        assert "ix_spans_thread" in plan and "timestamp_us" not in plan, plan
    engine.dispose()
