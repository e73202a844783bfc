"""OTLP/HTTP trace ingestion driven by the real exporters, against a real HTTP server on each store.

* respan-tracing 2.24.0 (clients.md §1): its own OTLP/JSON exporter posting to `{base}/v2/traces`, run in a
  subprocess of the project's Python (the tracer installs a global tracer provider and a singleton, which
  must not leak into this process), with its `@workflow` / `@task` decorators and both attribute helpers.
  The subprocess also runs the vendor's own read-back check (`respan_tracing.testing.live`, §5) on us.
* The OpenTelemetry SDK's OTLP/HTTP protobuf exporter (1.45), in this process with a private
  TracerProvider: GenAI semantic-convention spans, an error span, compression, both paths.
* OpenInference-style attributes (set by hand through the OTel SDK), sent with the same exporter.
* keywordsai-tracing 0.0.59 (clients.md §2): stock OTel 1.34 protobuf exporter posting to
  `{base}/v1/traces`, optionally gzip, in a venv of its own (tests/otlp_venvs.py), with a real OpenAI
  client instrumented by opentelemetry-instrumentation-openai calling a stub OpenAI server here.

What each exporter sent is recorded on the client side (its spans, their ids and attributes, the export
result), and every expectation is computed from that record and the test's own inputs, then read back
through the Respan read API: `POST /api/request-logs/list/`, `GET /api/request-logs/{id}/` and
`GET /api/traces/{trace_id}/` (clients.md §5, §6).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.conftest import Tenant
from tests.otlp_venvs import VenvBuildError, tracer_venv

pytestmark = pytest.mark.slow

Json = dict[str, Any]
KEYWORDSAI = ("keywordsai-tracing", "0.0.59")
LLM_LOG_TYPES = frozenset({"generation", "chat", "llm"})

# ------------------------------------------------------------------------------------------ the server


@pytest.fixture
def http(base_url: str, tenant: Tenant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=tenant.headers, timeout=30, trust_env=False) as client:
        yield client


# ------------------------------------------------------------------------------------------ reading back


def trace_rows(http: httpx.Client, trace_id: str) -> list[Json]:
    """The list rows of one trace, read the way respan_tracing.testing.live reads them (clients.md §5)."""
    r = http.post(
        "/api/request-logs/list/",
        params={"page_size": 500},
        json={"filters": {"trace_unique_id": {"operator": "", "value": [trace_id]}}},
    )
    assert r.status_code == 200, r.text
    rows: list[Json] = r.json()["results"]
    return rows


def trace_details(http: httpx.Client, trace_id: str) -> dict[str, Json]:
    """span_unique_id -> the span's full detail, for every span of the trace (each stored once)."""
    rows = trace_rows(http, trace_id)
    out: dict[str, Json] = {}
    for row in rows:
        r = http.get(f"/api/request-logs/{row['id']}/")
        assert r.status_code == 200, r.text
        detail: Json = r.json()
        assert detail["trace_unique_id"] == trace_id
        assert detail["span_unique_id"] not in out, f"span {detail['span_unique_id']} is stored twice"
        out[detail["span_unique_id"]] = detail
    return out


def get_trace(http: httpx.Client, trace_id: str) -> Json:
    r = http.get(f"/api/traces/{trace_id}/")
    assert r.status_code == 200, r.text
    trace: Json = r.json()
    return trace


def placement(nodes: Sequence[Json], parent: str | None = None) -> dict[str, str | None]:
    """span_unique_id -> the span it sits under in a span tree (None at the top), for every node."""
    out: dict[str, str | None] = {}
    for node in nodes:
        sid = node["span_unique_id"]
        assert sid not in out, f"{sid} appears twice in the tree"
        out[sid] = parent
        out.update(placement(node.get("children") or [], sid))
    return out


def rest_cost(http: httpx.Client, model: str, prompt: int, completion: int) -> float:
    """What the server charges for these tokens of this model through the REST create endpoint."""
    body = {
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "trace_unique_id": f"cost-reference-{uuid.uuid4().hex}",
    }
    r = http.post("/api/request-logs/", json=body)
    assert r.status_code in (200, 201), r.text
    cost = r.json()["cost"]
    assert isinstance(cost, float) and cost > 0, f"no price for {model}: {r.text}"
    return cost


def messages_of(value: Any) -> list[Json]:
    """The role/content pairs of a message list (or of one message), for comparing with what was sent."""
    if isinstance(value, dict):
        value = [value]
    assert isinstance(value, list), f"not a message or a message list: {value!r}"
    assert all(isinstance(m, dict) for m in value), value
    return [{"role": m.get("role"), "content": m.get("content")} for m in value]


