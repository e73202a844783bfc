"""Storage details that decide ingest speed at scale; each one was a measured slowdown before."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from fastapi.testclient import TestClient

from spanbase.settings import Settings
from spanbase.storage.sql.spans import PostgresBatchWriter, SqliteBatchWriter


def test_sqlite_resend_lookup_uses_the_trace_index(settings: Settings, client: TestClient) -> None:
    """Given org_id and environment, SQLite's planner preferred the time index and scanned all of an
    organization's spans on every commit: 2,800 spans/s at a million spans instead of a steady rate."""
    if settings.database_url:
        pytest.skip("a SQLite query plan")
    r = client.post(
        "/api/request-logs/bulk/", json={"logs": [{"model": "m", "trace_unique_id": "t", "span_unique_id": "s"}]}
    )
    assert r.status_code == 201
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        writer = SqliteBatchWriter(conn)
        sql = writer._statement("lookup", 3)
        plan = " ".join(str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (1, 2, 3)))
    finally:
        conn.close()
    assert "ix_spans_trace_key" in plan, plan


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


def test_postgres_resend_lookup_uses_the_trace_index_even_with_stale_statistics(
    settings: Settings, client: TestClient
) -> None:
    """The same on PostgreSQL, whose statistics of a table that grew fast said "one row per organization".

    On a table this small a sequential scan is the right plan, so the test forbids it: what it checks is
    that the trace index can serve the lookup at all (the varchar column compared as text, say)."""
    if not settings.database_url:
        pytest.skip("a PostgreSQL query plan")
    logs = [{"model": "m", "trace_unique_id": f"t{i}", "span_unique_id": "s"} for i in range(300)]
    assert client.post("/api/request-logs/bulk/", json={"logs": logs}).status_code == 201
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute("EXPLAIN " + PostgresBatchWriter._lookup_sql, ([1, 2],)).fetchall()
    text = " ".join(row[0] for row in plan)
    assert "ix_spans_trace_key" in text, text
