"""Seeded generator of OTLP/protobuf trace exports, as respan-tracing and its instrumentations send them.

Each request body is an ``ExportTraceServiceRequest`` (``opentelemetry.proto``) of ``batch_size``
spans (500 by default): trace trees of a root workflow span and 3-8 children, task spans
(``traceloop.*`` decorator attributes) and LLM chat spans (``gen_ai.*``: models of the price table,
prompts, completions, token usage), every span carrying its trace's ``respan.customer_params.*``,
``respan.threads.*`` and ``respan.metadata.*``. About 5 KB of protobuf per span.

Spans come in end order, as a ``BatchSpanProcessor`` exports them: children before their parent, the
root last. Requests are cut every ``batch_size`` spans whatever the traces, so the trace that straddles
a cut has children in one request and its root in the next. Ids are random bytes from the seed: the
same ``(seed, total, end)`` gives the same requests.

Cheap enough to make a few hundred thousand spans before a run (35-60 us of CPU a span): every
message is serialised by ``opentelemetry.proto``, but an attribute whose value repeats (a customer, a
model, a pooled message at a given prompt position) is serialised once and its bytes reused, and a
span is its fixed fields' bytes followed by its attributes' bytes. Protobuf defines the concatenation of two
encodings of a message as their merge (repeated fields appended), so these bytes decode to exactly
the message built field by field; ``--spans`` decodes what it made to show it.

The message texts come from bench/spangen.py's pools.

    uv run python bench/otlpgen.py --spans 100000   # its cost and the span sizes
    uv run python bench/otlpgen.py --show 1         # one trace, in protobuf's JSON mapping
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from spangen import (
    APP_VERSIONS,
    ENVS,
    ERRORS,
    FEATURES,
    MODELS,
    UNKNOWN_MODEL,
    WORKFLOW_NAMES,
    WORKFLOWS,
    Pools,
    build_pools,
)

SDK_VERSION = "2.24.0"  # respan-tracing's, in respan.metadata._tracing_sdk_version
SERVICES = ("support-api", "rag-service", "agent-worker", "email-service")
TRACER_SCOPE = "respan.tracer"  # the decorators' scope; instrumentation spans come in a scope-less group
PROVIDERS = {"openai.chat": "openai", "anthropic.messages": "anthropic", "google.generate_content": "google"}
# Hosted models only, the ones a price table knows: spangen's weights without its unknown fine-tune.
PRICED_MODELS: tuple[tuple[str, str], ...] = tuple(
    (model, name) for model, name, weight in MODELS if model != UNKNOWN_MODEL for _ in range(weight)
)
CHILDREN = (3, 4, 5, 6, 7, 8)  # children of a root: 5.5 on average, traces of 6.5 spans
TASK_SHARE = 0.4  # of the children (the others are LLM calls)
TASK_CALL_SHARE = 0.5  # tasks that make an LLM call of their own (a grandchild of the root)
ENTITY_IO_SHARE = 0.4  # LLM spans that also carry traceloop.entity.input/output (the messages as JSON)
THREAD_SHARE = 0.5  # traces that belong to a conversation
ERROR_SHARE = 0.03  # LLM calls that failed
MS = 1_000_000  # nanoseconds
INTERNAL = Span.SpanKind.SPAN_KIND_INTERNAL
CLIENT = Span.SpanKind.SPAN_KIND_CLIENT
STATUS_OK = Status(code=Status.StatusCode.STATUS_CODE_OK)

# Field numbers of the OTLP messages this assembles from serialised parts (opentelemetry-proto's
# trace.proto and trace_service.proto); a length-delimited field is its tag, a varint length, the bytes.
_SPAN_ATTRIBUTES = Span.DESCRIPTOR.fields_by_name["attributes"].number
_SCOPE_SPANS_SPANS = ScopeSpans.DESCRIPTOR.fields_by_name["spans"].number
_RESOURCE_SPANS_SCOPE_SPANS = ResourceSpans.DESCRIPTOR.fields_by_name["scope_spans"].number
_REQUEST_RESOURCE_SPANS = ExportTraceServiceRequest.DESCRIPTOR.fields_by_name["resource_spans"].number


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): a sub-message, bytes or a string."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def new_kv(key: str, value: Any) -> KeyValue:
    """An OTLP attribute of a str, bool, int or float value."""
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=float(value)))


def attribute_bytes(key: str, value: Any) -> bytes:
    """One entry of ``Span.attributes``, serialised: appended to a span's bytes, it adds the attribute."""
    return field_bytes(_SPAN_ATTRIBUTES, new_kv(key, value).SerializeToString())


