"""OTLP/HTTP trace ingest (spec §3.7) and the legacy JSON trace ingest (§3.6), on both stores.

Bodies are built here, in both encodings, with OpenTelemetry's own protobuf classes; the real exporters
are driven in test_otlp_clients.py and the captured client requests replayed in test_otlp_captures.py.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import time
import zlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from spanbase.app import create_app
from spanbase.settings import Settings

Json = dict[str, Any]
NOW_NS = time.time_ns()
PATHS = ("/api/v2/traces", "/api/v1/traces", "/v2/traces", "/v1/traces")
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def hex_id(size: int) -> str:
    return os.urandom(size).hex()


def otlp_span(
    name: str,
    attributes: Json,
    *,
    trace: str,
    span: str | None = None,
    parent: str | None = None,
    start_ns: int = NOW_NS,
    duration_ns: int = 1_000_000_000,
    status: Json | None = None,
    events: list[Json] | None = None,
    kind: int = 1,
) -> Json:
    """A span in the OTLP/JSON encoding (what respan-tracing sends): hex ids, nanosecond strings."""
    out: Json = {
        "traceId": trace,
        "spanId": span or hex_id(8),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + duration_ns),
        "attributes": [{"key": k, "value": any_value(v)} for k, v in attributes.items()],
        "status": status or {"code": 0},
    }
    if parent:
        out["parentSpanId"] = parent
    if events:
        out["events"] = events
    return out


def any_value(v: Any) -> Json:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}  # as the OTLP/JSON encoders send 64-bit integers
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [any_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": any_value(x)} for k, x in v.items()]}}
    return {"stringValue": v}


def request_json(spans: list[Json], resource: Json | None = None, scope: Json | None = None) -> Json:
    scope_spans: Json = {"spans": spans}
    if scope is not None:
        scope_spans["scope"] = scope
    attrs = [{"key": k, "value": any_value(v)} for k, v in (resource or {"service.name": "svc"}).items()]
    return {"resourceSpans": [{"resource": {"attributes": attrs}, "scopeSpans": [scope_spans]}]}


def to_protobuf(body: Json) -> bytes:
    """The same request in the protobuf encoding: ids as bytes."""
    request = ExportTraceServiceRequest()
    for rs_json in body["resourceSpans"]:
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(_kvs(rs_json["resource"]["attributes"]))
        for ss_json in rs_json["scopeSpans"]:
            ss = rs.scope_spans.add()
            if "scope" in ss_json:
                ss.scope.name = ss_json["scope"].get("name", "")
                ss.scope.version = ss_json["scope"].get("version", "")
            for s_json in ss_json["spans"]:
                s = ss.spans.add()
                s.trace_id = bytes.fromhex(s_json["traceId"])
                s.span_id = bytes.fromhex(s_json["spanId"])
                if "parentSpanId" in s_json:
                    s.parent_span_id = bytes.fromhex(s_json["parentSpanId"])
                s.name = s_json["name"]
                s.kind = s_json["kind"]
                s.start_time_unix_nano = int(s_json["startTimeUnixNano"])
                s.end_time_unix_nano = int(s_json["endTimeUnixNano"])
                s.attributes.extend(_kvs(s_json["attributes"]))
                s.status.code = s_json["status"]["code"]
                s.status.message = s_json["status"].get("message", "")
                for e_json in s_json.get("events", []):
                    e = s.events.add()
                    e.name = e_json["name"]
                    e.time_unix_nano = int(e_json["timeUnixNano"])
                    e.attributes.extend(_kvs(e_json.get("attributes", [])))
    return request.SerializeToString()


def _kvs(attributes: list[Json]) -> list[KeyValue]:
    return [KeyValue(key=kv["key"], value=_pb_value(kv["value"])) for kv in attributes]


def _pb_value(v: Json) -> AnyValue:
    out = AnyValue()
    if "stringValue" in v:
        out.string_value = v["stringValue"]
    elif "intValue" in v:
        out.int_value = int(v["intValue"])
    elif "doubleValue" in v:
        out.double_value = v["doubleValue"]
    elif "boolValue" in v:
        out.bool_value = v["boolValue"]
    elif "arrayValue" in v:
        out.array_value.values.extend(_pb_value(x) for x in v["arrayValue"]["values"])
    elif "kvlistValue" in v:
        out.kvlist_value.values.extend(_kvs(v["kvlistValue"]["values"]))
    return out


def post_json(client: TestClient, body: Json, path: str = "/api/v2/traces") -> Json:
    r = client.post(path, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    answer: Json = r.json()
    return answer


def post_protobuf(
    client: TestClient, body: bytes, path: str = "/v1/traces", **headers: str
) -> ExportTraceServiceResponse:
    r = client.post(path, content=body, headers={**PROTOBUF, **headers})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-protobuf"
    return ExportTraceServiceResponse.FromString(r.content)


def spans_of(client: TestClient, trace: str) -> dict[str, Json]:
    """The trace's spans by span id, each as its full detail."""
    r = client.post(
        "/api/request-logs/list/?page_size=500&start_time=2000-01-01T00:00:00Z&end_time=2100-01-01T00:00:00Z",
        json={"filters": {"trace_unique_id": {"operator": "", "value": [trace]}}},
    )
    assert r.status_code == 200, r.text
    out: dict[str, Json] = {}
    for row in r.json()["results"]:
        detail = client.get(f"/api/request-logs/{row['unique_id']}/")
        assert detail.status_code == 200, detail.text
        out[row["span_unique_id"]] = detail.json()
    return out


