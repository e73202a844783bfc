"""Traces (spec §3.1-3.5, §13.6): their fields, filters and sorts; GET with the span tree, whatever order
and shape the spans come in; deleting one trace or many, and every derived figure after it; tenancy.

Every expected value is computed here from the spans the test sent (`expected_trace`), never read back
from the server first.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from spanbase.settings import Settings
from tests.conftest import Tenant, make_tenant

Span = dict[str, Any]
Json = dict[str, Any]

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# A window holding every span these tests send at fixed times (T0 - 1 day .. T0 + 4 days).
WINDOW = {"start_time": "2025-02-28T00:00:00Z", "end_time": "2025-03-05T12:00:00Z"}
LLM_TYPES = frozenset({"chat", "completion", "response", "embedding"})


# ------------------------------------------------------------------------------------------- helpers


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def span(
    trace: str,
    sid: str,
    parent: str | None = None,
    *,
    start: float = 0.0,
    latency: float = 1.0,
    cost: float = 0.0,
    prompt: int = 0,
    completion: int = 0,
    **extra: Any,
) -> Span:
    """A span starting `start` seconds after T0 and lasting `latency` seconds."""
    body: Span = {
        "model": "gpt-4o",
        "log_type": "chat",
        "trace_unique_id": trace,
        "span_unique_id": sid,
        "span_parent_id": parent,
        "span_name": f"name-{sid}",
        "start_time": iso(start),
        "latency": latency,
        "cost": cost,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
    }
    body.update(extra)
    return body


def bulk(client: TestClient, spans: Sequence[Span], headers: dict[str, str] | None = None) -> None:
    for i in range(0, len(spans), 500):
        r = client.post("/api/request-logs/bulk/", json={"logs": list(spans[i : i + 500])}, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["error_count"] == 0, r.text


def list_traces(
    client: TestClient,
    filters: Any = None,
    *,
    window: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **query: Any,
) -> Json:
    params: dict[str, Any] = dict(WINDOW if window is None else window)
    params.setdefault("page_size", 1000)
    params.update(query)
    body = {} if filters is None else {"filters": filters}
    r = client.post("/api/traces/list/", params=params, json=body, headers=headers)
    assert r.status_code == 200, r.text
    found: Json = r.json()
    return found


def trace_ids(client: TestClient, filters: Any = None, **query: Any) -> list[str]:
    return [t["trace_unique_id"] for t in list_traces(client, filters, **query)["results"]]


def get_trace(client: TestClient, trace_id: str, headers: dict[str, str] | None = None, **query: Any) -> Json:
    r = client.get(f"/api/traces/{trace_id}/", params=query, headers=headers)
    assert r.status_code == 200, r.text
    found: Json = parse_deep_json(r.text)
    return found


def list_spans(client: TestClient, filters: Any = None, **query: Any) -> Json:
    params: dict[str, Any] = {**WINDOW, "page_size": 1000, **query}
    r = client.post("/api/request-logs/list/", params=params, json={} if filters is None else {"filters": filters})
    assert r.status_code == 200, r.text
    found: Json = r.json()
    return found


def summary(client: TestClient, filters: Any = None) -> Json:
    body = {} if filters is None else {"filters": filters}
    r = client.post("/api/request-logs/summary/", params=WINDOW, json=body)
    assert r.status_code == 200, r.text
    found: Json = r.json()
    return found


def eq(value: Any) -> Json:
    return {"operator": "", "value": [value]}


def op(operator: str, value: Any) -> Json:
    return {"operator": operator, "value": [value]}


_TOKEN = re.compile(
    r'\s*(?:("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([\[\]{},:]))', re.DOTALL
)
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


def parse_deep_json(text: str) -> Any:
    """json.loads without recursion: a span tree nests thousands of levels, past any recursive decoder."""
    stack: list[Any] = []
    keys: list[str | None] = []
    done: list[Any] = []

    def put(value: Any) -> None:
        if not stack:
            done.append(value)
        elif isinstance(stack[-1], list):
            stack[-1].append(value)
        else:
            key = keys[-1]
            assert key is not None, "a value without a key"
            stack[-1][key] = value

    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        assert m is not None, f"invalid JSON at {pos}: {text[pos : pos + 40]!r}"
        pos = m.end()
        string, number, literal, punct = m.groups()
        if string is not None:
            decoded = json.loads(string)
            if stack and isinstance(stack[-1], dict) and keys[-1] is None:
                keys[-1] = decoded
            else:
                put(decoded)
        elif number is not None:
            put(float(number) if any(c in number for c in ".eE") else int(number))
        elif literal is not None:
            put(_LITERALS[literal])
        elif punct in "[{":
            stack.append([] if punct == "[" else {})
            keys.append(None)
        elif punct in "]}":
            value = stack.pop()
            keys.pop()
            put(value)
        elif punct == "," and isinstance(stack[-1], dict):
            keys[-1] = None
    assert not stack and len(done) == 1, "unbalanced JSON"
    return done[0]


def walk(roots: Sequence[Json]) -> Iterator[tuple[Json, Json | None, int]]:
    """Every node of a span tree, depth first: (node, its parent node or None, depth). No recursion."""
    stack: list[tuple[Json, Json | None, int]] = [(n, None, 0) for n in reversed(roots)]
    while stack:
        node, parent, depth = stack.pop()
        yield node, parent, depth
        stack.extend((c, node, depth + 1) for c in reversed(node["children"]))


def placement(roots: Sequence[Json]) -> dict[str, str | None]:
    """span_unique_id -> the span_unique_id it is shown under (None at the root); each span once."""
    out: dict[str, str | None] = {}
    for node, parent, _ in walk(roots):
        sid = node["span_unique_id"]
        assert sid not in out, f"span {sid} shown twice"
        out[sid] = None if parent is None else parent["span_unique_id"]
    return out


def assert_siblings_in_start_order(roots: Sequence[Json]) -> None:
    levels: list[Sequence[Json]] = [roots]
    levels.extend(node["children"] for node, _, _ in walk(roots))
    for siblings in levels:
        starts = [when(n["start_time"]) for n in siblings]
        assert starts == sorted(starts), [n["span_unique_id"] for n in siblings]


def expected_placement(spans: Sequence[Span]) -> dict[str, str | None]:
    """Where each span belongs: under its parent when the parent was sent, else at the root."""
    ids = {s["span_unique_id"] for s in spans}
    return {s["span_unique_id"]: (s["span_parent_id"] if s["span_parent_id"] in ids else None) for s in spans}


def first_writes(spans: Sequence[Span]) -> list[Span]:
    """The spans as stored: a resend of (trace, span) ids is stored once, the first write standing."""
    seen: dict[tuple[str, str], Span] = {}
    for s in spans:
        seen.setdefault((s["trace_unique_id"], s["span_unique_id"]), s)
    return list(seen.values())


def is_error(s: Span) -> bool:
    return bool(s.get("status_code", 200) >= 400 or s.get("error_message") or s.get("status") == "error")


def tokens(s: Span) -> tuple[int, int]:
    usage = s.get("usage") or {}
    return int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


def expected_trace(spans: Sequence[Span]) -> Json:
    """A trace's fields, from the spans sent (first writes): what GET and the list must say."""
    stored = first_writes(spans)
    starts = [when(s["start_time"]) for s in stored]
    ends = [when(s["start_time"]) + timedelta(seconds=s["latency"]) for s in stored]
    roots = [s for s in stored if not s.get("span_parent_id")]
    root = roots[0] if roots else None
    prompt = sum(tokens(s)[0] for s in stored)
    completion = sum(tokens(s)[1] for s in stored)
    out: Json = {
        "trace_unique_id": stored[0]["trace_unique_id"],
        "start_time": min(starts),
        "end_time": max(ends),
        "duration": (max(ends) - min(starts)).total_seconds(),
        "span_count": len(stored),
        "llm_call_count": sum(1 for s in stored if s.get("log_type", "chat") in LLM_TYPES),
        "error_count": sum(1 for s in stored if is_error(s)),
        "total_cost": sum(s["cost"] for s in stored),
        "total_prompt_tokens": prompt,
        "total_completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if root is not None:
        out.update(
            root_span_unique_id=root["span_unique_id"],
            name=root["span_name"],
            customer_identifier=root.get("customer_identifier"),
            thread_identifier=root.get("thread_identifier"),
            model=root["model"],
        )
    return out


def assert_trace(got: Json, expected: Json) -> None:
    for key, value in expected.items():
        if key in ("start_time", "end_time"):
            assert when(got[key]) == value, (key, got[key], value)
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=1e-9), (key, got[key], value)
        else:
            assert got[key] == value, (key, got[key], value)


