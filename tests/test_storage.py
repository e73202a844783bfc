"""Storage details that decide ingest speed at scale; each one was a measured slowdown before."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from fastapi.testclient import TestClient

from spanbase.settings import Settings
from spanbase.storage.sql.derived import trace_select
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