def json_or_text(value: Any, sent: str) -> None:
    """A JSON-string attribute (traceloop.entity.input/output) is stored parsed, or as the string sent."""
    assert value in (sent, json.loads(sent)), f"stored {value!r}, sent {sent!r}"


def when(text: str) -> float:
    """An ISO 8601 time of the read API as seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def latency_of(start_ns: int, end_ns: int) -> float:
    return max(0, end_ns - start_ns) / 1e9


# ------------------------------------------------------------------------------------------ subprocesses


def client_env(**extra: str) -> dict[str, str]:
    """The environment of a client subprocess: none of the runner's tracer, OTel or OpenAI settings."""
    prefixes = ("RESPAN_", "KEYWORDSAI_", "OTEL_", "OPENAI_", "SPANBASE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    for k in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_client(python: Path, script: str, cfg: Json, env: dict[str, str], tmp_path: Path) -> Json:
    """Run `script` with `python`, cfg as its argument; the JSON object it prints last on stdout."""
    path = tmp_path / f"client-{uuid.uuid4().hex[:8]}.py"
    path.write_text(script)
    done = subprocess.run(
        [str(python), str(path), json.dumps(cfg)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the client exited with {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"the client printed nothing\n{done.stderr}"
    out: Json = json.loads(lines[-1])
    out["stderr"] = done.stderr
    return out


# The client side of every subprocess: each export's result and the spans in it, as the SDK holds them.
_RECORD_EXPORTS = """
exports = []

def _record(exporter_class):
    original = exporter_class.export

    def export(self, spans):
        result = original(self, spans)
        compression = getattr(self, "_compression", None)
        exports.append({
            "result": result.name,
            "compression": getattr(compression, "value", None),
            "spans": [{
                "trace_id": format(s.context.trace_id, "032x"),
                "span_id": format(s.context.span_id, "016x"),
                "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
                "name": s.name,
                "start": s.start_time,
                "end": s.end_time,
                "status": s.status.status_code.value,
                "attributes": dict(s.attributes or {}),
            } for s in spans],
        })
        return result

    exporter_class.export = export
"""

RESPAN_SCRIPT = (
    """
import json, os, sys

cfg = json.loads(sys.argv[1])
"""
    + _RECORD_EXPORTS
    + """
import respan_tracing.exporters.respan as respan_exporter
_record(respan_exporter.RespanSpanExporter)

# And the OTLP/JSON bodies the exporter builds, as they go on the wire.
payloads = []
_build = respan_exporter._build_otlp_payload

def _recording_build(spans):
    payload = _build(spans)
    payloads.append(json.loads(json.dumps(payload, default=str)))
    return payload

respan_exporter._build_otlp_payload = _recording_build

from respan_tracing import RespanTelemetry, get_client, respan_span_attributes, task, workflow

if cfg["configure"] == "env":
    os.environ["RESPAN_API_KEY"] = cfg["key"]
    os.environ["RESPAN_BASE_URL"] = cfg["base_url"]
    os.environ["RESPAN_BATCHING_ENABLED"] = "true" if cfg["batching"] else "false"
    telemetry = RespanTelemetry(app_name=cfg["app"], log_level="WARNING")
else:
    telemetry = RespanTelemetry(
        app_name=cfg["app"], api_key=cfg["key"], base_url=cfg["base_url"],
        is_batching_enabled=cfg["batching"], log_level="WARNING",
    )
PARAMS = {"customer_identifier": cfg["customer"], "thread_identifier": cfg["thread"], "metadata": cfg["metadata"]}


@task(name="inner_step")
def inner(text):
    get_client().update_current_span(respan_params=PARAMS)
    return text.upper()


@task(name="outer_step")
def outer(text):
    with respan_span_attributes(PARAMS):
        return inner(text) + "!"


@task(name="count_step")
def count(text):
    get_client().update_current_span(respan_params=PARAMS)
    return len(text)


@workflow(name=cfg["workflow"])
def flow(question):
    get_client().update_current_span(respan_params=PARAMS)
    return {"shout": outer(question), "length": count(question)}


flow(cfg["question"])
telemetry.flush()

# The vendor's own check of a landed trace (respan_tracing.testing.live, clients.md section 5).
from respan_tracing.testing.live import RespanLogsClient, trace_problems

trace_ids = sorted({s["trace_id"] for e in exports for s in e["spans"]})
logs = RespanLogsClient(cfg["read_base_url"], cfg["key"], timeout=30)
problems = {
    t: trace_problems(
        logs.trace_rows(t),
        exported=sum(1 for e in exports for s in e["spans"] if s["trace_id"] == t),
        customer_identifier=cfg["customer"],
        metadata={k: str(v) for k, v in cfg["metadata"].items()},
    )
    for t in trace_ids
}
print(json.dumps({"exports": exports, "payloads": payloads, "problems": problems}))
"""
)

KEYWORDSAI_SCRIPT = (
    """
import json, os, sys

cfg = json.loads(sys.argv[1])
"""
    + _RECORD_EXPORTS
    + """
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
_record(OTLPSpanExporter)

import openai
from keywordsai_tracing import KeywordsAITelemetry, get_client, keywordsai_span_attributes, task, workflow

telemetry = KeywordsAITelemetry(app_name=cfg["app"], api_key=cfg["key"], base_url=cfg["base_url"], log_level="WARNING")
PARAMS = {"customer_identifier": cfg["customer"], "thread_identifier": cfg["thread"], "metadata": cfg["metadata"]}
llm = openai.OpenAI(api_key="sk-stub", base_url=cfg["openai_base_url"], max_retries=0)


@task(name="kw_ask_llm")
def ask(question):
    get_client().update_current_span(keywordsai_params=PARAMS)
    answer = llm.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return answer.choices[0].message.content


@task(name="kw_outer")
def outer(question):
    with keywordsai_span_attributes(PARAMS):
        return ask(question) + "!"


@workflow(name=cfg["workflow"])
def flow(question):
    get_client().update_current_span(keywordsai_params=PARAMS)
    return outer(question)


flow(cfg["question"])
telemetry.flush()
print(json.dumps({"exports": exports}))
"""
)


def exported_spans(out: Json) -> list[Json]:
    """Every span the client exported, after checking that every export succeeded."""
    results = [e["result"] for e in out["exports"]]
    assert results, f"the client exported nothing\n{out['stderr']}"
    assert all(r == "SUCCESS" for r in results), f"exports: {results}\n{out['stderr']}"
    spans: list[Json] = [s for e in out["exports"] for s in e["spans"]]
    assert len({s["span_id"] for s in spans}) == len(spans), "a span was exported twice"
    return spans


def by_entity(spans: list[Json]) -> dict[str, Json]:
    """Exported spans by traceloop.entity.name (by OTel name when there is none)."""
    out = {s["attributes"].get("traceloop.entity.name", s["name"]): s for s in spans}
    assert len(out) == len(spans), [s["name"] for s in spans]
    return out


# ------------------------------------------------------------------------------------------ respan-tracing


@pytest.mark.parametrize(
    ("configure", "batching", "base_path"),
    [
        pytest.param("args", True, "/api", id="constructor-batching-api"),
        # The environment variables, one POST per span (children before their parents, in several
        # requests), and a base URL without /api: the exporter then posts to /v2/traces at the root.
        pytest.param("env", False, "", id="env-unbatched-root"),
    ],
)
def test_respan_tracing_decorated_workflow_is_stored_as_its_tree(
    base_url: str, http: httpx.Client, tenant: Tenant, tmp_path: Path, configure: str, batching: bool, base_path: str
) -> None:
    run = uuid.uuid4().hex[:8]
    cfg: Json = {
        "configure": configure,
        "key": tenant.key,
        "base_url": base_url + base_path,
        "read_base_url": base_url + "/api",
        "batching": batching,
        "app": f"respan-e2e-{run}",
        "workflow": f"e2e_workflow_{run}",
        "question": "what is 2+2?",
        "customer": f"customer-{run}",
        "thread": f"thread-{run}",
        "metadata": {"plan": "pro", "run": run, "attempt": 3},
    }
    out = run_client(Path(sys.executable), RESPAN_SCRIPT, cfg, client_env(), tmp_path)
    spans = exported_spans(out)
    entities = by_entity(spans)
    assert set(entities) == {cfg["workflow"], "outer_step", "inner_step", "count_step"}
    if not batching:
        # One request per span, each span in the request after its children's: the root comes last.
        assert [len(e["spans"]) for e in out["exports"]] == [1, 1, 1, 1]
        assert out["exports"][-1]["spans"][0]["parent_id"] is None
    (trace_id,) = {s["trace_id"] for s in spans}
    root = entities[cfg["workflow"]]
    assert root["parent_id"] is None
    # On the wire: semantic names ("workflow", "task"), the tracer's reserved metadata key on every span.
    wire = {
        s["spanId"]: s
        for p in out["payloads"]
        for rs in p["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    }
    assert set(wire) == {s["span_id"] for s in spans}
    for sent in spans:
        on_wire = wire[sent["span_id"]]
        assert on_wire["name"] == ("workflow" if sent is root else "task")
        wire_attrs = {a["key"]: a["value"] for a in on_wire["attributes"]}
        assert wire_attrs["respan.metadata._tracing_sdk_version"] == {"stringValue": "2.24.0"}
        assert wire_attrs["respan.metadata.attempt"] == {"intValue": "3"}

    # The vendor's own verdict on the stored trace.
    assert out["problems"] == {trace_id: []}

    details = trace_details(http, trace_id)
    assert set(details) == {s["span_id"] for s in spans}
    expected_metadata = {"plan": "pro", "run": run, "attempt": "3"}
    for entity, sent in entities.items():
        d = details[sent["span_id"]]
        attrs = sent["attributes"]
        assert d["span_parent_id"] == sent["parent_id"] or (sent["parent_id"] is None and not d["span_parent_id"])
        assert d["span_name"] == entity
        assert d["span_workflow_name"] == cfg["workflow"]
        assert d["log_type"] == ("workflow" if entity == cfg["workflow"] else "task")
        assert d["log_method"] == "python_tracing"
        assert d["customer_identifier"] == cfg["customer"]
        assert d["thread_identifier"] == cfg["thread"]
        assert d["session_identifier"] == cfg["thread"]
        assert d["metadata"] == expected_metadata, d["metadata"]
        assert not any(k.startswith("_") for k in d["metadata"])
        if attrs["traceloop.entity.path"]:
            assert d["span_path"] == attrs["traceloop.entity.path"]
        json_or_text(d["input"], attrs["traceloop.entity.input"])
        json_or_text(d["output"], attrs["traceloop.entity.output"])
        assert d["status"] == "success"
        assert d["latency"] == pytest.approx(latency_of(sent["start"], sent["end"]), abs=1e-3)
        assert d["resource_attributes"]["service.name"] == cfg["app"]
        assert d["environment"] == tenant.environment

    # The list rows agree with the details on what identifies a span.
    rows = trace_rows(http, trace_id)
    assert len(rows) == len(spans)
    assert [r["span_name"] for r in rows if not r["span_parent_id"]] == [cfg["workflow"]]

    trace = get_trace(http, trace_id)
    assert trace["trace_unique_id"] == trace_id
    assert trace["span_count"] == 4
    assert trace["root_span_unique_id"] == root["span_id"]
    assert trace["customer_identifier"] == cfg["customer"]
    assert trace["error_count"] == 0
    assert placement(trace["span_tree"]) == {
        root["span_id"]: None,
        entities["outer_step"]["span_id"]: root["span_id"],
        entities["count_step"]["span_id"]: root["span_id"],
        entities["inner_step"]["span_id"]: entities["outer_step"]["span_id"],
    }


# ------------------------------------------------------------------------------------------ OTel SDK exporter


class RecordingExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP protobuf exporter, remembering the result of each export."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        super().shutdown()  # type: ignore[no-untyped-call]  # the SDK does not annotate it


def exporter_for(base_url: str, path: str, key: str, compression: Compression | None = None) -> RecordingExporter:
    return RecordingExporter(
        endpoint=base_url + path,
        headers={"Authorization": f"Bearer {key}"},
        compression=compression,
        timeout=10,
    )


def provider(
    service: str, *exporters: SpanExporter, batch: bool = False
) -> tuple[TracerProvider, InMemorySpanExporter]:
    """A private TracerProvider (never the global one) sending to `exporters`, and keeping a copy of
    every finished span in memory."""
    tp = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "e2e"}))
    for exporter in exporters:
        tp.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    memory = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(memory))
    return tp, memory


def hex_ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    ctx = span.get_span_context()
    assert ctx is not None
    parent = format(span.parent.span_id, "016x") if span.parent is not None else None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), parent


def finished(memory: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in memory.get_finished_spans()}


CHAT_IN = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
CHAT_OUT = {"role": "assistant", "content": "Paris."}


def genai_trace(tp: TracerProvider, conversation: str) -> None:
    """A root, a GenAI chat call, a failed tool call (status message) and a failed fallback (exception only)."""
    tracer = tp.get_tracer("spanbase.e2e.genai", "1.0")
    with tracer.start_as_current_span("support_agent", attributes={"app.note": "root note"}) as root:
        root.set_attribute("gen_ai.conversation.id", conversation)
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.conversation.id": conversation,
                    "app.note": "chat note",
                }
            )
            for i, m in enumerate(CHAT_IN):
                chat.set_attribute(f"gen_ai.prompt.{i}.role", m["role"])
                chat.set_attribute(f"gen_ai.prompt.{i}.content", m["content"])
            chat.set_attribute("gen_ai.completion.0.role", CHAT_OUT["role"])
            chat.set_attribute("gen_ai.completion.0.content", CHAT_OUT["content"])
            chat.set_attribute("gen_ai.completion.0.finish_reason", "stop")
        with tracer.start_as_current_span("lookup_weather", record_exception=False) as tool:
            tool.set_attribute("gen_ai.conversation.id", conversation)
            tool.record_exception(ValueError("kaboom"))
            tool.set_status(Status(StatusCode.ERROR, "tool exploded"))
        # The fallback links to the chat call it retries (spec §3.2: span_links on the tree node).
        retried = Link(chat.get_span_context(), {"link.reason": "retry"})
        with tracer.start_as_current_span(
            "fallback", links=[retried], record_exception=False, set_status_on_exception=False
        ) as fallback:
            fallback.record_exception(RuntimeError("kaboom two"))
            fallback.set_status(Status(StatusCode.ERROR))