def tree(client: TestClient, trace: str) -> list[tuple[int, str]]:
    """(depth, span name) of the trace's tree, depth first."""
    r = client.get(f"/api/traces/{trace}/")
    assert r.status_code == 200, r.text
    out: list[tuple[int, str]] = []

    def walk(nodes: list[Json], depth: int) -> None:
        for n in nodes:
            out.append((depth, n["span_name"]))
            walk(n.get("children") or [], depth + 1)

    walk(r.json()["span_tree"], 0)
    return out


# ------------------------------------------------------------------------ a respan-tracing trace


def respan_trace(trace: str) -> tuple[list[Json], dict[str, str]]:
    """A workflow, a task under it and a chat span under the task, children first (as the batch
    processor exports them), with Respan's own attributes."""
    ids = {"workflow": hex_id(8), "task": hex_id(8), "chat": hex_id(8)}
    common = {
        "traceloop.workflow.name": "answer",
        "respan.entity.log_method": "python_tracing",
        "respan.customer_params.customer_identifier": "cust-1",
        "respan.threads.thread_identifier": "thread-1",
        "respan.metadata.plan": "pro",
        "respan.metadata.attempt": 3,
        "respan.metadata._tracing_sdk_version": "2.24.0",
    }
    chat = otlp_span(
        "llm.gpt-4o-mini",
        {
            **common,
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 1200,
            "gen_ai.usage.completion_tokens": 300,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Capital of France?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Paris.",
            "gen_ai.response.id": "chatcmpl-1",
        },
        trace=trace,
        span=ids["chat"],
        parent=ids["task"],
        start_ns=NOW_NS + 2_000_000,
        duration_ns=500_000_000,
        kind=3,
    )
    task = otlp_span(
        "task",
        {
            **common,
            "traceloop.span.kind": "task",
            "traceloop.entity.name": "ask_llm",
            "traceloop.entity.path": "ask_llm",
            "traceloop.entity.input": '{"args": ["Capital of France?"], "kwargs": {}}',
            "traceloop.entity.output": '"Paris."',
        },
        trace=trace,
        span=ids["task"],
        parent=ids["workflow"],
        start_ns=NOW_NS + 1_000_000,
        duration_ns=600_000_000,
    )
    workflow = otlp_span(
        "workflow",
        {**common, "traceloop.span.kind": "workflow", "traceloop.entity.name": "answer", "traceloop.entity.path": ""},
        trace=trace,
        span=ids["workflow"],
        duration_ns=700_000_000,
    )
    return [chat, task, workflow], ids


