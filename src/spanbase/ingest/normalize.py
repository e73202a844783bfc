"""A validated create-span body -> one SpanRecord: legacy fields, params precedence, tokens, times, cost.

Spec references: §13.4 (legacy mapping), §13.5 (respan_params / keywordsai_params precedence), §13.2
(log types and how input/output are parsed), §13.3 (status), §13.1 (cost), §1.7 (identifier limits).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from spanbase.api.payloads.spans import CONTENT_FIELDS, SpanFields, SpanIn
from spanbase.domain.errors import FieldError, TooLarge
from spanbase.domain.spans import (
    MAX_IDENTIFIER_LEN,
    MAX_SPAN_NAME_LEN,
    STATUSES,
    SpanRecord,
    from_micros,
    to_micros,
)
from spanbase.ingest.pricing import PriceBook, TokenCounts, unit_price_cost

# Log types whose input/output are chat messages (a JSON string of them is parsed first).
CHAT_LOG_TYPES = frozenset({"chat", "response", "generation"})

# Token counts that become light columns; `usage` itself stays in the payload as it was sent.
_TOKEN_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "prompt_cache_hit_tokens",
    "prompt_cache_creation_tokens",
    "reasoning_tokens",
)
_LONG_TEXT = 1_000_000


@dataclass
class IngestContext:
    """Who is writing, through which endpoint, and the injectable clock and ids (for exact tests)."""

    org_id: int
    environment: str
    log_method: str
    prices: PriceBook
    max_span_bytes: int = 20 * 1024 * 1024
    now_us: Callable[[], int] = field(default=lambda: to_micros(datetime.now().astimezone()))
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)


def merge_params(raw: SpanIn) -> dict[str, Any]:
    """keywordsai_params < respan_params < top-level fields; a null counts as "not sent".

    The one place the precedence lives (spec §13.5), so it can be flipped if a client needs the
    legacy order where nested params win.
    """
    merged: dict[str, Any] = {}
    for nested_key in ("keywordsai_params", "respan_params"):
        nested: SpanFields | None = raw.get(nested_key)  # type: ignore[assignment]
        if nested:
            merged.update((k, v) for k, v in nested.items() if v is not None)
    merged.update((k, v) for k, v in raw.items() if v is not None and k not in ("respan_params", "keywordsai_params"))
    return merged


def span_unique_id(org_id: int, environment: str, trace_id: str, span_id: str) -> str:
    """The row id of a span that carries its own trace and span ids: a resend maps to the same row."""
    key = f"{org_id}\x1f{environment}\x1f{trace_id}\x1f{span_id}".encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def _clean(value: Any, limit: int = MAX_IDENTIFIER_LEN) -> str | None:
    """A light string column: NUL removed (PostgreSQL text refuses it), cut to `limit` characters."""
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    if "\x00" in s:
        s = s.replace("\x00", "")
    return s[:limit] if len(s) > limit else s


def _json_object(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value) if value.strip() else {}
        except orjson.JSONDecodeError:
            raise FieldError(name, "must be an object or a JSON string of an object") from None
    if not isinstance(value, dict):
        raise FieldError(name, "must be an object or a JSON string of an object")
    return value


def _metadata(value: Any) -> dict[str, str]:
    """Metadata is a string -> string map (Respan coerces values to strings)."""
    out: dict[str, str] = {}
    for k, v in _json_object("metadata", value).items():
        if isinstance(v, str):
            s = v
        elif isinstance(v, bool | int | float) or v is None:
            s = orjson.dumps(v).decode()
        else:
            s = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
        out[_clean(k, 1024) or ""] = _clean(s, _LONG_TEXT) or ""
    return out


def _maybe_json(value: Any) -> Any:
    """Chat input/output may arrive as a JSON string of messages: parse it when it is one."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _first(*values: int | None) -> int | None:
    for v in values:
        if v is not None:
            return v
    return None