@pytest.mark.parametrize(
    ("path", "compression", "batch"),
    [
        pytest.param("/api/v1/traces", None, False, id="api-v1-plain"),
        pytest.param("/api/v1/traces", Compression.Gzip, True, id="api-v1-gzip-batched"),
        pytest.param("/v1/traces", Compression.Deflate, False, id="root-v1-deflate"),
        pytest.param("/api/v2/traces", None, True, id="api-v2-protobuf"),
    ],
)
def test_otel_sdk_exporter_genai_spans_are_mapped(
    base_url: str, http: httpx.Client, tenant: Tenant, path: str, compression: Compression | None, batch: bool
) -> None:
    service = f"otel-e2e-{uuid.uuid4().hex[:8]}"
    conversation = f"conv-{uuid.uuid4().hex[:8]}"
    exporter = exporter_for(base_url, path, tenant.key, compression)
    tp, memory = provider(service, exporter, batch=batch)
    genai_trace(tp, conversation)
    assert tp.force_flush(10_000)
    tp.shutdown()
    assert exporter.results and all(r is SpanExportResult.SUCCESS for r in exporter.results), exporter.results

    spans = finished(memory)
    trace_id, root_id, root_parent = hex_ids(spans["support_agent"])
    assert root_parent is None
    details = trace_details(http, trace_id)
    assert set(details) == {hex_ids(s)[1] for s in spans.values()}
    for name, s in spans.items():
        _, sid, parent = hex_ids(s)
        d = details[sid]
        assert d["trace_unique_id"] == trace_id
        assert d["span_name"] == name
        if parent is None:
            assert not d["span_parent_id"]
        else:
            assert d["span_parent_id"] == parent
        assert s.start_time is not None and s.end_time is not None
        assert d["latency"] == pytest.approx(latency_of(s.start_time, s.end_time), abs=1e-3)
        assert abs(when(d["start_time"]) - s.start_time / 1e9) < 2e-6
        assert abs(when(d["timestamp"]) - s.end_time / 1e9) < 2e-6
        assert d["resource_attributes"]["service.name"] == service
        assert d["resource_attributes"]["deployment.environment"] == "e2e"
        assert d["span_attributes"]["otel.scope.name"] == "spanbase.e2e.genai"

    root = details[root_id]
    assert root["log_type"] == "span"
    assert root["status"] == "success"
    assert root["thread_identifier"] == conversation
    assert root["span_attributes"]["app.note"] == "root note"

    chat = details[hex_ids(spans["chat gpt-4o-mini"])[1]]
    assert chat["model"] == "gpt-4o-mini"
    assert (chat["prompt_tokens"], chat["completion_tokens"], chat["total_request_tokens"]) == (1200, 300, 1500)
    assert chat["cost"] == pytest.approx(rest_cost(http, "gpt-4o-mini", 1200, 300))
    assert chat["thread_identifier"] == conversation
    assert chat["status"] == "success"
    assert messages_of(chat["input"]) == CHAT_IN
    assert messages_of(chat["output"]) == [CHAT_OUT]
    assert chat["span_attributes"]["app.note"] == "chat note"

    tool = details[hex_ids(spans["lookup_weather"])[1]]
    assert tool["status"] == "failed"
    assert tool["error_message"] == "tool exploded"
    assert tool["thread_identifier"] == conversation

    fallback = details[hex_ids(spans["fallback"])[1]]
    assert fallback["status"] == "failed"
    assert "kaboom two" in (fallback["error_message"] or ""), fallback["error_message"]
    chat_id = hex_ids(spans["chat gpt-4o-mini"])[1]
    assert chat_id in json.dumps(fallback["span_links"])

    trace = get_trace(http, trace_id)
    assert trace["span_count"] == 4
    assert trace["error_count"] == 2
    assert trace["root_span_unique_id"] == root_id
    assert trace["total_prompt_tokens"] == 1200
    assert trace["total_completion_tokens"] == 300
    assert placement(trace["span_tree"]) == {hex_ids(s)[1]: hex_ids(s)[2] for s in spans.values()}
    nodes = {n["span_unique_id"]: n for n in trace["span_tree"][0]["children"]}
    links = nodes[hex_ids(spans["fallback"])[1]]["span_links"]
    assert isinstance(links, str) and chat_id in links and trace_id in links
    assert not nodes[chat_id]["span_links"]