def test_a_respan_tracing_trace_is_stored_as_spans_and_a_tree(client: TestClient) -> None:
    trace = hex_id(16)
    spans, ids = respan_trace(trace)
    answer = post_json(client, request_json(spans, {"service.name": "my-app"}, {"name": "respan.tracer"}))
    assert answer == {"partialSuccess": {}}

    stored = spans_of(client, trace)
    assert set(stored) == set(ids.values())
    wf, task, chat = stored[ids["workflow"]], stored[ids["task"]], stored[ids["chat"]]
    assert (wf["span_name"], wf["log_type"], wf["span_parent_id"]) == ("answer", "workflow", None)
    assert (task["span_name"], task["log_type"], task["span_parent_id"]) == ("ask_llm", "task", ids["workflow"])
    assert (chat["span_name"], chat["log_type"], chat["span_parent_id"]) == ("llm.gpt-4o-mini", "chat", ids["task"])
    for s in (wf, task, chat):
        assert s["trace_unique_id"] == trace
        assert s["span_workflow_name"] == "answer"
        assert s["customer_identifier"] == "cust-1"
        assert s["thread_identifier"] == "thread-1"
        assert s["metadata"] == {"plan": "pro", "attempt": "3"}  # "_" keys are hidden; values are strings
        assert s["log_method"] == "python_tracing"
        assert s["resource_attributes"] == {"service.name": "my-app"}
        assert s["span_attributes"]["otel.scope.name"] == "respan.tracer"
    assert task["span_path"] == "ask_llm"
    assert task["input"] == '{"args": ["Capital of France?"], "kwargs": {}}'
    assert task["output"] == '"Paris."'
    assert chat["model"] == "gpt-4o-mini"
    assert chat["provider_id"] == "openai"
    assert (chat["prompt_tokens"], chat["completion_tokens"], chat["total_request_tokens"]) == (1200, 300, 1500)
    assert chat["cost"] == pytest.approx(1200 * 0.15e-6 + 300 * 0.6e-6)
    assert chat["input"] == [{"role": "user", "content": "Capital of France?"}]
    assert chat["output"] == {"role": "assistant", "content": "Paris."}
    assert chat["completion_message"] == {"role": "assistant", "content": "Paris."}
    assert chat["span_attributes"] == {
        "gen_ai.response.id": "chatcmpl-1",
        "otel.scope.name": "respan.tracer",
        "otel.span.kind": "client",
    }
    assert chat["latency"] == pytest.approx(0.5)
    assert tree(client, trace) == [(0, "answer"), (1, "ask_llm"), (2, "llm.gpt-4o-mini")]
    # A reserved key is never returned, has no tag row (domain.spans.tags_for), and still filters.
    for filters, found in (
        ({"metadata___tracing_sdk_version": {"operator": "", "value": "2.24.0"}}, 3),
        ({"metadata___tracing_sdk_version": {"operator": "in", "value": ["2.0", "2.24.0"]}}, 3),
        ({"metadata___tracing_sdk_version": {"operator": "", "value": "1.0"}}, 0),
        ({"metadata__plan": {"operator": "", "value": "pro"}}, 3),
    ):
        r = client.post(
            "/api/request-logs/list/?start_time=2000-01-01T00:00:00Z&end_time=2100-01-01T00:00:00Z",
            json={"filters": {"trace_unique_id": {"operator": "", "value": [trace]}, **filters}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["total_count"] == found, filters


def test_the_same_cost_as_the_same_span_sent_by_rest(client: TestClient) -> None:
    trace = hex_id(16)
    attributes: Json = {"gen_ai.request.model": "claude-3-5-sonnet-20241022", "llm.request.type": "chat"}
    attributes |= {"gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 700}
    post_json(client, request_json([otlp_span("chat", attributes, trace=trace)]))
    (otlp,) = spans_of(client, trace).values()
    rest = client.post(
        "/api/request-logs/",
        json={"model": "claude-3-5-sonnet-20241022", "prompt_tokens": 5000, "completion_tokens": 700},
    ).json()
    assert otlp["cost"] > 0
    assert otlp["cost"] == pytest.approx(rest["cost"])


@pytest.mark.parametrize("encoding", ["json", "protobuf", "protobuf+gzip", "protobuf+deflate", "json+gzip"])
@pytest.mark.parametrize("path", PATHS)
def test_every_path_takes_every_encoding(client: TestClient, path: str, encoding: str) -> None:
    trace = hex_id(16)
    spans, ids = respan_trace(trace)
    body = request_json(spans)
    raw = orjson.dumps(body) if encoding.startswith("json") else to_protobuf(body)
    headers = {"Content-Type": "application/json" if encoding.startswith("json") else "application/x-protobuf"}
    if encoding.endswith("gzip"):
        raw, headers["Content-Encoding"] = gzip.compress(raw), "gzip"
    elif encoding.endswith("deflate"):
        raw, headers["Content-Encoding"] = zlib.compress(raw), "deflate"
    r = client.post(path, content=raw, headers=headers)
    assert r.status_code == 200, r.text
    if encoding.startswith("json"):
        assert r.json() == {"partialSuccess": {}}
    else:
        assert r.headers["content-type"] == "application/x-protobuf"
        assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    assert set(spans_of(client, trace)) == set(ids.values())
    assert tree(client, trace) == [(0, "answer"), (1, "ask_llm"), (2, "llm.gpt-4o-mini")]


def test_protobuf_and_json_of_the_same_spans_store_the_same_fields(client: TestClient) -> None:
    trace_json, trace_pb = hex_id(16), hex_id(16)
    spans_json, ids_json = respan_trace(trace_json)
    spans_pb, ids_pb = respan_trace(trace_pb)
    post_json(client, request_json(spans_json))
    post_protobuf(client, to_protobuf(request_json(spans_pb)))
    skip = {"id", "unique_id", "trace_unique_id", "span_unique_id", "span_parent_id", "organization_key_id"}
    by_json = {
        s["span_name"]: {k: v for k, v in s.items() if k not in skip} for s in spans_of(client, trace_json).values()
    }
    by_pb = {s["span_name"]: {k: v for k, v in s.items() if k not in skip} for s in spans_of(client, trace_pb).values()}
    assert by_json == by_pb
    assert len(ids_json) == len(ids_pb) == 3


# ------------------------------------------------------------------------ guarantees


def test_a_resent_batch_is_not_stored_twice(client: TestClient) -> None:
    trace = hex_id(16)
    spans, _ = respan_trace(trace)
    body = to_protobuf(request_json(spans))
    post_protobuf(client, body)
    post_protobuf(client, body)
    assert len(spans_of(client, trace)) == 3
    assert len(tree(client, trace)) == 3


def test_children_sent_before_their_parent_in_other_requests_attach_when_it_arrives(client: TestClient) -> None:
    trace = hex_id(16)
    (chat, task, workflow), _ = respan_trace(trace)
    post_json(client, request_json([chat]))
    assert tree(client, trace) == [(0, "llm.gpt-4o-mini")]  # shown at the root until its parent comes
    post_protobuf(client, to_protobuf(request_json([task])))
    post_json(client, request_json([workflow]))
    assert tree(client, trace) == [(0, "answer"), (1, "ask_llm"), (2, "llm.gpt-4o-mini")]


def test_an_end_before_the_start_is_clamped_to_a_zero_latency(client: TestClient) -> None:
    trace = hex_id(16)
    span = otlp_span("batch_results", {"traceloop.span.kind": "task"}, trace=trace, duration_ns=-5_000_000_000)
    post_json(client, request_json([span]))
    (stored,) = spans_of(client, trace).values()
    assert stored["latency"] == 0
    assert stored["start_time"] == stored["timestamp"]


def test_an_error_span_keeps_its_status_and_the_exception_message(client: TestClient) -> None:
    trace = hex_id(16)
    exception = {
        "name": "exception",
        "timeUnixNano": str(NOW_NS),
        "attributes": [
            {"key": "exception.type", "value": {"stringValue": "RateLimitError"}},
            {"key": "exception.message", "value": {"stringValue": "429 Too Many Requests"}},
        ],
    }
    failed = otlp_span("call", {}, trace=trace, status={"code": 2}, events=[exception])
    explained = otlp_span("call2", {}, trace=trace, status={"code": 2, "message": "boom"})
    fine = otlp_span("ok", {"error.message": "not an error"}, trace=trace, status={"code": 1})
    post_protobuf(client, to_protobuf(request_json([failed, explained, fine])))
    stored = {s["span_name"]: s for s in spans_of(client, trace).values()}
    assert (stored["call"]["status"], stored["call"]["error_message"]) == ("failed", "429 Too Many Requests")
    assert stored["call"]["span_events"][0]["name"] == "exception"
    assert stored["call"]["span_events"][0]["attributes"]["exception.type"] == "RateLimitError"
    assert (stored["call2"]["status"], stored["call2"]["error_message"]) == ("failed", "boom")
    assert (stored["ok"]["status"], stored["ok"]["error_message"]) == ("success", None)
    assert stored["ok"]["span_attributes"]["error.message"] == "not an error"
    r = client.post(
        "/api/request-logs/list/?start_time=2000-01-01T00:00:00Z&end_time=2100-01-01T00:00:00Z",
        json={"filters": {"trace_unique_id": {"operator": "", "value": [trace]}, "status": {"value": "failed"}}},
    )
    assert {row["span_name"] for row in r.json()["results"]} == {"call", "call2"}


# ------------------------------------------------------------------------ the other vocabularies


def test_genai_semantic_conventions(client: TestClient) -> None:
    trace = hex_id(16)
    input_messages = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    ]
    output_messages = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}],
            "finish_reason": "tool_call",
        }
    ]
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        "gen_ai.response.model": "claude-3-5-sonnet-20241022",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read_input_tokens": 400,
        "gen_ai.usage.cache_creation_input_tokens": 100,
        "gen_ai.usage.reasoning_tokens": 20,
        "gen_ai.conversation.id": "conv-7",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.system_instructions": orjson.dumps([{"type": "text", "content": "Be brief."}]).decode(),
        "gen_ai.input.messages": orjson.dumps(input_messages).decode(),
        "gen_ai.output.messages": orjson.dumps(output_messages).decode(),
        "server.address": "api.anthropic.com",
    }
    post_protobuf(client, to_protobuf(request_json([otlp_span("chat claude", attributes, trace=trace, kind=3)])))
    (s,) = spans_of(client, trace).values()
    assert (s["log_type"], s["model"], s["provider_id"]) == ("chat", "claude-3-5-sonnet-20241022", "anthropic")
    assert (s["prompt_tokens"], s["completion_tokens"], s["reasoning_tokens"]) == (1000, 50, 20)
    assert (s["prompt_cache_hit_tokens"], s["prompt_cache_creation_tokens"]) == (400, 100)
    assert s["thread_identifier"] == "conv-7"
    assert (s["temperature"], s["max_tokens"]) == (0.2, 256)
    assert s["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
    assert s["output"] == {"role": "assistant", "content": None, "tool_calls": [call], "finish_reason": "tool_call"}
    assert s["has_tool_calls"] is True
    assert s["tool_calls"] == [call]
    assert s["cost"] > 0
    assert s["span_attributes"]["gen_ai.operation.name"] == "chat"
    assert s["span_attributes"]["server.address"] == "api.anthropic.com"


def test_openinference_attributes(client: TestClient) -> None:
    trace = hex_id(16)
    root = hex_id(8)
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.provider": "openai",
        "llm.token_count.prompt": 900,
        "llm.token_count.completion": 100,
        "llm.token_count.total": 1000,
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are terse.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": "Hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Hello.",
        "input.value": '{"messages": "..."}',
        "input.mime_type": "application/json",
        "output.value": "Hello.",
        "session.id": "sess-9",
        "user.id": "user-5",
        "metadata": '{"experiment": "b", "round": 2}',
        "llm.invocation_parameters": '{"temperature": 0}',
    }
    chain = otlp_span("agent run", {"openinference.span.kind": "CHAIN", "input.value": "Hi"}, trace=trace, span=root)
    llm = otlp_span("ChatOpenAI", attributes, trace=trace, parent=root)
    post_json(client, request_json([llm, chain], {"service.name": "phoenix-app"}, {"name": "openinference.langchain"}))
    stored = {s["span_name"]: s for s in spans_of(client, trace).values()}
    s = stored["ChatOpenAI"]
    assert (s["log_type"], s["model"], s["provider_id"]) == ("generation", "gpt-4o", "openai")
    assert (s["prompt_tokens"], s["completion_tokens"], s["total_request_tokens"]) == (900, 100, 1000)
    assert s["input"] == [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}]
    assert s["output"] == {"role": "assistant", "content": "Hello."}
    assert (s["thread_identifier"], s["customer_identifier"]) == ("sess-9", "user-5")
    assert s["metadata"] == {"experiment": "b", "round": "2"}
    assert s["cost"] == pytest.approx(900 * 2.5e-6 + 100 * 10e-6)
    assert s["span_attributes"]["llm.invocation_parameters"] == '{"temperature": 0}'
    assert (stored["agent run"]["log_type"], stored["agent run"]["input"]) == ("task", "Hi")
    assert tree(client, trace) == [(0, "agent run"), (1, "ChatOpenAI")]