def _count(a: Callable[[Span], Any], spans: Sequence[Span]) -> Any:
    return sum(a(s) for s in spans)


def assert_span_figures(got: Json, spans: Sequence[Span], count_key: str) -> None:
    """Requests, cost and tokens of a summary, customer or thread row: those of `spans`."""
    assert got[count_key] == len(spans), (count_key, got[count_key], len(spans))
    assert got["total_cost"] == pytest.approx(_count(lambda s: s["cost"], spans), abs=1e-9)
    prompt = _count(lambda s: tokens(s)[0], spans)
    completion = _count(lambda s: tokens(s)[1], spans)
    assert got["total_prompt_tokens"] == prompt
    assert got["total_completion_tokens"] == completion
    assert got["total_tokens"] == prompt + completion


# ---------------------------------------------------------------------------------- trace fields


def _agent_trace(trace: str = "agent-1") -> list[Span]:
    """A root workflow span and four children: two LLM calls (one failed), a tool call, and one that
    ends after the root does."""
    return [
        span(trace, "c1", "root", start=1, latency=2, cost=0.011, prompt=100, completion=20, customer_identifier="x"),
        span(
            trace,
            "c2",
            "root",
            start=4,
            latency=3,
            cost=0.022,
            prompt=50,
            completion=5,
            status_code=500,
            error_message="upstream exploded",
            thread_identifier="child-thread",
        ),
        span(trace, "c3", "root", start=5, latency=0.5, cost=0.0, log_type="tool", model="", span_name="search"),
        span(trace, "g1", "c3", start=5.1, latency=0.2, cost=0.004, prompt=7, completion=3, model="claude-x"),
        span(trace, "late", "root", start=12, latency=1.5, cost=0.001, prompt=1, completion=1),
        span(
            trace,
            "root",
            None,
            start=0,
            latency=10,
            cost=0.0,
            log_type="workflow",
            model="agent-model",
            span_name="agent-run",
            customer_identifier="cust-1",
            thread_identifier="thread-1",
            metadata={"plan": "pro", "_internal": "hidden"},
            input="what is the weather?",
            output={"answer": "sunny"},
        ),
    ]


def test_trace_fields_in_the_list_and_on_get(client: TestClient) -> None:
    spans = _agent_trace()
    # The children first, the root in a later request: the root's fields still name the trace.
    bulk(client, spans[:3])
    bulk(client, spans[3:5])
    bulk(client, spans[5:])
    expected = expected_trace(spans)
    assert expected["duration"] == 13.5 and expected["error_count"] == 1 and expected["llm_call_count"] == 4

    listed = list_traces(client)
    assert listed["count"] == listed["total_count"] == 1
    (row,) = listed["results"]
    assert_trace(row, expected)
    assert row["id"] == "agent-1"
    assert row["environment"] == "prod"
    assert row["metadata"] == {"plan": "pro"}  # the root's, "_" keys hidden (spec §1.7)
    assert row["input"] == "what is the weather?"
    assert json.loads(row["output"]) == {"answer": "sunny"}

    got = get_trace(client, "agent-1")
    assert_trace(got, expected)
    assert {k: v for k, v in got.items() if k != "span_tree"} == row
    assert placement(got["span_tree"]) == expected_placement(spans)
    nodes = {n["span_unique_id"]: n for n, _, _ in walk(got["span_tree"])}
    failed = nodes["c2"]
    assert failed["status"] == "failed" and failed["status_code"] == 500
    assert failed["cost"] == pytest.approx(0.022) and failed["prompt_tokens"] == 50
    assert failed["completion_tokens"] == 5 and failed["total_request_tokens"] == 55
    assert failed["trace_unique_id"] == "agent-1" and failed["span_parent_id"] == "root"
    assert failed["thread_identifier"] == "child-thread"
    assert nodes["g1"]["model"] == "claude-x"
    assert nodes["root"]["input"] == "what is the weather?"
    assert nodes["root"]["metadata"] == {"plan": "pro"}
    for sid, node in nodes.items():
        s = next(x for x in spans if x["span_unique_id"] == sid)
        assert when(node["start_time"]) == when(s["start_time"])
        assert when(node["end_time"]) == when(s["start_time"]) + timedelta(seconds=s["latency"])
        assert re.fullmatch(r"[0-9a-f]{32}", node["unique_id"]) and node["id"] == node["unique_id"]
    # Each node's unique_id is the span's own: it opens the span.
    r = client.get(f"/api/request-logs/{nodes['c2']['unique_id']}/")
    assert r.status_code == 200 and r.json()["span_unique_id"] == "c2"


def test_the_trace_thread_is_the_root_spans_even_when_it_has_none(client: TestClient) -> None:
    bulk(client, [span("t", "kid", "r", start=1, thread_identifier="kid-thread")])
    assert get_trace(client, "t")["thread_identifier"] == "kid-thread"  # no root yet: the first one seen
    bulk(client, [span("t", "r", None, start=0)])
    got = get_trace(client, "t")
    assert got["root_span_unique_id"] == "r"
    assert got["thread_identifier"] is None
    assert list_traces(client, {"thread_identifier": eq("kid-thread")})["count"] == 0