def otlp_json(spans: Sequence[ReadableSpan]) -> Json:
    """The OTLP/JSON encoding of spans (ids as hex, per the OTLP/JSON convention), from the SDK's protobuf."""
    body = MessageToDict(encode_spans(spans))

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for k in ("traceId", "spanId", "parentSpanId"):
                if k in node:
                    node[k] = base64.b64decode(node[k]).hex()
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    fix(body)
    return body


def test_children_first_in_separate_requests_then_resends_store_each_span_once(
    base_url: str, http: httpx.Client, tenant: Tenant
) -> None:
    """A grandchild, then the root, then the middle span, each in its own export; then the whole trace
    again through the exporter, as protobuf by hand and as gzipped OTLP/JSON: three spans, one tree."""
    tp, memory = provider("otel-resend")
    tracer = tp.get_tracer("spanbase.e2e.resend")
    with (
        tracer.start_as_current_span("root"),
        tracer.start_as_current_span("middle"),
        tracer.start_as_current_span("leaf", attributes={"gen_ai.request.model": "gpt-4o-mini"}),
    ):
        pass
    tp.shutdown()
    spans = finished(memory)
    exporter = exporter_for(base_url, "/api/v1/traces", tenant.key)
    try:
        resend_in_pieces(http, exporter, spans)
    finally:
        exporter.shutdown()