def json(value: Any) -> str:
    return orjson.dumps(value).decode()


class EncodedSpan(NamedTuple):
    client: bool  # an instrumentation's (LLM) span, sent in the scope-less group, else a decorator's
    data: bytes  # the serialised Span
    trace_id: bytes
    span_id: bytes


@dataclass(frozen=True)
class Body:
    """One request: its span count, its protobuf bytes and the ids (hex) of its last span."""

    spans: int
    data: bytes
    last_trace_id: str
    last_span_id: str


@dataclass
class _Trace:
    """What the spans of one trace share."""

    trace_id: bytes
    workflow: str
    common: bytes  # the serialised attributes of every span: customer, thread, metadata, workflow
    start_ns: int
    clock_ns: int  # where its next child starts


class OtlpGenerator:
    """Makes serialised spans, trace by trace, and packs them into request bodies."""

    def __init__(self, seed: int, end_ns: int, step_ns: int, customers: int = 2000) -> None:
        self.pools: Pools = build_pools(seed, customers)
        self._rng = random.Random(f"otlpgen-{seed}")
        self._end_ns = end_ns
        self._step_ns = step_ns
        self._attribute_cache: dict[tuple[str, Any], bytes] = {}

    def _attr(self, key: str, value: Any) -> bytes:
        """``attribute_bytes`` of a value that repeats, made once."""
        cache_key = (key, value)
        data = self._attribute_cache.get(cache_key)
        if data is None:
            data = self._attribute_cache[cache_key] = attribute_bytes(key, value)
        return data

    # ---------------------------------------------------------------- traces

    def trace(self, start_ns: int) -> list[EncodedSpan]:
        """One trace tree in end order (children first, the root last), starting at ``start_ns``."""
        rng, pools, attr = self._rng, self.pools, self._attr
        rank = pools.customer_table[rng.getrandbits(18)]
        workflow = WORKFLOW_NAMES[rng.randrange(len(WORKFLOW_NAMES))]
        common = [
            attr("traceloop.workflow.name", workflow),
            attr("respan.customer_params.customer_identifier", pools.customers[rank]),
            attr("respan.metadata.env", ENVS[rng.randrange(len(ENVS))]),
            attr("respan.metadata.feature", FEATURES[rng.randrange(len(FEATURES))]),
            attr("respan.metadata.plan", pools.customer_plan[rank]),
            attr("respan.metadata.region", pools.customer_region[rank]),
            attr("respan.metadata.app_version", APP_VERSIONS[rng.randrange(len(APP_VERSIONS))]),
            attr("respan.metadata._tracing_sdk_version", SDK_VERSION),
            attr("respan.entity.log_method", "python_tracing"),
        ]
        if rng.random() < THREAD_SHARE:
            thread = f"thread_{rank:05d}_{rng.getrandbits(4):x}"
            common += [
                attr("respan.threads.thread_identifier", thread),
                attr("respan.sessions.session_identifier", thread),
            ]
        trace = _Trace(rng.randbytes(16), workflow, b"".join(common), start_ns, start_ns + 3 * MS)
        root_id = rng.randbytes(8)
        steps = WORKFLOWS[workflow]
        spans: list[EncodedSpan] = []
        children = CHILDREN[rng.randrange(len(CHILDREN))]
        made = 0
        while made < children:
            step = steps[made % len(steps)]
            if rng.random() >= TASK_SHARE:
                spans.append(self._llm(trace, root_id))
                made += 1
            elif children - made >= 2 and rng.random() < TASK_CALL_SHARE:
                task_id = rng.randbytes(8)
                task_start = trace.clock_ns
                trace.clock_ns += MS
                spans.append(self._llm(trace, task_id))  # ends first: before its task
                spans.append(self._task(trace, root_id, step, task_start, task_id))
                made += 2
            else:
                spans.append(self._task(trace, root_id, step, trace.clock_ns, rng.randbytes(8)))
                made += 1
        spans.append(self._workflow(trace, root_id))
        return spans

    def _span(
        self,
        trace: _Trace,
        span_id: bytes,
        parent: bytes | None,
        name: str,
        kind: Span.SpanKind.ValueType,
        end_ns: int,
        start_ns: int,
        status: Status | None,
        attributes: list[bytes],
    ) -> EncodedSpan:
        fixed = Span(
            trace_id=trace.trace_id,
            span_id=span_id,
            parent_span_id=parent or b"",
            name=name,
            kind=kind,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=end_ns,
            status=status,
        ).SerializeToString()
        trace.clock_ns = max(trace.clock_ns, end_ns + 2 * MS)
        data = b"".join([fixed, trace.common, *attributes])
        return EncodedSpan(kind == CLIENT, data, trace.trace_id, span_id)

    def _workflow(self, trace: _Trace, root_id: bytes) -> EncodedSpan:
        pools, rng, attr = self.pools, self._rng, self._attr
        question = pools.user.messages[rng.getrandbits(14)]["content"]
        history = [pools.user.messages[rng.getrandbits(14)], pools.assistant.messages[rng.getrandbits(14)]]
        answer = pools.answer.messages[rng.getrandbits(14)]["content"]
        attributes = [
            attr("traceloop.span.kind", "workflow"),
            attr("traceloop.entity.name", trace.workflow),
            attr("traceloop.entity.path", ""),
            attribute_bytes("traceloop.entity.input", json({"args": [question], "kwargs": {"history": history}})),
            attribute_bytes("traceloop.entity.output", json(answer)),
        ]
        end_ns = trace.clock_ns
        return self._span(trace, root_id, None, "workflow", INTERNAL, end_ns, trace.start_ns, None, attributes)

    def _task(self, trace: _Trace, parent: bytes, step: str, start_ns: int, span_id: bytes) -> EncodedSpan:
        pools, rng, attr = self.pools, self._rng, self._attr
        query = pools.user.messages[rng.getrandbits(14)]["content"]
        docs = [pools.assistant.messages[rng.getrandbits(14)]["content"] for _ in range(3 + rng.getrandbits(2))]
        result = pools.answer.messages[rng.getrandbits(14)]["content"]
        attributes = [
            attr("traceloop.span.kind", "task"),
            attr("traceloop.entity.name", step),
            attr("traceloop.entity.path", step),
            attribute_bytes("traceloop.entity.input", json({"args": [query, docs], "kwargs": {"top_k": len(docs)}})),
            attribute_bytes("traceloop.entity.output", json({"text": result, "sources": len(docs)})),
        ]
        # Its own work (5-260 ms), after the call it made if it made one.
        end_ns = max(start_ns, trace.clock_ns) + MS * (5 + rng.getrandbits(8))
        return self._span(trace, span_id, parent, "task", INTERNAL, end_ns, start_ns, None, attributes)

    def _llm(self, trace: _Trace, parent: bytes) -> EncodedSpan:
        pools, rng, attr = self.pools, self._rng, self._attr
        model, span_name = PRICED_MODELS[rng.randrange(len(PRICED_MODELS))]
        messages = [pools.system.messages[rng.getrandbits(6)]]
        for _ in range(rng.getrandbits(1)):  # none or one earlier exchange before the question
            messages += [pools.user.messages[rng.getrandbits(14)], pools.assistant.messages[rng.getrandbits(14)]]
        messages.append(pools.user.messages[rng.getrandbits(14)])
        prompt_tokens = sum(len(message["content"]) for message in messages) // 4 + 4 * len(messages)
        attributes = [
            attr("gen_ai.system", PROVIDERS.get(span_name, "openai")),
            attr("llm.request.type", "chat"),
            attr("respan.entity.log_type", "chat"),
            attr("gen_ai.request.model", model),
            attr("gen_ai.response.model", model),
            attr("gen_ai.request.temperature", (0.0, 0.2, 0.7, 1.0)[rng.getrandbits(2)]),
            attr("llm.is_streaming", rng.random() < 0.6),
        ]
        for position, message in enumerate(messages):
            attributes += [
                attr(f"gen_ai.prompt.{position}.role", message["role"]),
                attr(f"gen_ai.prompt.{position}.content", message["content"]),
            ]
        start_ns = trace.clock_ns
        end_ns = start_ns + pools.latency_ms[rng.getrandbits(12)] * MS
        if rng.random() < ERROR_SHARE:
            code, text = ERRORS[rng.randrange(len(ERRORS))]
            status = Status(code=Status.StatusCode.STATUS_CODE_ERROR, message=text)
            attributes += [attr("status_code", code), attr("gen_ai.usage.input_tokens", prompt_tokens)]
            return self._span(trace, rng.randbytes(8), parent, span_name, CLIENT, end_ns, start_ns, status, attributes)
        answer = pools.answer.messages[rng.getrandbits(14)]
        completion_tokens = len(answer["content"]) // 4 + 4
        attributes += [
            attr("gen_ai.completion.0.role", "assistant"),
            attr("gen_ai.completion.0.content", answer["content"]),
            attr("gen_ai.completion.0.finish_reason", "stop"),
            attr("gen_ai.usage.input_tokens", prompt_tokens),
            attr("gen_ai.usage.output_tokens", completion_tokens),
            attr("gen_ai.usage.prompt_tokens", prompt_tokens),
            attr("gen_ai.usage.completion_tokens", completion_tokens),
            attr("llm.usage.total_tokens", prompt_tokens + completion_tokens),
            attr("status_code", 200),
        ]
        if rng.random() < ENTITY_IO_SHARE:
            attributes += [
                attribute_bytes("traceloop.entity.input", json(messages)),
                attribute_bytes("traceloop.entity.output", json(answer)),
            ]
        return self._span(trace, rng.randbytes(8), parent, span_name, CLIENT, end_ns, start_ns, STATUS_OK, attributes)

    # ---------------------------------------------------------------- requests

    def bodies(self, total: int, batch_size: int = 500) -> Iterator[Body]:
        """``total`` spans in requests of ``batch_size``, trace starts ``step_ns`` apart."""
        pending: list[EncodedSpan] = []
        made = 0
        # ~6.5 spans a trace; the last ones start well before end_ns (a trace of 8 calls may last
        # over two minutes), so that no span ends after it.
        start_ns = self._end_ns - 150 * 10**9 - self._step_ns * (total // 6)
        while made < total:
            while len(pending) < batch_size and made + len(pending) < total:
                pending.extend(self.trace(start_ns))
                start_ns += self._step_ns
            count = min(batch_size, total - made)
            batch, pending = pending[:count], pending[count:]
            made += count
            yield self._body(batch)

    def _body(self, spans: list[EncodedSpan]) -> Body:
        service = SERVICES[self._rng.randrange(len(SERVICES))]
        resource = Resource(attributes=[new_kv("service.name", service), new_kv("telemetry.sdk.language", "python")])
        # Instrumentation spans in a group with no scope object (as respan-tracing sends them), the
        # decorators' spans in the tracer's scope.
        calls = [field_bytes(_SCOPE_SPANS_SPANS, span.data) for span in spans if span.client]
        decorated = [field_bytes(_SCOPE_SPANS_SPANS, span.data) for span in spans if not span.client]
        scope = ScopeSpans(scope=InstrumentationScope(name=TRACER_SCOPE)).SerializeToString()
        resource_spans = b"".join(
            [
                ResourceSpans(resource=resource).SerializeToString(),
                field_bytes(_RESOURCE_SPANS_SCOPE_SPANS, b"".join(calls)),
                field_bytes(_RESOURCE_SPANS_SCOPE_SPANS, scope + b"".join(decorated)),
            ]
        )
        last = spans[-1]
        data = field_bytes(_REQUEST_RESOURCE_SPANS, resource_spans)
        return Body(len(spans), data, last.trace_id.hex(), last.span_id.hex())


def make_bodies(
    seed: int, total: int, batch_size: int = 500, end_ns: int | None = None, step_ms: float = 20.0
) -> list[Body]:
    """All the request bodies of a run, made before it starts. Trace starts are ``step_ms`` apart,
    and the last traces end before ``end_ns`` (default now): 200,000 spans span the 12 minutes before."""
    end = end_ns if end_ns is not None else time.time_ns()
    return list(OtlpGenerator(seed, end, int(step_ms * MS)).bodies(total, batch_size))


def span_times(body: Body) -> tuple[int, int]:
    """The earliest start and the latest end (ns) of a body's spans, decoding it."""
    spans = [
        span
        for rs in ExportTraceServiceRequest.FromString(body.data).resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    return min(span.start_time_unix_nano for span in spans), max(span.end_time_unix_nano for span in spans)


# --------------------------------------------------------------------------- measure, show


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the OTLP generator, or print a sample trace.")
    parser.add_argument("--spans", type=int, default=100_000, help="spans to generate (default 100,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--show", type=int, default=0, help="print N traces as protobuf JSON instead")
    args = parser.parse_args()
    if args.show:
        generator = OtlpGenerator(args.seed, time.time_ns(), 20 * MS)
        for _ in range(args.show):
            spans = generator.trace(time.time_ns() - 300 * 10**9)
            request = ExportTraceServiceRequest.FromString(generator._body(spans).data)
            print(MessageToJson(request, indent=2))
        return
    t0 = time.process_time()
    build_pools(args.seed)
    t1 = time.process_time()
    bodies = make_bodies(args.seed, args.spans, args.batch_size)
    cpu = time.process_time() - t1
    size = sum(len(body.data) for body in bodies)
    spans = sum(body.spans for body in bodies)
    print(f"spans: {spans:,} in {len(bodies):,} requests of up to {args.batch_size}")
    print(f"cost:  {cpu:.1f} s CPU, {cpu / spans * 1e6:.1f} us per span (+ {t1 - t0:.1f} s once for the pools)")
    print(f"size:  {size / spans:,.0f} bytes of protobuf per span, {size / len(bodies) / 2**20:.2f} MiB per request")
    _report_mix(bodies[: max(1, 20_000 // args.batch_size)])


def _report_mix(bodies: list[Body]) -> None:
    """Decode some bodies with opentelemetry.proto and tell what they hold."""
    sizes: dict[str, list[int]] = {}
    seen: set[bytes] = set()
    traces: set[bytes] = set()
    early_children = 0  # spans whose parent comes in a later request
    for body in bodies:
        parents: list[bytes] = []
        for resource_spans in ExportTraceServiceRequest.FromString(body.data).resource_spans:
            for span in (span for scope_spans in resource_spans.scope_spans for span in scope_spans.spans):
                kind = next((a.value.string_value for a in span.attributes if a.key == "traceloop.span.kind"), "llm")
                sizes.setdefault(kind, []).append(span.ByteSize())
                seen.add(span.span_id)
                traces.add(span.trace_id)
                if span.parent_span_id:
                    parents.append(span.parent_span_id)
        early_children += sum(parent not in seen for parent in parents)
    spans = sum(len(kind_sizes) for kind_sizes in sizes.values())
    print(
        f"decoded the first {len(bodies)} requests: {spans:,} spans,"
        f" {len(seen):,} distinct span ids, {len(traces):,} traces"
    )
    print(f"  {early_children} spans came in an earlier request than their parent")
    for kind, kind_sizes in sorted(sizes.items()):
        print(
            f"  {kind:<9} {len(kind_sizes) / spans:6.1%} of spans, {sum(kind_sizes) / len(kind_sizes):,.0f} bytes each"
        )


if __name__ == "__main__":
    main()