def test_keywordsai_prefixes_and_plain_otel_spans(client: TestClient) -> None:
    trace = hex_id(16)
    kai = otlp_span(
        "kw_step.task",
        {
            "traceloop.span.kind": "task",
            "traceloop.entity.name": "kw_step",
            "keywordsai.entity.log_method": "python_tracing",
            "keywordsai.customer_params.customer_identifier": "kw-cust",
            "keywordsai.threads.thread_identifier": "kw-thread",
            "keywordsai.metadata.tier": "gold",
        },
        trace=trace,
    )
    plain = otlp_span("GET /health", {"http.request.method": "GET", "http.response.status_code": 200}, trace=trace)
    post_protobuf(client, to_protobuf(request_json([kai, plain])))
    stored = {s["span_name"]: s for s in spans_of(client, trace).values()}
    k = stored["kw_step"]
    assert (k["log_type"], k["log_method"], k["customer_identifier"], k["thread_identifier"]) == (
        "task",
        "python_tracing",
        "kw-cust",
        "kw-thread",
    )
    assert k["metadata"] == {"tier": "gold"}
    p = stored["GET /health"]
    assert (p["log_type"], p["log_method"], p["model"], p["cost"]) == ("span", "tracing_integration", "", None)
    assert p["span_attributes"] == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "otel.span.kind": "internal",
    }