def resend_in_pieces(http: httpx.Client, exporter: RecordingExporter, spans: dict[str, ReadableSpan]) -> None:
    trace_id, root_id, _ = hex_ids(spans["root"])
    _, middle_id, _ = hex_ids(spans["middle"])
    _, leaf_id, _ = hex_ids(spans["leaf"])
    assert exporter.export([spans["leaf"]]) is SpanExportResult.SUCCESS
    assert set(trace_details(http, trace_id)) == {leaf_id}
    # Its parent is not there yet: the leaf is a top-level node of the tree meanwhile.
    assert placement(get_trace(http, trace_id)["span_tree"]) == {leaf_id: None}

    assert exporter.export([spans["root"]]) is SpanExportResult.SUCCESS
    assert placement(get_trace(http, trace_id)["span_tree"]) == {root_id: None, leaf_id: None}

    assert exporter.export([spans["middle"]]) is SpanExportResult.SUCCESS
    expected = {root_id: None, middle_id: root_id, leaf_id: middle_id}
    assert placement(get_trace(http, trace_id)["span_tree"]) == expected
    first = trace_details(http, trace_id)
    assert set(first) == set(expected)

    # Resends: the exporter (protobuf), protobuf by hand (checking the protobuf answer), OTLP/JSON.
    assert exporter.export(list(spans.values())) is SpanExportResult.SUCCESS
    proto = http.post(
        "/api/v2/traces",
        content=encode_spans(list(spans.values())).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert proto.status_code == 200, proto.text
    assert proto.headers["content-type"].startswith("application/x-protobuf")
    answer = ExportTraceServiceResponse.FromString(proto.content)
    assert answer.partial_success.rejected_spans == 0
    as_json = http.post(
        "/v1/traces",
        content=gzip.compress(json.dumps(otlp_json(list(spans.values()))).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == {"partialSuccess": {}}

    again = trace_details(http, trace_id)
    assert set(again) == set(expected)
    assert {k: v["id"] for k, v in again.items()} == {k: v["id"] for k, v in first.items()}
    assert len(trace_rows(http, trace_id)) == 3
    trace = get_trace(http, trace_id)
    assert trace["span_count"] == 3
    assert placement(trace["span_tree"]) == expected


def test_a_wrong_key_is_refused_and_nothing_is_stored(base_url: str, http: httpx.Client) -> None:
    tp, memory = provider("otel-wrong-key")
    with tp.get_tracer("spanbase.e2e.auth").start_as_current_span("unauthorized"):
        pass
    tp.shutdown()
    (span,) = memory.get_finished_spans()
    exporter = exporter_for(base_url, "/api/v1/traces", "sb_live_not-a-real-key-at-all-0123456789")
    started = time.monotonic()
    try:
        assert exporter.export([span]) is SpanExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert time.monotonic() - started < 5, "a 401 must not be retried"
    raw = httpx.post(
        base_url + "/api/v2/traces",
        content=encode_spans([span]).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf", "Authorization": "Bearer sb_live_nope"},
    )
    assert raw.status_code == 401, raw.text
    assert trace_rows(http, hex_ids(span)[0]) == []


def test_some_spans_rejected_answer_partial_success_and_the_others_are_stored(http: httpx.Client) -> None:
    good_trace = uuid.uuid4().hex
    good = {
        "traceId": good_trace,
        "spanId": uuid.uuid4().hex[:16],
        "name": "good",
        "kind": 1,
        "startTimeUnixNano": str(time.time_ns() - 1_000_000),
        "endTimeUnixNano": str(time.time_ns()),
    }
    bad = {**good, "traceId": "not-a-hex-trace-id", "spanId": uuid.uuid4().hex[:16], "name": "bad"}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [good, bad]}]}]}
    r = http.post("/api/v2/traces", json=body)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert isinstance(partial["errorMessage"], str) and partial["errorMessage"]
    assert [row["span_name"] for row in trace_rows(http, good_trace)] == ["good"]