def test_a_resend_adds_nothing_to_the_trace(client: TestClient) -> None:
    spans = _agent_trace()
    bulk(client, [*spans, dict(spans[0], cost=7.0)])  # twice in one request: the first one stands
    again = [dict(s, cost=9.0, span_name="changed", usage={"prompt_tokens": 999}) for s in spans[:3]]
    bulk(client, again)
    bulk(client, spans[-1:])  # the root once more, in a request of its own
    got = get_trace(client, "agent-1")
    assert_trace(got, expected_trace(spans))
    assert placement(got["span_tree"]) == expected_placement(spans)
    names = {n["span_unique_id"]: n["span_name"] for n, _, _ in walk(got["span_tree"])}
    assert names["c1"] == "name-c1"


def test_unknown_trace_is_404(client: TestClient) -> None:
    r = client.get("/api/traces/no-such-trace/")
    assert r.status_code == 404
    assert isinstance(r.json()["detail"], str)


def test_trace_ids_with_unusual_characters(client: TestClient) -> None:
    # (No "%": the test client decodes a path twice, a server does not.)
    ids = ["with space", "slash/inside", "ünïcode-✓", "q?and#hash", "a+b"]
    bulk(client, [span(t, "s", None, start=i) for i, t in enumerate(ids)])
    assert sorted(trace_ids(client)) == sorted(ids)
    for t in ids:
        got = client.get(f"/api/traces/{quote(t, safe='/')}/")
        assert got.status_code == 200, (t, got.text)
        assert got.json()["trace_unique_id"] == t
    r = client.delete("/api/traces/slash/inside/")
    assert r.status_code == 200 and r.json()["deleted_count"] == 1
    assert sorted(trace_ids(client)) == sorted(t for t in ids if t != "slash/inside")


# ----------------------------------------------------------------------------- filters and sorts


def _population() -> dict[str, list[Span]]:
    """Six traces whose every sortable figure differs from trace to trace."""
    traces: dict[str, list[Span]] = {
        "t-small": [
            span("t-small", "r", start=0, latency=1, cost=0.001, prompt=10, completion=1, customer_identifier="ann"),
        ],
        "t-errors": [
            span("t-errors", "r", start=100, latency=2, cost=0.002, prompt=20, completion=2, customer_identifier="bob"),
            span("t-errors", "a", "r", start=100.5, latency=1, cost=0.003, status_code=500, error_message="x"),
            span("t-errors", "b", "r", start=101, latency=0.5, cost=0.0, status_code=429, log_type="tool"),
        ],
        "t-long": [
            span(
                "t-long",
                "r",
                start=200,
                latency=60,
                cost=0.05,
                prompt=500,
                completion=100,
                log_type="workflow",
                customer_identifier="ann",
                thread_identifier="th-long",
                span_name="agent-b",
                metadata={"plan": "pro"},
            ),
            span("t-long", "a", "r", start=201, latency=10, cost=0.07, prompt=300, completion=200, model="claude-x"),
        ],
        "t-wide": [
            span("t-wide", "r", start=300, latency=5, cost=0.0, log_type="workflow", customer_identifier="cy"),
            *(
                span("t-wide", f"k{i}", "r", start=300 + i * 0.1, latency=0.2, cost=0.004, prompt=3, completion=4)
                for i in range(8)
            ),
        ],
        "t-pricey": [
            span(
                "t-pricey",
                "r",
                start=400,
                latency=3,
                cost=1.5,
                prompt=2000,
                completion=40,
                customer_identifier="dee",
                thread_identifier="th-p",
                metadata={"plan": "free"},
            ),
            span("t-pricey", "a", "r", start=401, latency=1.5, cost=0.25, prompt=5, completion=6, span_name="rerank"),
        ],
        "t-orphan": [
            # No root ever arrives: the trace has no root span, and its spans still count.
            span("t-orphan", "a", "ghost", start=500, latency=4, cost=0.006, prompt=1, completion=2),
            span("t-orphan", "b", "ghost", start=500.5, latency=0.25, cost=0.007, prompt=3, completion=9),
            span("t-orphan", "c", "ghost", start=501, latency=0.1, cost=0.008, prompt=1, completion=1),
            span("t-orphan", "d", "ghost", start=501.5, latency=0.1, cost=0.009, prompt=1, completion=1),
        ],
    }
    return traces


@pytest.fixture
def population(client: TestClient) -> dict[str, Json]:
    traces = _population()
    everything = [s for spans in traces.values() for s in spans]
    random.Random(7).shuffle(everything)  # out of order, across requests
    bulk(client, everything[:9])
    bulk(client, everything[9:])
    return {t: expected_trace(spans) for t, spans in traces.items()}


def test_every_trace_field_in_the_list(client: TestClient, population: dict[str, Json]) -> None:
    listed = list_traces(client)
    assert listed["count"] == len(population)
    by_id = {t["trace_unique_id"]: t for t in listed["results"]}
    assert set(by_id) == set(population)
    for trace, expected in population.items():
        assert_trace(by_id[trace], expected)
    assert by_id["t-orphan"]["root_span_unique_id"] is None