def test_attribute_values_of_every_type(client: TestClient) -> None:
    trace = hex_id(16)
    attributes = {"s": "x", "i": 7, "d": 1.5, "b": True, "a": [1, "two"], "kv": {"k": "v", "n": 2}}
    span = otlp_span("types", attributes, trace=trace)
    span["attributes"].append({"key": "bytes", "value": {"bytesValue": "AAEC"}})
    span["attributes"].append({"key": "int_as_number", "value": {"intValue": 13}})
    post_json(client, request_json([span]))
    (s,) = spans_of(client, trace).values()
    assert s["span_attributes"] == {**attributes, "bytes": "AAEC", "int_as_number": 13, "otel.span.kind": "internal"}


# ------------------------------------------------------------------------ bad input


def test_a_span_that_cannot_be_stored_is_rejected_alone(client: TestClient) -> None:
    trace = hex_id(16)
    good = otlp_span("good", {}, trace=trace)
    negative = otlp_span("negative", {"gen_ai.usage.input_tokens": -5}, trace=trace)
    zero_id = otlp_span("zero", {}, trace="0" * 32)
    zero_parent = otlp_span("zero parent", {}, trace=trace, parent="0" * 16)  # "no parent", as some send it
    body = request_json([good, negative, zero_id, zero_parent])
    answer = post_json(client, body)
    partial = answer["partialSuccess"]
    assert partial["rejectedSpans"] == 1
    assert "traceId" in partial["errorMessage"]
    # A value of the wrong type is not worth losing the span for: kept aside, with a warning.
    assert "prompt_tokens" in partial["errorMessage"] and "kept in span_attributes" in partial["errorMessage"]
    stored = {s["span_name"]: s for s in spans_of(client, trace).values()}
    assert set(stored) == {"good", "negative", "zero parent"}
    assert stored["zero parent"]["span_parent_id"] is None
    assert stored["negative"]["prompt_tokens"] == 0
    assert stored["negative"]["span_attributes"]["prompt_tokens"] == -5

    other = hex_id(16)
    pb = post_protobuf(client, to_protobuf(request_json([otlp_span("ok", {}, trace=other), zero_id])))
    assert pb.partial_success.rejected_spans == 1
    assert "traceId" in pb.partial_success.error_message
    assert len(spans_of(client, other)) == 1