def test_a_body_over_100_mb_once_decompressed_is_413(http: httpx.Client) -> None:
    bomb = gzip.compress(b"\0" * (100 * 1024 * 1024 + 1), compresslevel=1)
    r = http.post(
        "/api/v1/traces",
        content=bomb,
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 413, r.text[:500]


# ------------------------------------------------------------------------------------------ OpenInference


def test_openinference_llm_span_is_mapped(base_url: str, http: httpx.Client, tenant: Tenant) -> None:
    session, user = f"session-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    question, answer = "What is the capital of France?", "Paris."
    exporter = exporter_for(base_url, "/api/v1/traces", tenant.key, Compression.Gzip)
    tp, memory = provider("openinference-e2e", exporter)
    tracer = tp.get_tracer("openinference.instrumentation.e2e")
    common = {"session.id": session, "user.id": user, "metadata": json.dumps({"k": "v", "tier": "gold"})}
    llm_attributes: dict[str, str | int] = {
        **common,
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 200,
        "llm.token_count.completion": 50,
        "llm.token_count.total": 250,
        "input.value": question,
        "input.mime_type": "text/plain",
        "output.value": answer,
        "output.mime_type": "text/plain",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
    }
    with (
        tracer.start_as_current_span("rag_pipeline", attributes={"openinference.span.kind": "CHAIN", **common}),
        tracer.start_as_current_span("ChatOpenAI", kind=SpanKind.CLIENT, attributes=llm_attributes),
    ):
        pass
    tp.shutdown()
    assert exporter.results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]
    spans = finished(memory)
    trace_id, chain_id, _ = hex_ids(spans["rag_pipeline"])
    _, llm_id, llm_parent = hex_ids(spans["ChatOpenAI"])
    details = trace_details(http, trace_id)
    assert set(details) == {chain_id, llm_id}

    d = details[llm_id]
    assert d["span_parent_id"] == llm_parent == chain_id
    assert d["span_name"] == "ChatOpenAI"
    assert d["log_type"] in LLM_LOG_TYPES
    assert d["model"] == "gpt-4o-mini"
    assert (d["prompt_tokens"], d["completion_tokens"], d["total_request_tokens"]) == (200, 50, 250)
    assert d["cost"] == pytest.approx(rest_cost(http, "gpt-4o-mini", 200, 50))
    # input.value / output.value as text, or the llm.*_messages as messages: either is the same content.
    assert d["input"] == question or messages_of(d["input"]) == [{"role": "user", "content": question}]
    assert d["output"] == answer or messages_of(d["output"]) == [{"role": "assistant", "content": answer}]
    for sid in (chain_id, llm_id):
        assert details[sid]["customer_identifier"] == user
        assert details[sid]["thread_identifier"] == session
        assert details[sid]["metadata"] == {"k": "v", "tier": "gold"}
        assert details[sid]["status"] == "success"
    assert details[chain_id]["log_type"] not in LLM_LOG_TYPES
    assert placement(get_trace(http, trace_id)["span_tree"]) == {chain_id: None, llm_id: chain_id}


