"""Bulk bodies parsed in a worker process give what parsing in the server's process gives: the same
stored spans, the same row errors, the same whole-body errors (400, 413, 422)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spanbase.app import create_app
from spanbase.ingest.parsers import PoolParser
from spanbase.ingest.pricing import PriceBook
from spanbase.settings import Settings
from spanbase.tuning import keep_freed_memory
from tests.conftest import make_tenant
from tests.test_otlp import hex_id, request_json, respan_trace, to_protobuf

BULK = "/api/request-logs/bulk/"
LOGS: list[dict[str, Any]] = [
    {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "a", "metadata": {"plan": "pro"}},
    {"model": "gpt-4o", "temperature": "hot"},  # a bad row
    {"model": "gpt-4o-mini", "customer_identifier": "c", "usage": {"prompt_tokens": 5, "completion_tokens": 1}},
]


@pytest.fixture
def pooled(settings: Settings) -> Iterator[TestClient]:
    tenant = make_tenant(settings)
    app = create_app(dataclasses.replace(settings, parse_workers=1), say=lambda _: None)
    with TestClient(app, headers=tenant.headers) as c:
        yield c


def _stored(client: TestClient) -> list[dict[str, Any]]:
    rows = client.post("/api/request-logs/list/?sort_by=model", json={}).json()["results"]
    drop = {"id", "unique_id", "organization_id", "timestamp", "start_time", "created_us", "organization_key_id"}
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def test_a_worker_parses_as_the_server_does(client: TestClient, pooled: TestClient) -> None:
    inline = client.post(BULK, json={"logs": LOGS})
    worker = pooled.post(BULK, json={"logs": LOGS})
    assert (inline.status_code, worker.status_code) == (201, 201)
    assert inline.json() == worker.json()
    assert worker.json()["errors"][0]["index"] == 1
    assert _stored(client) == _stored(pooled)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"logs": "no"}', 422),
        (b'{"logs": []}', 422),
    ],
)
def test_errors_of_the_whole_body_come_back_from_the_worker(
    client: TestClient, pooled: TestClient, body: bytes, status: int
) -> None:
    headers = {"content-type": "application/json"}
    inline = client.post(BULK, content=body, headers=headers)
    worker = pooled.post(BULK, content=body, headers=headers)
    assert (inline.status_code, worker.status_code) == (status, status)
    assert inline.json() == worker.json()


def test_a_span_over_the_limit_is_a_413_from_the_worker(settings: Settings) -> None:
    tenant = make_tenant(settings)
    app = create_app(dataclasses.replace(settings, parse_workers=1, max_span_bytes=1000), say=lambda _: None)
    with TestClient(app, headers=tenant.headers) as c:
        r = c.post(BULK, json={"logs": [{"model": "m", "input": "x" * 5000}]})
    assert r.status_code == 413
    assert "1000 byte limit" in r.json()["detail"]


def _derived(client: TestClient, trace: str) -> dict[str, Any]:
    """What the derived tables say of one trace: the trace row, the summary, the thread, the customer,
    and a metadata filter (the tags)."""
    window = "start_time=2000-01-01T00:00:00Z&end_time=2100-01-01T00:00:00Z"
    drop = {"organization_id", "unique_organization_id", "organization_key_id", "id", "unique_id"}

    def clean(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in drop}

    traces = client.post(f"/api/traces/list/?{window}", json={}).json()["results"]
    summary = client.post(f"/api/request-logs/summary/?{window}", json={}).json()
    tagged = client.post(f"/api/request-logs/list/?{window}", json={"filters": {"metadata__plan": {"value": "pro"}}})
    tree = client.get(f"/api/traces/{trace}/").json()
    return {
        "traces": [clean(t) for t in traces],
        "summary": summary,
        "threads": [clean(t) for t in client.post("/api/log_threads/", json={}).json()["results"]],
        "customers": [clean(c) for c in client.post("/api/users/list/", json={}).json()["results"]],
        "tagged": tagged.json()["total_count"],
        "root": tree["span_tree"][0]["span_name"],
    }


def test_what_a_worker_derives_is_what_the_server_derives(client: TestClient, pooled: TestClient) -> None:
    """The worker also derives the batch's trace, thread, customer, rollup and tag rows; they name the
    batch's spans (tags, trace roots) by place across the trip back, and come out as the server's own."""
    trace = hex_id(16)
    spans, _ = respan_trace(trace)
    body = to_protobuf(request_json(spans))
    for c in (client, pooled):
        r = c.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200, r.text
    inline, worker = _derived(client, trace), _derived(pooled, trace)
    assert inline == worker
    assert worker["tagged"] == 3 and worker["root"] == "answer"
    assert len(worker["traces"]) == 1 and worker["traces"][0]["span_count"] == 3


def test_the_workers_run_at_the_niceness_they_are_given() -> None:
    pool = PoolParser(1, PriceBook(), nice=5)
    try:
        asyncio.run(pool.start())
        assert pool._pool.submit(os.nice, 0).result(timeout=60) == min(os.nice(0) + 5, 19)
    finally:
        pool.close()


def test_the_parse_worker_niceness_is_a_setting() -> None:
    assert Settings.from_env({}).parse_worker_nice == 10
    assert Settings.from_env({"SPANBASE_PARSE_WORKER_NICE": "0"}).parse_worker_nice == 0
    with pytest.raises(ValueError, match="SPANBASE_PARSE_WORKER_NICE"):
        Settings.from_env({"SPANBASE_PARSE_WORKER_NICE": "20"})


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's mallopt")
def test_the_allocator_keeps_freed_memory_on_glibc() -> None:
    assert keep_freed_memory()