def test_bodies_that_cannot_be_read_are_refused_whole(client: TestClient) -> None:
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (b"\xff\xfe not protobuf", PROTOBUF, 400, "protobuf"),
        (b'{"resourceSpans": [', {"Content-Type": "application/json"}, 400, "JSON"),
        (b'["a list"]', {"Content-Type": "application/json"}, 400, "object"),
        (b'{"resourceSpans": {}}', {"Content-Type": "application/json"}, 400, "resourceSpans"),
        (gzip.compress(b"{}")[:-4], {**PROTOBUF, "Content-Encoding": "gzip"}, 400, "gzip"),
        (b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"}, 400, "Content-Encoding"),
    ]
    for body, headers, status, word in cases:
        r = client.post("/v1/traces", content=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert word in r.json()["detail"], r.text
    assert client.post("/v1/traces", content=b"", headers=PROTOBUF).status_code == 200  # an empty request
    r = client.post("/v1/traces", content=b"hi", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    assert "text/plain" in r.json()["detail"]
    # Without a Content-Type the body says which it is.
    trace = hex_id(16)
    spans, _ = respan_trace(trace)
    for raw in (orjson.dumps(request_json(spans)), to_protobuf(request_json(spans))):
        r = client.post("/v1/traces", content=raw, headers={"Content-Type": ""})
        assert r.status_code == 200, r.text
    assert len(spans_of(client, trace)) == 3


def test_otlp_needs_an_api_key(client: TestClient) -> None:
    body = to_protobuf(request_json(respan_trace(hex_id(16))[0]))
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        r = client.post("/api/v1/traces", content=body, headers={**PROTOBUF, **headers})
        assert r.status_code == 401, r.text


@pytest.fixture
def small_client(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """The app with a 1 MB body limit (the default is 100 MB), on the tenant's store."""
    app = create_app(dataclasses.replace(settings, max_body_bytes=1_000_000), say=lambda _: None)
    with TestClient(app, headers=dict(client.headers)) as c:
        yield c


def test_a_body_over_the_limit_once_decompressed_is_refused_with_413(small_client: TestClient) -> None:
    trace = hex_id(16)
    huge = otlp_span("big", {"traceloop.entity.input": "x" * 2_000_000}, trace=trace)
    raw = orjson.dumps(request_json([huge]))
    squeezed = gzip.compress(raw)
    assert len(squeezed) < 1_000_000 < len(raw)
    for body, headers in (
        (squeezed, {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        (raw, {"Content-Type": "application/json"}),
        (zlib.compress(to_protobuf(request_json([huge]))), {**PROTOBUF, "Content-Encoding": "deflate"}),
    ):
        r = small_client.post("/api/v2/traces", content=body, headers=headers)
        assert r.status_code == 413, r.text
        assert "limit" in r.json()["detail"]
    # A gzip bomb: 10 KB that would inflate to 10 GB is refused after the first megabyte.
    bomb = gzip.compress(b"\0" * 50_000_000)
    started = time.perf_counter()
    r = small_client.post("/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text
    assert time.perf_counter() - started < 2
    assert spans_of(small_client, trace) == {}


# ------------------------------------------------------------------------ legacy JSON ingest


def legacy_span(trace: str, span: str, parent: str | None = None, **fields: Any) -> Json:
    return {"trace_unique_id": trace, "span_unique_id": span, "span_parent_id": parent, **fields}


def test_legacy_ingest_takes_a_list_or_data(client: TestClient) -> None:
    trace = hex_id(16)
    root, child = hex_id(8), hex_id(8)
    spans = [
        legacy_span(trace, child, root, span_name="llm", log_type="chat", model="gpt-4o", prompt_tokens=10),
        legacy_span(trace, root, None, span_name="root", log_type="workflow", customer_identifier="c1"),
    ]
    r = client.post("/api/v1/traces/ingest", json=spans)
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["message"], str) and r.json()["success_count"] == 2
    assert tree(client, trace) == [(0, "root"), (1, "llm")]
    stored = {s["span_name"]: s for s in spans_of(client, trace).values()}
    assert stored["llm"]["cost"] > 0 and stored["root"]["customer_identifier"] == "c1"

    other = hex_id(16)
    r = client.post("/api/v1/traces/ingest", json={"data": [legacy_span(other, hex_id(8), span_name="alone")]})
    assert r.status_code == 200, r.text
    assert [s["span_name"] for s in spans_of(client, other).values()] == ["alone"]


def test_legacy_ingest_reports_bad_rows(client: TestClient) -> None:
    trace = hex_id(16)
    rows = [
        legacy_span(trace, hex_id(8), span_name="kept"),
        {"trace_unique_id": trace, "span_name": "no span id"},
        legacy_span(trace, hex_id(8), span_name="bad tokens", prompt_tokens=-1),
        "not an object",
    ]
    r = client.post("/api/v1/traces/ingest", json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["success_count"], body["error_count"]) == (1, 3)
    assert [e["index"] for e in body["errors"]] == [1, 2, 3]
    assert "span_unique_id" in body["errors"][0]["error"]
    assert "prompt_tokens" in body["errors"][1]["error"]
    assert [s["span_name"] for s in spans_of(client, trace).values()] == ["kept"]

    r = client.post("/api/v1/traces/ingest", json=[{"span_name": "x"}])
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["index"] == 0
    assert client.post("/api/v1/traces/ingest", json={"data": "x"}).status_code == 422
    assert (
        client.post("/api/v1/traces/ingest", content=b"[", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