FILTER_CASES: list[tuple[str, Any, Callable[[Json], bool]]] = [
    ("span_count", {"span_count": op("gte", 3)}, lambda t: t["span_count"] >= 3),
    ("span_count eq", {"span_count": eq(1)}, lambda t: t["span_count"] == 1),
    ("total_cost", {"total_cost": op("gt", 0.1)}, lambda t: t["total_cost"] > 0.1),
    (
        "total_cost range",
        {"total_cost": [op("gte", 0.01), op("lt", 0.5)]},
        lambda t: 0.01 <= t["total_cost"] < 0.5,
    ),
    ("error_count", {"error_count": op("gte", 1)}, lambda t: t["error_count"] >= 1),
    ("no errors", {"error_count": eq(0)}, lambda t: t["error_count"] == 0),
    ("duration", {"duration": op("gt", 4.5)}, lambda t: t["duration"] > 4.5),
    ("duration lte", {"duration": op("lte", 2.0)}, lambda t: t["duration"] <= 2.0),
    ("name", {"name": eq("agent-b")}, lambda t: t.get("name") == "agent-b"),
    ("name contains", {"name": op("icontains", "NAME-R")}, lambda t: "name-r" in (t.get("name") or "")),
    (
        "customer",
        {"customer_identifier": {"operator": "in", "value": ["ann", "dee"]}},
        lambda t: t.get("customer_identifier") in ("ann", "dee"),
    ),
    ("thread", {"thread_identifier": eq("th-long")}, lambda t: t.get("thread_identifier") == "th-long"),
    ("total_request_tokens", {"total_request_tokens": op("gte", 600)}, lambda t: t["total_tokens"] >= 600),
    ("total_prompt_tokens", {"total_prompt_tokens": op("lt", 30)}, lambda t: t["total_prompt_tokens"] < 30),
    ("total_completion_tokens", {"total_completion_tokens": op("gt", 30)}, lambda t: t["total_completion_tokens"] > 30),
    ("llm_call_count", {"llm_call_count": op("gte", 4)}, lambda t: t["llm_call_count"] >= 4),
    ("root_span_unique_id", {"root_span_unique_id": eq("r")}, lambda t: t.get("root_span_unique_id") == "r"),
    (
        "trace ids",
        {"trace_unique_id": {"operator": "in", "value": ["t-long", "t-wide", "nope"]}},
        lambda t: t["trace_unique_id"] in ("t-long", "t-wide"),
    ),
    ("start_time", {"start_time": op("gte", iso(300))}, lambda t: t["start_time"] >= T0 + timedelta(seconds=300)),
    ("end_time", {"end_time": op("lt", iso(260))}, lambda t: t["end_time"] < T0 + timedelta(seconds=260)),
    ("metadata (root's)", {"metadata__plan": eq("pro")}, lambda t: t["trace_unique_id"] == "t-long"),
    # Span-level fields match a trace when any of its spans matches (spec §3.1).
    ("span model", {"model": eq("claude-x")}, lambda t: t["trace_unique_id"] == "t-long"),
    ("span name", {"span_name": eq("rerank")}, lambda t: t["trace_unique_id"] == "t-pricey"),
    ("span status_code", {"status_code": eq(429)}, lambda t: t["trace_unique_id"] == "t-errors"),
    ("span status", {"status": eq("failed")}, lambda t: t["error_count"] > 0),
    ("span cost", {"cost": op("gt", 0.2)}, lambda t: t["trace_unique_id"] == "t-pricey"),
    ("span log_type", {"log_type": eq("tool")}, lambda t: t["trace_unique_id"] == "t-errors"),
    ("span parent", {"span_parent_id": eq("ghost")}, lambda t: t["trace_unique_id"] == "t-orphan"),
    (
        "span tokens",
        {"completion_tokens": op("gte", 9)},
        lambda t: t["trace_unique_id"] in ("t-orphan", "t-long", "t-pricey"),
    ),
    (
        "trace and span fields together",
        {"customer_identifier": eq("ann"), "span_count": op("gte", 2), "model": eq("claude-x")},
        lambda t: t["trace_unique_id"] == "t-long",
    ),
    (
        "an OR bundle",
        {"either": {"connector": "OR", "filter_params": {"span_count": op("gte", 8), "total_cost": op("gt", 1)}}},
        lambda t: t["span_count"] >= 8 or t["total_cost"] > 1,
    ),
]


def test_trace_filters(client: TestClient, population: dict[str, Json]) -> None:
    for label, filters, wanted in FILTER_CASES:
        expected = sorted(t for t, fields in population.items() if wanted(fields))
        assert expected, f"{label}: the case should match something"
        assert expected != sorted(population), f"{label}: the case should not match everything"
        listed = list_traces(client, filters)
        got = sorted(t["trace_unique_id"] for t in listed["results"])
        assert got == expected, label
        assert listed["count"] == len(expected), label


@pytest.mark.parametrize(
    "filters",
    [
        {"total_tokens": op("gte", 1)},  # refused on traces: total_request_tokens is the field (spec §3.1)
        {"no_such_field": eq(1)},
        {"span_count": op("contains", "1")},
        {"span_count": op("frobnicate", 1)},
        {"metadata": eq("x")},
    ],
)
def test_bad_trace_filters_are_400(client: TestClient, filters: Any) -> None:
    r = client.post("/api/traces/list/", params=WINDOW, json={"filters": filters})
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["detail"], str)


SORTS = [
    ("-total_cost", "total_cost", True),
    ("total_cost", "total_cost", False),
    ("-duration", "duration", True),
    ("duration", "duration", False),
    ("-span_count", "span_count", True),
    ("span_count", "span_count", False),
    ("-total_tokens", "total_tokens", True),
    ("total_tokens", "total_tokens", False),
    ("-error_count", "error_count", True),
    ("-llm_call_count", "llm_call_count", True),
    ("-start_time", "start_time", True),
    ("start_time", "start_time", False),
    ("-timestamp", "start_time", True),
    ("-end_time", "end_time", True),
    ("-total_prompt_tokens", "total_prompt_tokens", True),
]


def test_trace_sorts(client: TestClient, population: dict[str, Json]) -> None:
    for sort_by, field, descending in SORTS:
        rows = list_traces(client, sort_by=sort_by)["results"]
        got = [when(r[field]) if field.endswith("_time") else r[field] for r in rows]
        values = [fields[field] for fields in population.values()]
        assert got == sorted(values, reverse=descending), sort_by
    # Strings sort too, a missing value as the smallest (the traces with a root: the one without has no
    # root fields of its own).
    rooted = {"root_span_unique_id": {"operator": "not_empty", "value": [""]}}
    for sort_by in (
        "name",
        "-name",
        "customer_identifier",
        "-customer_identifier",
        "thread_identifier",
        "-thread_identifier",
    ):
        field = sort_by.lstrip("-")
        rows = list_traces(client, rooted, sort_by=sort_by)["results"]
        values = [fields.get(field) for fields in population.values() if "root_span_unique_id" in fields]
        present = sorted((v for v in values if v is not None), reverse=sort_by.startswith("-"))
        missing = [v for v in values if v is None]
        assert [r[field] for r in rows] == (present + missing if sort_by.startswith("-") else missing + present), (
            sort_by
        )
    # By default the newest trace first.
    default = trace_ids(client)
    assert default == sorted(population, key=lambda t: population[t]["start_time"], reverse=True)
    r = client.post("/api/traces/list/", params={**WINDOW, "sort_by": "-no_such_field"}, json={})
    assert r.status_code == 400


def test_trace_pages(client: TestClient, population: dict[str, Json]) -> None:
    newest_first = sorted(population, key=lambda t: population[t]["start_time"], reverse=True)
    seen: list[str] = []
    for page in (1, 2, 3):
        listed = list_traces(client, page=page, page_size=2)
        assert listed["count"] == listed["total_count"] == len(population)
        assert (listed["previous"] is None) == (page == 1)
        assert (listed["next"] is None) == (page == 3)
        seen.extend(t["trace_unique_id"] for t in listed["results"])
    assert seen == newest_first
    past = list_traces(client, page=4, page_size=2)
    assert past["results"] == [] and past["next"] is None
    filtered = list_traces(client, {"customer_identifier": eq("ann")}, page=1, page_size=1)
    assert filtered["count"] == 2 and len(filtered["results"]) == 1 and filtered["next"] is not None


def test_the_window_applies_to_the_trace_start(client: TestClient) -> None:
    # Starts an hour before T0 and ends an hour after; another starts at T0.
    bulk(client, [span("straddles", "r", start=-3600, latency=7200), span("inside", "r", start=0, latency=1)])
    around_t0 = {"start_time": iso(-60), "end_time": iso(600)}
    assert trace_ids(client, window=around_t0) == ["inside"]
    before = {"start_time": iso(-4000), "end_time": iso(-3000)}
    assert trace_ids(client, window=before) == ["straddles"]
    # The edges of the window are inside it.
    assert trace_ids(client, window={"start_time": iso(0), "end_time": iso(0)}) == ["inside"]
    # By default the window is the last hour: spans sent without times are in it, those at T0 are not.
    bulk(client, [{"model": "m", "trace_unique_id": "now", "span_unique_id": "r"}])
    r = client.post("/api/traces/list/", json={})
    assert r.status_code == 200
    assert [t["trace_unique_id"] for t in r.json()["results"]] == ["now"]