def _tokens(d: dict[str, Any]) -> TokenCounts:
    """Top-level counts win over `usage`; the result follows OpenAI's convention (see TokenCounts)."""
    u: dict[str, Any] = d.get("usage") or {}
    ptd: dict[str, Any] = u.get("prompt_tokens_details") or {}
    ctd: dict[str, Any] = u.get("completion_tokens_details") or {}
    cache_hit = _first(d.get("prompt_cache_hit_tokens"), u.get("cache_read_input_tokens"), ptd.get("cached_tokens"))
    cache_creation = _first(
        d.get("prompt_cache_creation_tokens"),
        u.get("cache_creation_input_tokens"),
        u.get("cache_creation_prompt_tokens"),
        ptd.get("cache_creation_tokens"),
    )
    prompt = _first(d.get("prompt_tokens"), u.get("prompt_tokens"))
    if prompt is None and u.get("input_tokens") is not None:
        # Anthropic's input_tokens leaves out cache reads and writes; OpenAI's prompt_tokens includes them.
        prompt = u["input_tokens"]
        if "cache_read_input_tokens" in u or "cache_creation_input_tokens" in u:
            prompt += (u.get("cache_read_input_tokens") or 0) + (u.get("cache_creation_input_tokens") or 0)
    completion = _first(d.get("completion_tokens"), u.get("completion_tokens"), u.get("output_tokens"))
    reasoning = _first(d.get("reasoning_tokens"), u.get("reasoning_tokens"), ctd.get("reasoning_tokens"))
    return TokenCounts(
        prompt=prompt or 0,
        completion=completion or 0,
        cache_hit=cache_hit or 0,
        cache_creation=cache_creation or 0,
        reasoning=reasoning or 0,
    )


def _times(d: dict[str, Any], latency: float | None, now_us: Callable[[], int]) -> tuple[int, int, float | None]:
    """(timestamp, start_time, latency): explicit values stand; a missing one comes from the other two."""
    ts: datetime | None = d.pop("timestamp", None)
    st: datetime | None = d.pop("start_time", None)
    ts_us = to_micros(ts) if ts is not None else None
    st_us = to_micros(st) if st is not None else None
    if ts_us is None:
        ts_us = st_us + round(latency * 1000000.0) if st_us is not None and latency is not None else now_us()
    if st_us is None:
        st_us = ts_us - round(latency * 1e6) if latency is not None else ts_us
    elif latency is None and st is not None:
        latency = max(ts_us - st_us, 0) / 1e6
    return ts_us, st_us, latency


def _status(d: dict[str, Any], status_code: int, error_message: str | None) -> str:
    status = d.pop("status", None)
    if status is None:
        return "failed" if status_code >= 400 or error_message else "success"
    status = str(status).lower()
    if status == "error":
        return "failed"
    if status not in STATUSES:
        raise FieldError("status", f"must be one of success, error, {', '.join(STATUSES[1:])}")
    return status