# ------------------------------------------------------------------------------------------ keywordsai-tracing


@pytest.fixture(scope="session")
def keywordsai_python() -> Path:
    """The python of a venv with keywordsai-tracing 0.0.59 (and its OpenTelemetry 1.34); built once."""
    try:
        return tracer_venv(*KEYWORDSAI)
    except VenvBuildError as e:
        error = str(e)
    pytest.fail(f"cannot build the {KEYWORDSAI[0]} {KEYWORDSAI[1]} venv the test needs:\n{error}", pytrace=False)


CHAT_COMPLETION = {
    "id": "chatcmpl-spanbase-stub",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 13, "completion_tokens": 2, "total_tokens": 15},
}


class _OpenAIStub(BaseHTTPRequestHandler):
    """POST /v1/chat/completions answers one fixed completion; nothing else exists."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        found = self.path.rstrip("/").endswith("/chat/completions")
        body = json.dumps(CHAT_COMPLETION if found else {"error": "not found"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def openai_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIStub)
    thread = threading.Thread(target=server.serve_forever, name="openai-stub", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(
    "gzip_env",
    [pytest.param(False, id="protobuf-batched"), pytest.param(True, id="protobuf-gzip-unbatched")],
)
def test_keywordsai_tracing_workflow_with_openai_call_is_stored(
    base_url: str,
    http: httpx.Client,
    tenant: Tenant,
    tmp_path: Path,
    keywordsai_python: Path,
    openai_stub: str,
    gzip_env: bool,
) -> None:
    run = uuid.uuid4().hex[:8]
    cfg: Json = {
        "key": tenant.key,
        "base_url": base_url + "/api",
        "openai_base_url": openai_stub,
        "app": f"kw-e2e-{run}",
        "workflow": f"kw_workflow_{run}",
        "question": "Capital of France?",
        "customer": f"kw-customer-{run}",
        "thread": f"kw-thread-{run}",
        "metadata": {"plan": "free", "run": run, "seats": 5},
    }
    extra = (
        {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip", "KEYWORDSAI_BATCHING_ENABLED": "false"} if gzip_env else {}
    )
    out = run_client(keywordsai_python, KEYWORDSAI_SCRIPT, cfg, client_env(**extra), tmp_path)
    spans = exported_spans(out)
    assert {e["compression"] for e in out["exports"]} == {"gzip" if gzip_env else "none"}
    if gzip_env:
        assert [len(e["spans"]) for e in out["exports"]] == [1, 1, 1, 1]
    entities = by_entity(spans)
    assert set(entities) == {cfg["workflow"], "kw_outer", "kw_ask_llm", "openai.chat"}
    (trace_id,) = {s["trace_id"] for s in spans}
    root, outer, ask, chat = (entities[n] for n in (cfg["workflow"], "kw_outer", "kw_ask_llm", "openai.chat"))
    assert root["parent_id"] is None
    # What the instrumentation put on the wire (clients.md §2): input/output tokens only.
    assert chat["attributes"]["gen_ai.usage.input_tokens"] == 13
    assert "gen_ai.usage.prompt_tokens" not in chat["attributes"]

    details = trace_details(http, trace_id)
    assert set(details) == {s["span_id"] for s in spans}
    assert [sid for sid, d in details.items() if not d["span_parent_id"]] == [root["span_id"]]
    expected_metadata = {"plan": "free", "run": run, "seats": "5"}
    for entity in (cfg["workflow"], "kw_outer", "kw_ask_llm"):
        sent = entities[entity]
        d = details[sent["span_id"]]
        assert sent["attributes"]["keywordsai.customer_params.customer_identifier"] == cfg["customer"]
        assert d["span_name"] == entity
        assert d["log_type"] == ("workflow" if entity == cfg["workflow"] else "task")
        assert d["log_method"] == "python_tracing"
        assert d["customer_identifier"] == cfg["customer"]
        assert d["thread_identifier"] == cfg["thread"]
        assert d["metadata"] == expected_metadata, d["metadata"]
        json_or_text(d["input"], sent["attributes"]["traceloop.entity.input"])
        json_or_text(d["output"], sent["attributes"]["traceloop.entity.output"])
    for sent in spans:
        d = details[sent["span_id"]]
        if sent["parent_id"] is not None:
            assert d["span_parent_id"] == sent["parent_id"]
        assert d["span_workflow_name"] == cfg["workflow"]
        if sent["attributes"]["traceloop.entity.path"]:
            assert d["span_path"] == sent["attributes"]["traceloop.entity.path"]
        assert d["status"] == "success"
        assert d["latency"] == pytest.approx(latency_of(sent["start"], sent["end"]), abs=1e-3)
        assert d["resource_attributes"]["service.name"] == cfg["app"]

    llm = details[chat["span_id"]]
    assert llm["span_name"] == "openai.chat"
    assert llm["log_type"] == "chat"
    assert llm["model"] == "gpt-4o-mini"
    assert (llm["prompt_tokens"], llm["completion_tokens"], llm["total_request_tokens"]) == (13, 2, 15)
    assert llm["cost"] == pytest.approx(rest_cost(http, "gpt-4o-mini", 13, 2))
    assert messages_of(llm["input"]) == [{"role": "user", "content": cfg["question"]}]
    assert messages_of(llm["output"]) == [{"role": "assistant", "content": "Paris."}]
    assert llm["span_attributes"]["gen_ai.openai.api_base"] == chat["attributes"]["gen_ai.openai.api_base"]

    trace = get_trace(http, trace_id)
    assert trace["span_count"] == 4
    assert trace["root_span_unique_id"] == root["span_id"]
    assert trace["total_prompt_tokens"] == 13
    assert placement(trace["span_tree"]) == {
        root["span_id"]: None,
        outer["span_id"]: root["span_id"],
        ask["span_id"]: outer["span_id"],
        chat["span_id"]: ask["span_id"],
    }