# ------------------------------------------------------------------------------------ tree shapes


def test_children_before_their_parents_attach_when_it_arrives(client: TestClient) -> None:
    t = "late-parents"
    grandchildren = [span(t, "g2", "c1", start=3), span(t, "g1", "c1", start=2), span(t, "o", "ghost", start=1)]
    children = [span(t, "c2", "r", start=5), span(t, "c1", "r", start=1.5)]
    root = [
        span(t, "r", None, start=0, latency=10, span_name="the-root", customer_identifier="cu", thread_identifier="th")
    ]

    bulk(client, grandchildren)
    got = get_trace(client, t)
    assert placement(got["span_tree"]) == {"o": None, "g1": None, "g2": None}
    assert [n["span_unique_id"] for n in got["span_tree"]] == ["o", "g1", "g2"]
    assert got["root_span_unique_id"] is None and got["span_count"] == 3

    bulk(client, children)
    got = get_trace(client, t)
    assert placement(got["span_tree"]) == {"o": None, "c1": None, "g1": "c1", "g2": "c1", "c2": None}
    assert_siblings_in_start_order(got["span_tree"])

    bulk(client, root)
    got = get_trace(client, t)
    everything = grandchildren + children + root
    assert placement(got["span_tree"]) == expected_placement(everything)
    assert placement(got["span_tree"])["o"] is None  # its parent never came: shown at the root, kept
    assert [n["span_unique_id"] for n in got["span_tree"]] == ["r", "o"]
    assert [n["span_unique_id"] for n in got["span_tree"][0]["children"]] == ["c1", "c2"]
    assert_siblings_in_start_order(got["span_tree"])
    assert_trace(got, expected_trace(everything))
    assert got["name"] == "the-root" and got["thread_identifier"] == "th" and got["customer_identifier"] == "cu"
    (row,) = list_traces(client)["results"]
    assert_trace(row, expected_trace(everything))


def test_parent_cycles_show_every_span_once(client: TestClient) -> None:
    t = "cycles"
    spans = [
        span(t, "root", None, start=0),
        span(t, "kid", "root", start=1),
        # a <-> b
        span(t, "a", "b", start=2),
        span(t, "b", "a", start=3),
        # a span that is its own parent
        span(t, "self", "self", start=4),
        # x -> y -> z -> x, with a tail hanging off y that starts before all three, and a child of the tail
        span(t, "tail", "y", start=4.5),
        span(t, "x", "z", start=5),
        span(t, "y", "x", start=6),
        span(t, "z", "y", start=7),
        span(t, "tail-kid", "tail", start=8),
    ]
    bulk(client, spans[::-1])
    got = get_trace(client, t)
    shown = placement(got["span_tree"])
    assert Counter(n["span_unique_id"] for n, _, _ in walk(got["span_tree"])) == Counter(
        s["span_unique_id"] for s in spans
    )
    # One root per cycle, the real root and the self-parented span; every other span under its own parent.
    roots = [sid for sid, parent in shown.items() if parent is None]
    assert len(roots) == 4, shown
    assert "root" in roots and "self" in roots
    assert len({"a", "b"} & set(roots)) == 1 and len({"x", "y", "z"} & set(roots)) == 1
    by_id = {s["span_unique_id"]: s for s in spans}
    for sid, parent in shown.items():
        if parent is not None:
            assert by_id[sid]["span_parent_id"] == parent, (sid, parent)
    assert shown["tail"] == "y" and shown["tail-kid"] == "tail"  # off the cycle: stays where it belongs
    assert_siblings_in_start_order(got["span_tree"])
    assert got["span_count"] == len(spans)


def test_a_chain_thousands_deep(client: TestClient) -> None:
    depth = 3000
    t = "deep"
    chain = [span(t, f"s{i}", f"s{i - 1}" if i else None, start=i * 0.001, latency=0.5) for i in range(depth)]
    bulk(client, chain[::-1])  # deepest first: every parent arrives after its child
    r = client.get(f"/api/traces/{t}/")
    assert r.status_code == 200
    got = parse_deep_json(r.text)
    assert got["span_count"] == depth
    node = got["span_tree"]
    seen = 0
    while node:
        assert len(node) == 1
        assert node[0]["span_unique_id"] == f"s{seen}"
        node = node[0]["children"]
        seen += 1
    assert seen == depth
    assert_trace(got, expected_trace(chain))


def test_a_wide_trace(client: TestClient) -> None:
    t = "wide"
    rng = random.Random(3)
    starts = rng.sample(range(1, 100_000), 1500)
    kids = [span(t, f"k{i}", "r", start=s / 1000, latency=0.01, cost=0.0001) for i, s in enumerate(starts)]
    root = span(t, "r", None, start=0, latency=200)
    bulk(client, [*kids[:700], root, *kids[700:]])
    got = get_trace(client, t)
    (top,) = got["span_tree"]
    assert top["span_unique_id"] == "r"
    assert [c["span_unique_id"] for c in top["children"]] == [
        k["span_unique_id"] for k in sorted(kids, key=lambda k: when(k["start_time"]))
    ]
    assert all(c["children"] == [] for c in top["children"])
    assert_trace(got, expected_trace([root, *kids]))


def test_a_trace_of_ten_thousand_spans_opens_whole_and_deletes_whole(client: TestClient) -> None:
    t = "huge"
    rng = random.Random(11)
    spans = [span(t, "r", None, start=0, latency=3600, cost=0.5, prompt=10, completion=10, log_type="workflow")]
    for c in range(99):
        spans.append(span(t, f"c{c}", "r", start=1 + c, latency=30, cost=0.001, prompt=c, completion=1))
        for g in range(100):
            start = 1 + c + rng.random() * 20
            spans.append(span(t, f"g{c}.{g}", f"c{c}", start=start, latency=0.5, cost=0.0001, prompt=1, completion=2))
    assert len(spans) == 10_000
    rng.shuffle(spans)  # children before parents, across the 20 requests
    bulk(client, spans)

    r = client.get(f"/api/traces/{t}/")
    assert r.status_code == 200
    got: Json = r.json()  # three levels deep: the stdlib decoder takes it
    expected = expected_trace(spans)
    assert_trace(got, expected)
    assert placement(got["span_tree"]) == expected_placement(spans)
    (root,) = got["span_tree"]
    assert len(root["children"]) == 99 and all(len(c["children"]) == 100 for c in root["children"])
    assert_siblings_in_start_order(got["span_tree"])
    (row,) = list_traces(client)["results"]
    assert row["span_count"] == 10_000

    r = client.delete(f"/api/traces/{t}/")
    assert r.status_code == 200 and r.json()["deleted_count"] == 1
    assert client.get(f"/api/traces/{t}/").status_code == 404
    assert list_spans(client, page_size=1)["count"] == 0
    assert summary(client)["number_of_requests"] == 0


