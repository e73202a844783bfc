"""An OTLP span -> the create-span fields a REST client would have sent for it (clients.md §6).

Three vocabularies are understood, first match wins where they overlap: Respan's and Keywords AI's own
(`respan.*`, `keywordsai.*`, with Traceloop's `traceloop.*` from the tracers they build on), the
OpenTelemetry GenAI semantic conventions (`gen_ai.*`, old and new message forms), and OpenInference
(`llm.*`, `input.value`, `session.id`, ...). Attributes that become a field are taken out; every other
one is kept as sent in `span_attributes`, the resource's in `resource_attributes` (both in the span's
detail); `metadata` stays the filterable map the Respan attributes fill.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from spanbase.otlp.decode import SPAN_KINDS, STATUS_ERROR, OtlpSpan

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# respan-sdk's LOG_TYPE_MAP, for traceloop.span.kind (spec §3.7).
_SPAN_KIND_LOG_TYPES = {
    "workflow": "workflow",
    "trace": "workflow",
    "agent": "agent",
    "task": "task",
    "step": "task",
    "tool": "tool",
    "function": "tool",
    "llm": "generation",
    "generation": "generation",
    "model": "generation",
    "chat": "chat",
    "prompt": "prompt",
}
# openinference.span.kind -> Respan log type.
_OPENINFERENCE_LOG_TYPES = {
    "LLM": "generation",
    "CHAIN": "task",
    "TOOL": "tool",
    "AGENT": "agent",
    "EMBEDDING": "embedding",
    "RETRIEVER": "task",
    "RERANKER": "task",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "task",
    "PROMPT": "prompt",
}
# gen_ai.operation.name -> Respan log type.
_OPERATION_LOG_TYPES = {
    "chat": "chat",
    "text_completion": "completion",
    "generate_content": "generation",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
_REQUEST_TYPES = frozenset({"chat", "completion", "embedding", "rerank"})
LOG_METHODS = frozenset({"inference", "logging_api", "batch", "python_tracing", "ts_tracing", "tracing_integration"})

# Field -> the attributes it is taken from, first present wins (a null, "" or [] counts as absent).
# Names starting with "_" are not fields: span_fields() reads them to decide one.
_SLOTS: dict[str, tuple[str, ...]] = {
    "span_name": ("traceloop.entity.name",),
    "_log_type": ("respan.entity.log_type", "keywordsai.entity.log_type"),
    "_request_type": ("llm.request.type",),
    "_span_kind": ("traceloop.span.kind",),
    "_openinference_kind": ("openinference.span.kind",),
    "_log_method": ("respan.entity.log_method", "keywordsai.entity.log_method"),
    "_entity_input": ("traceloop.entity.input",),
    "_entity_output": ("traceloop.entity.output",),
    "_input_messages": ("gen_ai.input.messages",),
    "_output_messages": ("gen_ai.output.messages",),
    "_system_instructions": ("gen_ai.system_instructions",),
    "_input_value": ("input.value",),
    "_input_type": ("input.mime_type",),
    "_output_value": ("output.value",),
    "_output_type": ("output.mime_type",),
    "_prompt": ("respan.prompt", "keywordsai.prompt"),
    "_error_message": ("error.message",),
    "properties": ("respan.properties", "keywordsai.properties"),
    "model": ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "model"),
    "provider_id": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "prompt_tokens": (
        "prompt_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.input_tokens",
        "llm.token_count.prompt",
    ),
    "completion_tokens": (
        "completion_tokens",
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.output_tokens",
        "llm.token_count.completion",
    ),
    "total_request_tokens": (
        "total_request_tokens",
        "llm.usage.total_tokens",
        "gen_ai.usage.total_tokens",
        "llm.token_count.total",
    ),
    "prompt_cache_hit_tokens": (
        "prompt_cache_hit_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "prompt_cache_creation_tokens": (
        "prompt_cache_creation_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning_tokens": (
        "llm.usage.reasoning_tokens",
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "temperature": ("gen_ai.request.temperature", "llm.temperature"),
    "top_p": ("gen_ai.request.top_p", "llm.top_p"),
    "max_tokens": ("gen_ai.request.max_tokens", "llm.request.max_tokens"),
    "frequency_penalty": ("gen_ai.request.frequency_penalty", "llm.frequency_penalty"),
    "presence_penalty": ("gen_ai.request.presence_penalty", "llm.presence_penalty"),
    "stream": ("llm.is_streaming", "gen_ai.is_streaming"),
    "reasoning_effort": ("llm.request.reasoning_effort", "gen_ai.request.reasoning_effort"),
    "time_to_first_token": (
        "llm.openai.chat_completions.streaming_time_to_first_token",
        "gen_ai.response.time_to_first_chunk",
    ),
    "status_code": ("status_code",),
    "span_workflow_name": ("traceloop.workflow.name",),
    "span_path": ("traceloop.entity.path",),
    "customer_identifier": (
        "respan.customer_params.customer_identifier",
        "keywordsai.customer_params.customer_identifier",
        "respan.customer.identifier",
        "user.id",
    ),
    "customer_email": ("respan.customer_params.email", "keywordsai.customer_params.email", "respan.customer.email"),
    "customer_name": ("respan.customer_params.name", "keywordsai.customer_params.name", "respan.customer.name"),
    "thread_identifier": (
        "respan.threads.thread_identifier",
        "keywordsai.threads.thread_identifier",
        "respan.thread.id",
        "gen_ai.conversation.id",
        "session.id",
    ),
    "session_identifier": ("respan.sessions.session_identifier", "keywordsai.sessions.session_identifier"),
    "custom_identifier": ("respan.span_params.custom_identifier", "keywordsai.span_params.custom_identifier"),
    "trace_group_identifier": (
        "respan.trace.trace_group_identifier",
        "keywordsai.trace.trace_group_identifier",
        "respan.trace_group.id",
    ),
    "evaluation_identifier": (
        "respan.evaluation_params.evaluation_identifier",
        "keywordsai.evaluation_params.evaluation_identifier",
    ),
    "span_tools": ("respan.span.tools",),
    "span_handoffs": ("respan.span.handoffs",),
}
# Fields whose attribute holds JSON text (or, sent as a kvlist, already an object).
_JSON_FIELDS = frozenset({"span_tools", "span_handoffs"})
# Attributes that are a whole metadata object (JSON text or a kvlist), merged in this order.
_WHOLE_METADATA = ("metadata", "keywordsai.metadata", "respan.metadata")
# Attribute -> (slot, rank): one dict lookup per attribute instead of one per spelling per field.
_TAKEN = {name: (slot, rank) for slot, names in _SLOTS.items() for rank, name in enumerate(names)}
_TAKEN.update({name: ("_metadata", rank) for rank, name in enumerate(_WHOLE_METADATA)})
# Families of attributes, one attribute a metadata key or a list index (gen_ai.prompt.0.role), found
# by the key up to its second dot: "metadata", or the family's prefix. Tools are one level deeper
# (llm.request.functions.0.name), under "llm.request.".
_FAMILY_OF = {
    "respan.metadata.": "metadata",
    "keywordsai.metadata.": "metadata",
    "gen_ai.prompt.": "gen_ai.prompt.",
    "gen_ai.completion.": "gen_ai.completion.",
    "llm.input_messages.": "llm.input_messages.",
    "llm.output_messages.": "llm.output_messages.",
    "llm.request.": "llm.request.",
}
_ABSENT: tuple[Any, ...] = (None, "", [])


@dataclass
class _Sorted:
    """A span's attributes sorted out in one pass: field values, families, and the rest as sent."""

    found: dict[str, tuple[int, Any]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    whole_metadata: list[tuple[int, Any]] = field(default_factory=list)
    indexed: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    rest: dict[str, Any] = field(default_factory=dict)

    def get(self, slot: str) -> Any:
        hit = self.found.get(slot)
        return None if hit is None else hit[1]


def _sort(attributes: dict[str, Any]) -> _Sorted:
    out = _Sorted()
    found, rest, taken, families = out.found, out.rest, _TAKEN, _FAMILY_OF
    for key, value in attributes.items():
        hit = taken.get(key)
        if hit is not None:
            if value in _ABSENT:
                continue
            slot, rank = hit
            if slot == "_metadata":
                out.whole_metadata.append((rank, value))
                continue
            best = found.get(slot)
            if best is None or rank < best[0]:
                found[slot] = (rank, value)
            continue
        # A family is named by the key up to its second dot ("respan.metadata.", "gen_ai.prompt.").
        cut = key.find(".", key.find(".") + 1) + 1
        family = families.get(key[:cut]) if cut else None
        if family is None or not _family(out, family, key[cut:], value):
            rest[key] = value
    return out


def _family(out: _Sorted, family: str, tail: str, value: Any) -> bool:
    if family == "metadata":
        out.metadata[tail] = value
        return True
    if family == "llm.request.":
        if not tail.startswith("functions."):
            return False
        family, tail = "llm.request.functions.", tail[len("functions.") :]
    index, _, rest = tail.partition(".")
    if not index.isdigit() or not rest:
        return False
    if rest.startswith("message."):
        rest = rest[len("message.") :]  # OpenInference: llm.input_messages.0.message.role
    out.indexed[family].setdefault(int(index), {})[rest] = value
    return True


def _loads(value: Any) -> Any:
    """JSON text -> its value; anything else (or text that is not JSON) as it is."""
    if isinstance(value, str) and (value[:1] in ("{", "[", '"') or value in ("null", "true", "false")):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _time(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _valid_id(value: str, size: int) -> bool:
    return len(value) == size * 2 and value[0] != "!" and value.strip("0") != ""


def _message_from_parts(message: dict[str, Any]) -> dict[str, Any]:
    """A GenAI semconv message ({"role", "parts": [...]}) -> OpenAI's shape when its parts are text."""
    parts = message.get("parts")
    if not isinstance(parts, list):
        return message
    out = {k: v for k, v in message.items() if k != "parts"}
    texts = [p.get("content") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    calls = [p for p in parts if isinstance(p, dict) and p.get("type") == "tool_call"]
    if len(texts) == len(parts):
        out["content"] = "".join(str(t) for t in texts)
    elif calls and len(calls) + len(texts) == len(parts):
        out["content"] = "".join(str(t) for t in texts) or None
        out["tool_calls"] = [
            {
                "id": c.get("id"),
                "type": "function",
                "function": {"name": c.get("name"), "arguments": orjson.dumps(c.get("arguments")).decode()},
            }
            for c in calls
        ]
    else:
        out["content"] = parts
    return out


def _semconv_messages(value: Any) -> list[Any] | None:
    messages = _loads(value)
    if not isinstance(messages, list):
        return None
    return [_message_from_parts(m) if isinstance(m, dict) else m for m in messages]


def _message(flat: dict[str, Any]) -> dict[str, Any]:
    """One message's flattened attributes -> an OpenAI-style message."""
    msg: dict[str, Any] = {}
    calls: dict[int, dict[str, Any]] = defaultdict(dict)
    contents: dict[int, dict[str, Any]] = defaultdict(dict)
    for key, value in flat.items():
        if key == "tool_calls":
            msg["tool_calls"] = _loads(value)
        elif key.startswith("tool_calls."):
            # OpenInference: tool_calls.0.tool_call.function.name; Traceloop: tool_calls.0.name
            index, _, rest = key.removeprefix("tool_calls.").partition(".")
            if index.isdigit():
                calls[int(index)][rest.removeprefix("tool_call.")] = value
        elif key.startswith("contents."):
            index, _, rest = key.removeprefix("contents.").partition(".")
            if index.isdigit():
                contents[int(index)][rest.removeprefix("message_content.")] = value
        else:
            msg[key] = value
    if calls:
        msg["tool_calls"] = [_tool_call(calls[i]) for i in sorted(calls)]
    if contents and "content" not in msg:
        msg["content"] = [_content_part(contents[i]) for i in sorted(contents)]
    return msg


def _tool_call(flat: dict[str, Any]) -> dict[str, Any]:
    name = flat.get("function.name", flat.get("name"))
    arguments = flat.get("function.arguments", flat.get("arguments"))
    return {"id": flat.get("id"), "type": "function", "function": {"name": name, "arguments": arguments}}


def _content_part(flat: dict[str, Any]) -> dict[str, Any]:
    kind = flat.get("type", "text")
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": flat.get("image.image.url", flat.get("image.url"))}}
    return {"type": "text", "text": flat.get("text")}


def _tools(functions: dict[int, dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not functions:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": f.get("name"),
                "description": f.get("description"),
                "parameters": _loads(f.get("parameters")),
            },
        }
        for _, f in sorted(functions.items())
    ]


def _messages(by_index: dict[int, dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    return [_message(by_index[i]) for i in sorted(by_index)] if by_index else None


def _metadata(s: _Sorted) -> dict[str, Any]:
    """respan.metadata.<k> (one attribute a key), respan.metadata (an object or JSON text of one), and
    OpenInference's metadata (JSON text); the per-key attributes win."""
    metadata: dict[str, Any] = {}
    for rank, value in sorted(s.whole_metadata, key=lambda hit: hit[0]):
        parsed = _loads(value)
        if isinstance(parsed, dict):
            metadata.update(parsed)
        else:
            metadata[_WHOLE_METADATA[rank]] = value
    metadata.update(s.metadata)
    return metadata


def _log_type(s: _Sorted) -> str:
    explicit = s.get("_log_type")
    request_type = s.get("_request_type")
    kind = s.get("_span_kind")
    openinference = s.get("_openinference_kind")
    operation = s.rest.get("gen_ai.operation.name")  # kept as an attribute: it says more than the log type
    if explicit:
        return str(explicit)
    if request_type in _REQUEST_TYPES:
        return str(request_type)
    if isinstance(kind, str) and kind.lower() in _SPAN_KIND_LOG_TYPES:
        return _SPAN_KIND_LOG_TYPES[kind.lower()]
    if isinstance(openinference, str) and openinference.upper() in _OPENINFERENCE_LOG_TYPES:
        return _OPENINFERENCE_LOG_TYPES[openinference.upper()]
    if isinstance(operation, str) and operation in _OPERATION_LOG_TYPES:
        return _OPERATION_LOG_TYPES[operation]
    return "span"


def _input_output(s: _Sorted, out: dict[str, Any]) -> None:
    semconv_in = _semconv_messages(s.get("_input_messages"))
    system = _semconv_messages(s.get("_system_instructions"))
    if semconv_in is not None and system:
        semconv_in = [{"role": "system", "content": _text_of(system)}, *semconv_in]
    value_in, value_out = s.get("_input_value"), s.get("_output_value")
    if s.get("_input_type") == "application/json":
        value_in = _loads(value_in)
    if s.get("_output_type") == "application/json":
        value_out = _loads(value_out)
    inputs = (
        s.get("_entity_input"),
        semconv_in,
        _messages(s.indexed.get("gen_ai.prompt.")),
        _messages(s.indexed.get("llm.input_messages.")),
        value_in,
    )
    outputs = (
        s.get("_entity_output"),
        _one(_semconv_messages(s.get("_output_messages"))),
        _one(_messages(s.indexed.get("gen_ai.completion."))),
        _one(_messages(s.indexed.get("llm.output_messages."))),
        value_out,
    )
    inp = next((v for v in inputs if v is not None), None)
    output = next((v for v in outputs if v is not None), None)
    if inp is not None:
        out["input"] = inp
    if output is not None:
        out["output"] = output


def _text_of(parts: list[Any]) -> str:
    return "".join(str(p.get("content", "")) if isinstance(p, dict) else str(p) for p in parts)


def _one(messages: list[Any] | None) -> Any:
    """Completions: one message as an object (Respan's completion_message), several as a list."""
    if messages is None:
        return None
    return messages[0] if len(messages) == 1 else messages


def _status(span: OtlpSpan, s: _Sorted, out: dict[str, Any], events: list[dict[str, Any]]) -> None:
    error_message = s.get("_error_message")
    if span.status_code != STATUS_ERROR:
        if error_message is not None:
            s.rest["error.message"] = error_message  # only an error span has an error message
        return
    out["status"] = "error"
    message = span.status_message or error_message
    if not message:
        for event in events:
            if event["name"] == "exception":
                attrs = event["attributes"]
                message = attrs.get("exception.message") or attrs.get("exception.type")
                if message:
                    break
    out["error_message"] = str(message) if message else "error"


def span_fields(span: OtlpSpan) -> tuple[dict[str, Any], str | None]:
    """The create-span dict for `span`, and the log method its attributes name (None: the endpoint's).

    Raises ValueError naming the field when an id cannot be stored.
    """
    if not _valid_id(span.trace_id, 16):
        raise ValueError("traceId: must be 32 hex digits, not all zero")
    if not _valid_id(span.span_id, 8):
        raise ValueError("spanId: must be 16 hex digits, not all zero")
    parent = span.parent_id if span.parent_id.strip("0") else ""  # some exporters send zeros for "no parent"
    if parent and not _valid_id(parent, 8):
        raise ValueError("parentSpanId: must be 16 hex digits, or absent for a root span")
    s = _sort(span.attributes)
    out: dict[str, Any] = {
        "trace_unique_id": span.trace_id,
        "span_unique_id": span.span_id,
        "span_parent_id": parent or None,
    }
    for slot, (_, value) in s.found.items():
        if slot[0] != "_":
            out[slot] = _loads(value) if slot in _JSON_FIELDS else value
    out["span_name"] = str(out.get("span_name") or span.name)
    out["log_type"] = _log_type(s)
    _input_output(s, out)
    output = out.get("output")
    if isinstance(output, dict) and isinstance(output.get("tool_calls"), list):
        out["tool_calls"] = output["tool_calls"]
    tools = _tools(s.indexed.get("llm.request.functions."))
    if tools:
        out["tools"] = tools
    if s.metadata or s.whole_metadata:
        out["metadata"] = _metadata(s)
    prompt = _loads(s.get("_prompt"))
    if isinstance(prompt, dict):
        out["prompt"] = prompt
        if prompt.get("prompt_id"):
            out["prompt_id"] = str(prompt["prompt_id"])
        if isinstance(prompt.get("variables"), dict):
            out["variables"] = prompt["variables"]

    # Times: end before start (respan's log_batch_results does it) is clamped to the start: latency 0.
    if span.start_ns or span.end_ns:
        start = span.start_ns or span.end_ns
        end = max(span.end_ns or start, start)
        out["start_time"] = _time(start)
        out["timestamp"] = _time(end)
        out["latency"] = (end - start) / 1e9

    events = [
        {"name": e["name"], "timestamp": _time(e["time_unix_nano"]).isoformat(), "attributes": e["attributes"]}
        for e in span.events
    ]
    _status(span, s, out, events)
    if events:
        out["span_events"] = events
    if span.links:
        out["span_links"] = span.links
    rest = s.rest
    if span.scope_name:
        rest["otel.scope.name"] = span.scope_name
    if span.scope_version:
        rest["otel.scope.version"] = span.scope_version
    if 0 < span.kind < len(SPAN_KINDS):
        rest["otel.span.kind"] = SPAN_KINDS[span.kind]
    if rest:
        out["span_attributes"] = rest
    if span.resource:
        out["resource_attributes"] = span.resource
    log_method = s.get("_log_method")
    return out, (str(log_method) if log_method in LOG_METHODS else None)
