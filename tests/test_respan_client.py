"""The real `respan-api` 0.1.49 REST client (clients.md §3) against a real HTTP server on each store.

The app runs under uvicorn in a thread of this process, on a socket bound to a free port, so every byte
goes through the client's own httpx stack: its headers, its JSON encoding, its response parsing.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest
from respan import RespanClient
from respan.core.api_error import ApiError
from respan.errors import NotFoundError, UnprocessableEntityError

pytestmark = pytest.mark.slow


class Tenant(Protocol):
    """The conftest `tenant` fixture (tests/ is not a package, so its class is not importable)."""

    organization: str
    key: str
    environment: str


class RequestLog:
    """An httpx event hook that records every request the client sends (to count retries)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)


class Clients:
    """Makes RespanClients on the test server; closes their httpx connections at teardown."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http: list[httpx.Client] = []

    def make(self, key: str | None, *, authorization: str | None = None, log: RequestLog | None = None) -> RespanClient:
        hooks: dict[str, list[Any]] = {"request": [log]} if log is not None else {}
        http = httpx.Client(timeout=10, follow_redirects=True, event_hooks=hooks)
        self._http.append(http)
        return RespanClient(
            base_url=self.base_url,
            authorization=authorization if authorization is not None else f"Bearer {key}",
            respan_api_key=key,
            httpx_client=http,
        )

    def close(self) -> None:
        for http in self._http:
            http.close()


@pytest.fixture
def clients(base_url: str) -> Iterator[Clients]:
    factory = Clients(base_url)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def respan(clients: Clients, tenant: Tenant) -> RespanClient:
    return clients.make(tenant.key)


SPAN: dict[str, Any] = {
    "model": "gpt-4o",
    "log_type": "chat",
    "input": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2+2?"}],
    "output": {"role": "assistant", "content": "4"},
    "usage": {"prompt_tokens": 100, "completion_tokens": 20},
    "customer_identifier": "cust-42",
    "thread_identifier": "thread-7",
    "metadata": {"plan": "pro", "n": 3, "_internal": "hidden"},
    "trace_unique_id": "trace-abc",
    "span_name": "llm.call",
    "latency": 1.5,
    "generation_time": 9.9,  # latency wins over its alias
    "ttft": 0.25,
}
# gpt-4o: $2.50 / 1M input tokens, $10 / 1M output tokens
SPAN_COST = 100 * 2.5e-6 + 20 * 10e-6


def test_create_then_retrieve_round_trips(respan: RespanClient, tenant: Tenant) -> None:
    created = respan.spans.create_span(**SPAN)
    assert created.id is not None
    assert created.unique_id == created.id
    assert len(created.id) == 32
    assert created.status == "success"
    assert created.cost == pytest.approx(SPAN_COST)
    assert created.customer_identifier == "cust-42"
    assert created.environment == tenant.environment
    assert created.latency == 1.5
    assert created.time_to_first_token == 0.25
    assert created.timestamp is not None

    span = respan.spans.retrieve_span(created.id)
    assert span.id == created.id
    assert span.unique_id == created.id
    assert span.model == "gpt-4o"
    assert span.log_type == "chat"
    assert span.prompt_tokens == 100
    assert span.completion_tokens == 20
    assert span.total_request_tokens == 120
    assert span.cost is not None
    assert span.cost > 0
    assert span.cost == pytest.approx(SPAN_COST)
    assert span.customer_identifier == "cust-42"
    assert span.thread_identifier == "thread-7"
    assert span.trace_unique_id == "trace-abc"
    assert span.span_name == "llm.call"
    # Values are coerced to strings; keys starting with "_" are reserved and not returned.
    assert span.metadata == {"plan": "pro", "n": "3"}
    assert span.input == SPAN["input"]
    assert span.output == SPAN["output"]
    assert span.prompt_messages == SPAN["input"]
    assert span.completion_message == SPAN["output"]
    assert span.latency == 1.5
    assert span.time_to_first_token == 0.25
    assert span.environment == tenant.environment
    assert span.log_method == "logging_api"
    assert span.status == "success"
    assert span.status_code == 200


def test_authorization_argument_alone_authenticates(clients: Clients, tenant: Tenant) -> None:
    """Without respan_api_key the client sends `authorization` verbatim as the Authorization header."""
    client = clients.make(None, authorization=f"Bearer {tenant.key}")
    created = client.spans.create_span(model="gpt-4o-mini")
    assert client.spans.retrieve_span(created.id or "").model == "gpt-4o-mini"


def test_bulk_create_reports_the_bad_row_and_stores_the_others(respan: RespanClient) -> None:
    logs: list[dict[str, Any]] = [
        {"model": "gpt-4o", "trace_unique_id": "bulk-trace", "span_unique_id": "s0", "customer_identifier": "c0"},
        {"model": "gpt-4o", "temperature": "hot"},  # the bad one
        {"model": "gpt-4o-mini", "trace_unique_id": "bulk-trace", "span_unique_id": "s2", "latency": 0.5},
        {
            "model": "claude-3-5-sonnet-20241022",
            "input": "plain text in",
            "output": "plain text out",
            "log_type": "task",
        },
    ]
    raw = respan.spans.with_raw_response.bulk_create_spans(logs=logs)
    assert raw.status_code == 201
    result = raw.data
    assert result.success_count == 3
    assert result.error_count == 1
    assert len(result.errors) == 1
    assert result.errors[0].index == 1
    assert "temperature" in result.errors[0].error
    # The stored row answers a resend of its (trace, span) pair with what the bulk wrote.
    again = respan.spans.create_span(
        model="other",
        trace_unique_id="bulk-trace",
        request_options={"additional_body_parameters": {"span_unique_id": "s0"}},
    )
    span = respan.spans.retrieve_span(again.id or "")
    assert (span.model, span.customer_identifier, span.log_method) == ("gpt-4o", "c0", "batch")


def test_bulk_with_every_row_bad_is_a_422_with_the_bulk_envelope(respan: RespanClient) -> None:
    logs: list[dict[str, Any]] = [{"model": "m", "usage": {"prompt_tokens": "x"}}, {"model": "m", "status": "bogus"}]
    with pytest.raises(UnprocessableEntityError) as info:
        respan.spans.bulk_create_spans(logs=logs)
    body = info.value.body
    assert body["success_count"] == 0
    assert body["error_count"] == 2
    assert [e["index"] for e in body["errors"]] == [0, 1]
    assert "usage.prompt_tokens" in body["errors"][0]["error"]
    assert "status" in body["errors"][1]["error"]


def test_bulk_rows_are_retrievable_by_their_trace_and_span_ids(respan: RespanClient, tenant: Tenant) -> None:
    """Bulk rows with their own trace/span ids get deterministic ids: a resend through create lands on them."""
    logs: list[dict[str, Any]] = [
        {"model": "gpt-4o", "trace_unique_id": "t-1", "span_unique_id": "a", "usage": {"prompt_tokens": 7}},
        {"model": "gpt-4o", "trace_unique_id": "t-1", "span_unique_id": "b", "span_parent_id": "a"},
    ]
    result = respan.spans.bulk_create_spans(logs=logs)
    assert (result.success_count, result.error_count, result.errors) == (2, 0, [])
    # A resend of the first row through create answers the stored (first) write. create_span has no
    # span_unique_id argument: it goes through the client's extra body parameters.
    again = respan.spans.create_span(
        model="gpt-4o",
        trace_unique_id="t-1",
        request_options={"additional_body_parameters": {"span_unique_id": "a"}},
    )
    span = respan.spans.retrieve_span(again.id or "")
    assert span.span_unique_id == "a"
    assert span.prompt_tokens == 7
    assert span.log_method == "batch"


def test_retrieve_unknown_span_raises_not_found(respan: RespanClient) -> None:
    with pytest.raises(NotFoundError) as info:
        respan.spans.retrieve_span("0" * 32)
    assert info.value.status_code == 404
    assert isinstance(info.value.body["detail"], str)


@pytest.mark.parametrize("call", ["create", "bulk", "retrieve"])
def test_wrong_key_is_a_401_and_is_not_retried(clients: Clients, call: str) -> None:
    """respan-api 0.1.49's spans methods have no 401 branch: a 401 surfaces as the base ApiError (its
    UnauthorizedError is only raised by the gateway clients). 401 is not in the retried statuses, so
    exactly one request goes out and the call returns at once."""
    log = RequestLog()
    client = clients.make("sb_live_not-a-real-key", log=log)
    started = time.monotonic()
    with pytest.raises(ApiError) as info:
        if call == "create":
            client.spans.create_span(model="gpt-4o")
        elif call == "bulk":
            client.spans.bulk_create_spans(logs=[{"model": "gpt-4o"}])
        else:
            client.spans.retrieve_span("0" * 32)
    elapsed = time.monotonic() - started
    assert info.value.status_code == 401
    assert isinstance(info.value.body, dict)
    assert isinstance(info.value.body["detail"], str)
    assert info.value.headers is not None
    assert info.value.headers.get("www-authenticate") == "Bearer"
    assert len(log.requests) == 1
    assert log.requests[0].headers["authorization"] == "Bearer sb_live_not-a-real-key"
    assert elapsed < 5


# --------------------------------------------------------------------------------------------------------
# The same server over a raw socket: what no HTTP client library lets a test do.


def _exchange(base_url: str, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `head` (request line and headers, no body) and read one response; (status, headers, body)."""
    port = int(base_url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before a response: {data!r}"
            data += chunk
        raw_head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = raw_head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-body"
            body += chunk
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("expect_continue", [False, True])
@pytest.mark.parametrize("path", ["/api/request-logs/", "/api/request-logs/bulk/"])
def test_a_huge_declared_upload_is_refused_before_it_is_sent(
    base_url: str, tenant: Tenant, path: str, expect_continue: bool
) -> None:
    """A client announcing 1 TB gets its 413 at once, from the headers alone: the server does not wait
    for (or, with Expect: 100-continue, invite) a body it would refuse."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {tenant.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10**12}\r\n"
        + ("Expect: 100-continue\r\n" if expect_continue else "")
        + "\r\n"
    ).encode()
    status, headers, body = _exchange(base_url, head)
    assert status == 413, body
    assert headers["content-type"] == "application/json"
    detail = json.loads(body)
    assert set(detail) == {"detail"}
    assert isinstance(detail["detail"], str)


# --------------------------------------------------------------------------------------------------------
# Reading back (spec §2.3, §3.1, §3.2, §5) with the client's own pagers and response models.


def _trace(n: int, trace_id: str, base: datetime) -> list[dict[str, Any]]:
    """A root and n - 1 children, sent children first (as the tracers do), one customer, one thread."""
    spans: list[dict[str, Any]] = []
    for i in range(n):
        spans.append(
            {
                "model": "gpt-4o-mini",
                "trace_unique_id": trace_id,
                "span_unique_id": f"{trace_id}-s{i}",
                "span_parent_id": None if i == 0 else f"{trace_id}-s0",
                "span_name": "root" if i == 0 else f"step-{i}",
                "customer_identifier": "reader",
                "thread_identifier": "reading-thread",
                "metadata": {"kind": "read-test", "i": i},
                "usage": {"prompt_tokens": 10, "completion_tokens": 2},
                "timestamp": (base + timedelta(seconds=i)).isoformat(),
                "latency": 0.5,
            }
        )
    return list(reversed(spans))


def test_the_span_pager_reads_every_page_and_stops(respan: RespanClient) -> None:
    """The client's pager asks for page + 1 until a page comes back empty (clients.md §3)."""
    base = datetime.now(UTC) - timedelta(minutes=10)
    respan.spans.bulk_create_spans(logs=_trace(7, "paged-trace", base))
    pager = respan.spans.list_spans(
        page_size=2,
        start_time=base - timedelta(minutes=1),
        end_time=base + timedelta(minutes=1),
        filters={"trace_unique_id": {"operator": "", "value": ["paged-trace"]}},
    )
    rows = list(pager)
    assert len(rows) == 7
    assert {r["span_unique_id"] for r in rows} == {f"paged-trace-s{i}" for i in range(7)}
    assert all(r["metadata"] == {"kind": "read-test", "i": str(int(r["span_unique_id"][-1]))} for r in rows)


def test_retrieve_trace_gives_the_tree_the_client_parses(respan: RespanClient) -> None:
    base = datetime.now(UTC) - timedelta(minutes=10)
    respan.spans.bulk_create_spans(logs=_trace(4, "tree-trace", base))
    trace = respan.traces.retrieve_trace("tree-trace")
    assert trace.trace_unique_id == "tree-trace"
    assert trace.span_count == 4
    assert trace.customer_identifier == "reader"
    assert trace.root_span_unique_id == "tree-trace-s0"
    tree = trace.span_tree or []
    assert len(tree) == 1
    assert tree[0].span_unique_id == "tree-trace-s0"
    children = tree[0].children or []
    assert [c["span_unique_id"] for c in children] == ["tree-trace-s1", "tree-trace-s2", "tree-trace-s3"]
    listed = respan.traces.list_traces(
        start_time=base - timedelta(minutes=1),
        end_time=base + timedelta(minutes=1),
        sort_by="-span_count",
        filters={"customer_identifier": {"operator": "", "value": ["reader"]}},
    )
    assert [t.trace_unique_id for t in listed.results] == ["tree-trace"]
    assert listed.results[0].total_prompt_tokens == 40


def test_customers_are_listed_and_retrieved(respan: RespanClient) -> None:
    base = datetime.now(UTC) - timedelta(minutes=10)
    respan.spans.bulk_create_spans(logs=_trace(3, "customer-trace", base))
    rows = list(respan.users.list_customers(page_size=1, sort_by="-number_of_requests"))
    assert [r.customer_identifier for r in rows] == ["reader"]
    assert rows[0].number_of_requests == 3
    user = respan.users.retrieve_user("reader")
    assert user.customer_identifier == "reader"