# ---------------------------------------------------------------------------------------- deleting


def _two_traces() -> tuple[list[Span], list[Span]]:
    """Trace A (over three days, customers c1 and c-gone, threads th1 and th-gone) and trace B."""
    a = [
        span(
            "A",
            "r",
            None,
            start=0,
            latency=5,
            cost=0.1,
            prompt=100,
            completion=10,
            customer_identifier="c1",
            thread_identifier="th1",
            metadata={"k": "a"},
        ),
        span(
            "A",
            "x",
            "r",
            start=1,
            latency=1,
            cost=0.2,
            prompt=200,
            completion=20,
            customer_identifier="c-gone",
            thread_identifier="th-gone",
            status_code=500,
        ),
        span(
            "A",
            "y",
            "r",
            start=2 * 86_400,
            latency=1,
            cost=0.3,
            prompt=300,
            completion=30,
            customer_identifier="c1",
            thread_identifier="th1",
        ),
    ]
    b = [
        span(
            "B",
            "r",
            None,
            start=10,
            latency=5,
            cost=0.01,
            prompt=1,
            completion=2,
            customer_identifier="c1",
            thread_identifier="th1",
        ),
        span(
            "B",
            "x",
            "r",
            start=11,
            latency=1,
            cost=0.02,
            prompt=3,
            completion=4,
            customer_identifier="c2",
            thread_identifier="th2",
            error_message="bad",
        ),
        span("B", "y", "r", start=12, latency=2, cost=0.04, prompt=5, completion=6, customer_identifier="c1"),
    ]
    return a, b


def _customer(client: TestClient, customer: str) -> Json | None:
    r = client.get(f"/api/users/{customer}/")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    found: Json = r.json()
    return found


def _thread(client: TestClient, thread: str) -> Json | None:
    r = client.get(f"/api/threads/{thread}/")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    found: Json = r.json()
    return found


def end_of(s: Span) -> datetime:
    return when(s["start_time"]) + timedelta(seconds=s["latency"])


def span_keys(rows: Sequence[Json]) -> list[tuple[str, str]]:
    return sorted((r["trace_unique_id"], r["span_unique_id"]) for r in rows)


def assert_derived_figures(client: TestClient, spans: Sequence[Span], gone: Sequence[Span]) -> None:
    """Summaries, groups, customers, threads, the traces list and the span list say exactly `spans`,
    nothing of `gone`."""
    total = summary(client)
    assert_span_figures(total, spans, "number_of_requests")
    assert total["error_count"] == sum(1 for s in spans if is_error(s))
    if spans:
        assert total["avg_latency"] == pytest.approx(sum(s["latency"] for s in spans) / len(spans))
    customers: set[str] = {s["customer_identifier"] for s in [*spans, *gone] if s.get("customer_identifier")}
    # A filtered summary is answered from the spans, an unfiltered one may not be: both must agree.
    for customer in customers:
        mine = [s for s in spans if s.get("customer_identifier") == customer]
        assert_span_figures(summary(client, {"customer_identifier": eq(customer)}), mine, "number_of_requests")
        row = _customer(client, customer)
        if not mine:
            assert row is None, customer
            continue
        assert row is not None, customer
        assert_span_figures(row, mine, "number_of_requests")
        assert row["error_count"] == sum(1 for s in mine if is_error(s))
        assert row["average_latency"] == pytest.approx(sum(s["latency"] for s in mine) / len(mine))
        assert when(row["first_seen"]) == min(end_of(s) for s in mine)
        assert when(row["last_active"]) == max(end_of(s) for s in mine)
    r = client.post("/api/users/list/", params={"page_size": 1000}, json={})
    assert r.status_code == 200, r.text
    assert sorted(c["customer_identifier"] for c in r.json()["results"]) == sorted(
        {s["customer_identifier"] for s in spans if s.get("customer_identifier")}
    )
    r = client.get("/api/request-logs/groups/", params={**WINDOW, "group_by": "customer_identifier"})
    assert r.status_code == 200, r.text
    groups = {g["customer_identifier"]: g for g in r.json()["results"] if g["number_of_requests"]}
    assert set(groups) == {s.get("customer_identifier") for s in spans}
    for customer, g in groups.items():
        assert_span_figures(g, [s for s in spans if s.get("customer_identifier") == customer], "number_of_requests")

    threads: set[str] = {s["thread_identifier"] for s in [*spans, *gone] if s.get("thread_identifier")}
    for thread in threads:
        mine = [s for s in spans if s.get("thread_identifier") == thread]
        row = _thread(client, thread)
        if not mine:
            assert row is None, thread
            continue
        assert row is not None, thread
        assert_span_figures(row, mine, "number_of_requests")
        assert row["log_count"] == len(mine)
        assert row["error_count"] == sum(1 for s in mine if is_error(s))
        assert when(row["first_seen"]) == min(end_of(s) for s in mine)
        assert when(row["last_seen"]) == max(end_of(s) for s in mine)
        assert span_keys(row["spans"]) == span_keys(mine)
    r = client.post("/api/log_threads/", params={"page_size": 1000}, json={})
    assert r.status_code == 200, r.text
    assert sorted(t["thread_identifier"] for t in r.json()["results"]) == sorted(
        {s["thread_identifier"] for s in spans if s.get("thread_identifier")}
    )

    listed = list_spans(client)
    assert listed["count"] == len(spans)
    assert span_keys(listed["results"]) == span_keys(spans)
    by_trace: dict[str, list[Span]] = {}
    for s in spans:
        by_trace.setdefault(s["trace_unique_id"], []).append(s)
    traces = list_traces(client)
    assert traces["count"] == len(by_trace)
    for row in traces["results"]:
        assert_trace(row, expected_trace(by_trace[row["trace_unique_id"]]))
    deleted = sorted({s["trace_unique_id"] for s in gone} - set(by_trace))
    if deleted:
        among = {"trace_unique_id": {"operator": "in", "value": deleted}}
        assert list_spans(client, among)["count"] == 0
        assert list_traces(client, among)["count"] == 0
    for t in deleted[:10]:
        assert client.get(f"/api/traces/{t}/").status_code == 404