def normalize(raw: SpanIn, ctx: IngestContext) -> SpanRecord:
    d = merge_params(raw)
    d.pop("environment", None)  # the key's environment stands, not the body's (spec §1.1)
    if d.pop("disable_log", False):
        for name in CONTENT_FIELDS:
            d.pop(name, None)

    latency = d.pop("latency", None)
    generation_time = d.pop("generation_time", None)
    if latency is None:
        latency = generation_time
    ttft = d.pop("time_to_first_token", None)
    ttft_alias = d.pop("ttft", None)
    if ttft is None:
        ttft = ttft_alias

    log_type = _clean(d.pop("log_type", None) or "chat", 64) or "chat"
    messages = d.pop("messages", None)
    prompt_messages = d.pop("prompt_messages", None) or messages
    completion_message = d.pop("completion_message", None)
    inp = d.pop("input", None)
    out = d.pop("output", None)
    if inp is None:
        inp = prompt_messages
    if out is None:
        out = completion_message if completion_message is not None else d.get("completion_messages")
    if log_type in CHAT_LOG_TYPES:
        inp, out = _maybe_json(inp), _maybe_json(out)
    if inp is not None:
        d["input"] = inp
    if out is not None:
        d["output"] = out
    tool_calls = d.get("tool_calls")
    has_tool_calls = bool(tool_calls) or (isinstance(out, dict) and bool(out.get("tool_calls")))

    customer = d.get("customer_params") or {}
    customer_identifier = d.pop("customer_identifier", None) or customer.get("customer_identifier")
    customer_email = d.pop("customer_email", None) or customer.get("email")
    customer_name = d.pop("customer_name", None) or customer.get("name")
    thread = d.pop("thread_identifier", None)
    session = d.pop("session_identifier", None)
    trace_group = d.get("trace_group_identifier")
    prompt = d.get("prompt")
    prompt_id = d.pop("prompt_id", None) or (prompt.get("prompt_id") if isinstance(prompt, dict) else None)

    if isinstance(d.get("response_format"), str):
        d["response_format"] = {"type": d["response_format"]}
    if "properties" in d:
        d["properties"] = _json_object("properties", d["properties"])
    metadata = _metadata(d.pop("metadata")) if "metadata" in d else {}

    tokens = _tokens(d)
    ts_us, st_us, latency = _times(d, latency, ctx.now_us)
    status_code = d.pop("status_code", None) or 200
    error_message = d.pop("error_message", None)
    status = _status(d, status_code, error_message)
    model = _clean(d.pop("model", None) or "") or ""
    provider_id = _clean(d.pop("provider_id", None))

    cost = d.pop("cost", None)
    if cost is None:
        pup, cup = d.get("prompt_unit_price"), d.get("completion_unit_price")
        if pup is not None or cup is not None:
            cost = unit_price_cost(tokens, pup, cup)
        else:
            cost = ctx.prices.cost(model, tokens, from_micros(ts_us), provider_id)
    usage = d.get("usage") or {}
    total_tokens = _first(d.pop("total_request_tokens", None), usage.get("total_tokens"))
    for name in _TOKEN_FIELDS:
        d.pop(name, None)

    trace_id = _clean(d.pop("trace_unique_id", None))
    span_id = _clean(d.pop("span_unique_id", None))
    unique_id = span_unique_id(ctx.org_id, ctx.environment, trace_id, span_id) if trace_id and span_id else ctx.new_id()
    record = SpanRecord(
        unique_id=unique_id,
        org_id=ctx.org_id,
        environment=ctx.environment,
        timestamp_us=ts_us,
        start_time_us=st_us,
        latency=latency,
        trace_unique_id=trace_id,
        span_unique_id=span_id,
        span_parent_id=_clean(d.pop("span_parent_id", None)),
        span_name=_clean(d.pop("span_name", None), MAX_SPAN_NAME_LEN),
        span_workflow_name=_clean(d.pop("span_workflow_name", None)),
        thread_identifier=_clean(thread or session),
        session_identifier=_clean(trace_group or session or thread),
        customer_identifier=_clean(customer_identifier),
        customer_email=_clean(customer_email),
        customer_name=_clean(customer_name),
        custom_identifier=_clean(d.pop("custom_identifier", None)),
        group_identifier=_clean(d.pop("group_identifier", None)),
        evaluation_identifier=_clean(d.pop("evaluation_identifier", None)),
        prompt_id=_clean(prompt_id),
        prompt_name=_clean(d.pop("prompt_name", None)),
        model=model,
        provider_id=provider_id,
        log_type=log_type,
        log_method=ctx.log_method,
        status=status,
        status_code=status_code,
        error_message=_clean(error_message, _LONG_TEXT),
        stream=bool(d.pop("stream", False)),
        has_tool_calls=has_tool_calls,
        positive_feedback=d.pop("positive_feedback", None),
        is_pinned=False,
        note=_clean(d.pop("note", None), _LONG_TEXT),
        cost=cost,
        time_to_first_token=ttft,
        tokens_per_second=d.pop("tokens_per_second", None),
        prompt_tokens=tokens.prompt,
        completion_tokens=tokens.completion,
        total_request_tokens=total_tokens if total_tokens is not None else tokens.prompt + tokens.completion,
        prompt_cache_hit_tokens=tokens.cache_hit,
        prompt_cache_creation_tokens=tokens.cache_creation,
        reasoning_tokens=tokens.reasoning,
        metadata_json=orjson.dumps(metadata).decode(),
        created_us=ctx.now_us(),
        # Whatever was not popped into a light column above is the heavy payload.
        payload_json=orjson.dumps(d).decode(),
    )
    if len(record.payload_json) + len(record.metadata_json) > ctx.max_span_bytes:
        raise TooLarge(f"a span is over the {ctx.max_span_bytes} byte limit")
    return record
