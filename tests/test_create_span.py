"""POST /api/request-logs/ and its aliases, GET /api/request-logs/{unique_id}/: the create-span contract."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from spanbase.settings import Settings

CREATE_PATHS = [
    "/api/request-logs/",
    "/api/request-logs",
    "/api/request-logs/create/",
    "/api/request-logs/create",
    "/api/logs/create/",
    "/api/logs/create",
]


def create(client: TestClient, body: dict[str, Any], path: str = "/api/request-logs/") -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    created: dict[str, Any] = r.json()
    return created


def retrieve(client: TestClient, unique_id: str) -> dict[str, Any]:
    r = client.get(f"/api/request-logs/{unique_id}/")
    assert r.status_code == 200, r.text
    span: dict[str, Any] = r.json()
    return span


@pytest.mark.parametrize("path", CREATE_PATHS)
def test_every_create_path_answers_without_redirect(client: TestClient, path: str) -> None:
    r = client.post(path, json={"model": "gpt-4o"}, follow_redirects=False)
    assert r.status_code == 200, r.text
    body = r.json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["unique_id"])
    assert body["id"] == body["unique_id"]
    for key in ("status", "cost", "timestamp", "customer_identifier", "organization_id"):
        assert key in body


def test_seed_example_span_round_trips(client: TestClient) -> None:
    """The first span of the seed page "Bulk create spans", sent alone."""
    body = {
        "model": "gpt-4o",
        "prompt_messages": [{"role": "user", "content": "What is 2+2?"}],
        "completion_message": {"role": "assistant", "content": "4"},
        "usage": {"prompt_tokens": 10, "completion_tokens": 1},
    }
    created = create(client, body)
    assert created["status"] == "success"
    span = retrieve(client, created["unique_id"])
    assert span["id"] == created["unique_id"]
    assert span["model"] == "gpt-4o"
    assert span["input"] == [{"role": "user", "content": "What is 2+2?"}]
    assert span["output"] == {"role": "assistant", "content": "4"}
    assert span["prompt_messages"] == body["prompt_messages"]
    assert span["completion_message"] == body["completion_message"]
    assert span["prompt_tokens"] == 10
    assert span["completion_tokens"] == 1
    assert span["total_request_tokens"] == 11
    assert span["log_method"] == "logging_api"
    assert span["environment"] == "prod"
    # gpt-4o: $2.50 / 1M input, $10 / 1M output
    assert span["cost"] == pytest.approx(10 * 2.5e-6 + 1 * 10e-6)


def test_every_field_of_the_schema_is_stored_and_returned(client: TestClient) -> None:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "log_type": "chat",
        "input": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "output": {"role": "assistant", "content": "hello", "tool_calls": [{"id": "c1", "type": "function"}]},
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        "cost": 0.5,
        "latency": 1.25,
        "time_to_first_token": 0.3,
        "tokens_per_second": 42.0,
        "metadata": {"plan": "pro", "n": 3},
        "properties": {"score": 0.9, "tags": ["a"]},
        "variables": {"name": "Ada"},
        "customer_identifier": "cust-1",
        "customer_params": {"customer_identifier": "ignored", "name": "Ada L", "email": "ada@example.com"},
        "thread_identifier": "thread-1",
        "custom_identifier": "custom-1",
        "group_identifier": "group-1",
        "trace_unique_id": "trace-1",
        "span_unique_id": "span-1",
        "span_workflow_name": "wf",
        "span_name": "step",
        "span_parent_id": "parent-1",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "temperature": 0.2,
        "top_p": 0.9,
        "frequency_penalty": 0.1,
        "presence_penalty": -0.1,
        "max_tokens": 256,
        "stop": ["\n"],
        "status_code": 200,
        "warnings": "token usage estimated",
        "stream": True,
        "prompt_id": "p-1",
        "prompt_name": "greeting",
        "is_custom_prompt": True,
        "timestamp": "2025-05-01T12:00:01.250000Z",
        "start_time": "2025-05-01T12:00:00Z",
        "full_request": {"model": "gpt-4o-mini"},
        "full_response": {"id": "chatcmpl-1"},
        "positive_feedback": True,
        "session_identifier": "session-1",
        "ttft": 9.9,  # the canonical time_to_first_token wins over its alias
        "generation_time": 9.9,  # likewise for latency
    }
    span = retrieve(client, create(client, body)["unique_id"])
    expected = {k: v for k, v in body.items() if k not in ("ttft", "generation_time", "metadata", "customer_params")}
    expected.update(
        timestamp="2025-05-01T12:00:01.250000Z",
        start_time="2025-05-01T12:00:00Z",
        customer_email="ada@example.com",
        customer_name="Ada L",
        has_tool_calls=True,
        total_request_tokens=15,
        prompt_tokens=12,
        completion_tokens=3,
    )
    for key, value in expected.items():
        assert span[key] == value, key
    assert span["metadata"] == {"plan": "pro", "n": "3"}  # metadata values are strings
    assert span["customer_params"]["email"] == "ada@example.com"


def test_timestamps_and_latency(client: TestClient) -> None:
    # All three given: stored as given, even when they disagree.
    span = retrieve(
        client,
        create(
            client,
            {"model": "m", "timestamp": "2025-01-01T00:00:10Z", "start_time": "2025-01-01T00:00:00Z", "latency": 3},
        )["unique_id"],
    )
    assert (span["timestamp"], span["start_time"], span["latency"]) == (
        "2025-01-01T00:00:10Z",
        "2025-01-01T00:00:00Z",
        3.0,
    )
    # Missing latency: from the two times.
    span = retrieve(
        client,
        create(client, {"model": "m", "timestamp": "2025-01-01T00:00:10Z", "start_time": "2025-01-01T00:00:04Z"})[
            "unique_id"
        ],
    )
    assert span["latency"] == 6.0
    # Missing start: timestamp - latency; a zone-less timestamp is UTC.
    span = retrieve(
        client, create(client, {"model": "m", "timestamp": "2025-01-01T00:00:10", "latency": 2.5})["unique_id"]
    )
    assert (span["timestamp"], span["start_time"]) == ("2025-01-01T00:00:10Z", "2025-01-01T00:00:07.500000Z")
    # Missing timestamp: start + latency.
    span = retrieve(
        client, create(client, {"model": "m", "start_time": "2025-01-01T00:00:00+02:00", "latency": 1})["unique_id"]
    )
    assert span["timestamp"] == "2024-12-31T22:00:01Z"


def test_resend_with_trace_and_span_ids_is_stored_once(client: TestClient) -> None:
    first = {"model": "gpt-4o", "trace_unique_id": "t-1", "span_unique_id": "s-1", "customer_identifier": "first"}
    again = dict(first, customer_identifier="second")
    a = create(client, first)
    b = create(client, again)
    assert a["unique_id"] == b["unique_id"]
    assert b["customer_identifier"] == "first"  # the first write stands
    r = client.post("/api/request-logs/bulk/", json={"logs": [again, again, dict(again, span_unique_id="s-2")]})
    assert r.status_code == 201
    assert r.json() == {"success_count": 3, "error_count": 0, "errors": []}
    assert retrieve(client, a["unique_id"])["customer_identifier"] == "first"


def test_spans_without_both_ids_are_never_merged(client: TestClient) -> None:
    a = create(client, {"model": "m", "trace_unique_id": "t-9"})
    b = create(client, {"model": "m", "trace_unique_id": "t-9"})
    assert a["unique_id"] != b["unique_id"]


def test_retrieve_unknown_span_is_404(client: TestClient) -> None:
    r = client.get("/api/request-logs/0123456789abcdef0123456789abcdef/")
    assert r.status_code == 404
    assert "detail" in r.json()


def test_postgres_writer_survives_a_lost_connection(settings: Settings, client: TestClient) -> None:
    """A PostgreSQL restart or failover must not kill the writer thread: the next write reconnects."""
    if not settings.database_url:
        pytest.skip("PostgreSQL only: the SQLite writer has no server connection to lose")
    with psycopg.connect(settings.database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    # The write that meets the dead connection fails cleanly (503, not acknowledged) or succeeds
    # on a fresh one; the one after it succeeds either way.
    first = client.post("/api/request-logs/", json={"model": "m"})
    assert first.status_code in (200, 503)
    created = create(client, {"model": "m", "customer_identifier": "after-restart"})
    assert retrieve(client, created["unique_id"])["customer_identifier"] == "after-restart"