def test_deleting_a_trace_by_id_needs_no_window_and_sets_every_figure_right(client: TestClient) -> None:
    a, b = _two_traces()
    bulk(client, a[2:])  # A's last day first: its trace row then reaches back two days
    bulk(client, a[:2] + b)
    assert_derived_figures(client, a + b, [])

    # A window the client gives narrows the delete: A starts at T0, so one from a day later misses it,
    # though it holds A's last span.
    r = client.delete("/api/traces/A/", params={"start_time": iso(86_400), "end_time": iso(3 * 86_400)})
    assert r.status_code == 200 and r.json()["deleted_count"] == 0
    assert_derived_figures(client, a + b, [])

    r = client.delete("/api/traces/A/")  # no window: A's spans are days old and over three days
    assert r.status_code == 200, r.text
    assert r.json()["deleted_count"] == 1 and isinstance(r.json()["message"], str)
    assert_derived_figures(client, b, a)
    assert {t["trace_unique_id"] for t in list_traces(client, {"metadata__k": eq("a")})["results"]} == set()
    assert list_spans(client, {"metadata__k": eq("a")})["count"] == 0

    # Deleting it again, or a trace that never was, is not an error (spec §3.4).
    for gone in ("A", "never-was"):
        r = client.delete(f"/api/traces/{gone}/")
        assert r.status_code == 200 and r.json()["deleted_count"] == 0
    assert_derived_figures(client, b, a)

    # Sent again, A is stored again (a deleted span is no reason to drop a resend).
    bulk(client, a)
    assert_derived_figures(client, a + b, [])
    assert list_spans(client, {"metadata__k": eq("a")})["count"] == 1
    # And a window around its start deletes it.
    r = client.delete("/api/traces/A/", params={"start_time": iso(-1), "end_time": iso(1)})
    assert r.status_code == 200 and r.json()["deleted_count"] == 1
    assert_derived_figures(client, b, a)


def assert_same(mine: Any, theirs: Any, where: str = "") -> None:
    """Equal, floats to rounding (a sum that had a value subtracted may differ in its last bits)."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        assert set(mine) == set(theirs), where
        for key in mine:
            assert_same(mine[key], theirs[key], f"{where}.{key}")
    elif isinstance(mine, list) and isinstance(theirs, list):
        assert len(mine) == len(theirs), where
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(mine, float) or isinstance(theirs, float):
        assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-12), where
    else:
        assert mine == theirs, where


_TENANT_FIELDS = ("unique_organization_id", "organization_id", "organization_key_id")


def _views(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """Every aggregate view of a tenant's store, without the fields that name the tenant."""

    def get(method: str, path: str, **params: Any) -> Any:
        r = client.request(method, path, params=params, json={}, headers=headers)
        assert r.status_code == 200, (path, r.text)
        return r.json()

    def strip(rows: list[Json]) -> list[Json]:
        return [{k: v for k, v in row.items() if k not in _TENANT_FIELDS} for row in rows]

    views: dict[str, Any] = {
        "summary": get("POST", "/api/request-logs/summary/", **WINDOW),
        "customers": strip(get("POST", "/api/users/list/", sort_by="customer_identifier")["results"]),
        "threads": strip(get("POST", "/api/log_threads/", sort_by="thread_identifier")["results"]),
        "traces": strip(get("POST", "/api/traces/list/", **WINDOW, sort_by="trace_unique_id")["results"]),
    }
    for group_by, key in (
        ("customer_identifier", "customer_identifier"),
        ("model", "model"),
        ("thread", "thread_identifier"),
        ("trace", "trace_unique_id"),
    ):
        rows = get("GET", "/api/request-logs/groups/", **WINDOW, group_by=group_by)["results"]
        # Groups of as many requests come in no set order.
        views[f"groups by {group_by}"] = sorted(rows, key=lambda g: str(g[key]))
    views["daily groups"] = get("GET", "/api/request-logs/groups/", **WINDOW, date_group="day")["results"]
    for customer in ("c1", "c2", "c-gone"):
        r = client.post(
            "/api/request-logs/summary/",
            params=WINDOW,
            json={"filters": {"customer_identifier": eq(customer)}},
            headers=headers,
        )
        assert r.status_code == 200
        views[f"summary of {customer}"] = r.json()
    return views


def test_a_delete_leaves_the_figures_of_a_store_that_never_had_the_trace(
    settings: Settings, client: TestClient, tenant: Tenant
) -> None:
    a, b = _two_traces()
    bulk(client, a + b)
    never = make_tenant(settings)
    bulk(client, b, headers=never.headers)
    assert client.delete("/api/traces/A/").json()["deleted_count"] == 1
    mine, theirs = _views(client, tenant.headers), _views(client, never.headers)
    assert mine["summary"]["number_of_requests"] == len(b) and len(mine["traces"]) == 1
    for view in mine:
        assert_same(mine[view], theirs[view], view)


def test_after_a_delete_a_thread_names_the_customer_of_the_spans_left(client: TestClient) -> None:
    bulk(client, [span("gone", "r", None, start=0, thread_identifier="th", customer_identifier="c-gone")])
    bulk(client, [span("stays", "r", None, start=10, thread_identifier="th", customer_identifier="c-stays")])
    assert client.delete("/api/traces/gone/").json()["deleted_count"] == 1
    thread = _thread(client, "th")
    assert thread is not None and thread["number_of_requests"] == 1
    assert thread["customer_identifier"] == "c-stays"


def test_after_a_delete_a_customer_has_no_name_only_deleted_spans_gave(client: TestClient) -> None:
    bulk(
        client,
        [
            span(
                "named",
                "r",
                None,
                start=0,
                customer_identifier="cu",
                customer_name="Gone Name",
                customer_email="gone@example.com",
            )
        ],
    )
    bulk(client, [span("plain", "r", None, start=10, customer_identifier="cu")])
    assert client.delete("/api/traces/named/").json()["deleted_count"] == 1
    customer = _customer(client, "cu")
    assert customer is not None and customer["number_of_requests"] == 1
    assert (customer["name"], customer["email"]) == (None, None)


def _bulk_delete(client: TestClient, body: Any, headers: dict[str, str] | None = None, **query: Any) -> Any:
    return client.post("/api/traces/bulk/", params={**WINDOW, **query}, json=body, headers=headers)


def test_bulk_delete_by_filters(client: TestClient) -> None:
    traces = {
        "b1": [span("b1", "r", start=0, cost=1.0, prompt=10, customer_identifier="bulk-a")],
        "b2": [
            span("b2", "r", start=1, cost=2.0, prompt=20, customer_identifier="bulk-a"),
            span("b2", "k", "r", start=2, cost=0.5, prompt=5, customer_identifier="keep"),
        ],
        "b3": [
            span("b3", "r", start=3, cost=0.3, completion=70, customer_identifier="bulk-b", metadata={"tier": "free"})
        ],
        "b4": [span("b4", "r", start=4, cost=0.4, prompt=400, customer_identifier="keep")],
        "b5": [span("b5", "r", start=86_400 * 3, cost=0.5, prompt=1, customer_identifier="keep")],
    }
    everything = [s for spans in traces.values() for s in spans]
    bulk(client, everything)

    refused = [
        ({}, None),
        ({"filters": {}}, None),
        ({"filters": None}, None),
        ({"filters": {"no_such_field": eq(1)}}, 400),
        ({"filters": {"model": eq("gpt-4o")}}, 400),  # span fields are not bulk-delete fields
        ({"filters": {"customer_identifier": op("frobnicate", "x")}}, 400),
    ]
    for body, status in refused:
        r = _bulk_delete(client, body)
        assert r.status_code in ((400, 422) if status is None else (status,)), (body, r.text)
    assert list_traces(client)["count"] == 5

    r = _bulk_delete(client, {"filters": {"customer_identifier": eq("bulk-a")}})
    assert r.status_code == 200, r.text
    assert r.json()["deleted_count"] == 2 and r.json()["success_count"] == 2 and r.json()["error_count"] == 0
    remaining = [s for t in ("b3", "b4", "b5") for s in traces[t]]
    assert_derived_figures(client, remaining, traces["b1"] + traces["b2"])

    r = _bulk_delete(client, {"filters": {"metadata__tier": eq("free")}})
    assert r.status_code == 200 and r.json()["deleted_count"] == 1
    remaining = traces["b4"] + traces["b5"]

    # start_time and end_time in the filters narrow the window further.
    r = _bulk_delete(client, {"filters": {"end_time": op("lt", iso(0))}})
    assert r.status_code == 200 and r.json()["deleted_count"] == 0
    # total_tokens is a bulk-delete field (spec §3.5); the query window narrows what matches.
    r = _bulk_delete(client, {"filters": {"total_tokens": op("gte", 1)}}, start_time=iso(-60), end_time=iso(600))
    assert r.status_code == 200 and r.json()["deleted_count"] == 1
    assert trace_ids(client) == ["b5"]
    assert_derived_figures(client, traces["b5"], [s for t in ("b1", "b2", "b3", "b4") for s in traces[t]])


def test_bulk_delete_of_more_than_1000_traces_is_refused_before_deleting(client: TestClient) -> None:
    spans = [span(f"many-{i:04d}", "r", start=i, cost=0.001, customer_identifier="many") for i in range(1001)]
    bulk(client, spans)
    r = _bulk_delete(client, {"filters": {"customer_identifier": eq("many")}})
    assert r.status_code == 422, r.text
    assert list_traces(client, page_size=1)["count"] == 1001
    assert summary(client)["number_of_requests"] == 1001
    # Exactly 1000 is allowed.
    first = [s["trace_unique_id"] for s in spans[:1000]]
    r = _bulk_delete(client, {"filters": {"trace_unique_id": {"operator": "in", "value": first}}})
    assert r.status_code == 200, r.text
    assert r.json()["deleted_count"] == 1000
    assert trace_ids(client) == ["many-1000"]
    assert_derived_figures(client, spans[1000:], spans[:1000])


# ---------------------------------------------------------------------------- tenancy, environments


def test_another_organizations_traces_are_never_listed_retrieved_or_deleted(
    settings: Settings, client: TestClient
) -> None:
    mine = [span("shared", "r", start=0, cost=0.1), span("shared", "k", "r", start=1), span("mine-only", "r", start=2)]
    bulk(client, mine)
    other = make_tenant(settings)
    theirs = [span("shared", "r", start=0, cost=5.0, span_name="theirs")]
    bulk(client, theirs, headers=other.headers)

    listed = list_traces(client, headers=other.headers)
    assert [t["trace_unique_id"] for t in listed["results"]] == ["shared"]
    assert_trace(listed["results"][0], expected_trace(theirs))
    for query in ({}, {"environment": "prod"}, {"all_envs": "true"}):
        assert client.get("/api/traces/mine-only/", params=query, headers=other.headers).status_code == 404
        r = client.post("/api/traces/list/", params={**WINDOW, **query}, json={}, headers=other.headers)
        assert "mine-only" not in {t["trace_unique_id"] for t in r.json()["results"]}
    got = get_trace(client, "shared", headers=other.headers)
    assert placement(got["span_tree"]) == {"r": None}
    assert got["name"] == "theirs"

    r = client.delete("/api/traces/mine-only/", headers=other.headers)
    assert r.status_code == 200 and r.json()["deleted_count"] == 0
    r = _bulk_delete(
        client,
        {"filters": {"trace_unique_id": {"operator": "in", "value": ["mine-only", "shared"]}}},
        headers=other.headers,
    )
    assert r.status_code == 200 and r.json()["deleted_count"] == 1  # their own "shared" only
    assert list_traces(client, headers=other.headers)["count"] == 0
    assert_derived_figures(client, mine, [])
    assert_trace(get_trace(client, "shared"), expected_trace(mine[:2]))


def test_a_test_key_sees_prod_traces_only_when_it_asks(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    test_key = make_tenant(settings, organization=tenant.organization, environment="test").headers
    prod = [span("prod-only", "r", start=0, cost=0.1), span("both", "r", start=1, cost=0.2)]
    test = [span("test-only", "r", start=2, cost=0.3), span("both", "r", start=3, cost=0.4, span_name="test-side")]
    bulk(client, prod)
    bulk(client, test, headers=test_key)

    assert sorted(trace_ids(client, headers=test_key)) == ["both", "test-only"]
    assert sorted(trace_ids(client)) == ["both", "prod-only"]
    assert sorted(trace_ids(client, headers=test_key, environment="prod")) == ["both", "prod-only"]
    assert client.get("/api/traces/prod-only/", headers=test_key).status_code == 404
    assert get_trace(client, "prod-only", headers=test_key, environment="prod")["environment"] == "prod"
    mine = get_trace(client, "both", headers=test_key)
    assert mine["environment"] == "test" and mine["name"] == "test-side"
    assert_trace(mine, expected_trace(test[1:]))
    assert get_trace(client, "both")["environment"] == "prod"

    # A test key deletes its own environment's trace of that id, never the prod one.
    r = client.delete("/api/traces/prod-only/", headers=test_key)
    assert r.status_code == 200 and r.json()["deleted_count"] == 0
    r = _bulk_delete(client, {"filters": {"trace_unique_id": eq("prod-only")}}, headers=test_key)
    assert r.status_code == 200 and r.json()["deleted_count"] == 0
    r = client.delete("/api/traces/both/", headers=test_key)
    assert r.json()["deleted_count"] == 1
    assert get_trace(client, "both")["environment"] == "prod"
    assert_trace(get_trace(client, "both"), expected_trace(prod[1:]))
    assert sorted(trace_ids(client)) == ["both", "prod-only"]
    assert trace_ids(client, headers=test_key) == ["test-only"]


def test_bulk_delete_across_environments_deletes_only_what_matched(
    settings: Settings, client: TestClient, tenant: Tenant
) -> None:
    test_key = make_tenant(settings, organization=tenant.organization, environment="test").headers
    bulk(client, [span("same-id", "r", start=0, customer_identifier="prod-customer")])
    bulk(client, [span("same-id", "r", start=0, customer_identifier="test-customer")], headers=test_key)
    # Over both environments, the filter matches the test trace only: the prod one of that id stays.
    r = _bulk_delete(client, {"filters": {"customer_identifier": eq("test-customer")}}, all_envs="true")
    assert r.status_code == 200, r.text
    assert r.json()["deleted_count"] == 1
    assert trace_ids(client) == ["same-id"]
    assert get_trace(client, "same-id")["customer_identifier"] == "prod-customer"
    assert trace_ids(client, headers=test_key) == []
    r = _bulk_delete(client, {"filters": {"environment": eq("prod"), "trace_unique_id": eq("same-id")}}, all_envs="1")
    assert r.json()["deleted_count"] == 1
    assert trace_ids(client) == []
