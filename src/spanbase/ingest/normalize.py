"""A validated create-span body -> one SpanRecord: legacy fields, params precedence, tokens, times, cost.

Spec references: §13.4 (legacy mapping), §13.5 (respan_params / keywordsai_params precedence), §13.2
(log types and how input/output are parsed), §13.3 (status), §13.1 (cost), §1.7 (identifier limits).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from spanbase.api.payloads.spans import CONTENT_FIELDS, SpanFields, SpanIn
from spanbase.domain.errors import FieldError, TooLarge
from spanbase.domain.spans import (
    DAY_US,
    MAX_IDENTIFIER_LEN,
    MAX_SPAN_NAME_LEN,
    STATUSES,
    SpanRecord,
    tags_for,
    to_micros,
    trace_key,
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
# Times outside these bounds are refused: with a latency of up to 1e8 s on either side, every stored or
# derived time is still a valid date when read back.
_MIN_TIME_US = to_micros(datetime(1900, 1, 1, tzinfo=UTC))
_MAX_TIME_US = to_micros(datetime(2200, 1, 1, tzinfo=UTC))

# Identifier columns taken as they are sent (the ones with fallbacks are handled in normalize()).
_IDENTIFIER_FIELDS = (
    "trace_unique_id",
    "span_unique_id",
    "span_parent_id",
    "span_workflow_name",
    "custom_identifier",
    "group_identifier",
    "evaluation_identifier",
    "prompt_name",
    "provider_id",
)


@dataclass
class IngestContext:
    """Who is writing, through which endpoint, and the injectable clock and ids (for exact tests)."""

    org_id: int
    environment: str
    log_method: str
    prices: PriceBook
    received_us: int
    max_span_bytes: int = 20 * 1024 * 1024
    key_id: int | None = None


def merge_params(raw: SpanIn) -> dict[str, Any]:
    """keywordsai_params < respan_params < top-level fields; a null counts as "not sent".

    The one place the precedence lives (spec §13.5), so it can be flipped if a client needs the
    legacy order where nested params win.
    """
    top: dict[str, Any] = {k: v for k, v in raw.items() if v is not None}
    kai: SpanFields | None = top.pop("keywordsai_params", None)
    respan: SpanFields | None = top.pop("respan_params", None)
    if not kai and not respan:
        return top
    merged: dict[str, Any] = {}
    for nested in (kai, respan):
        if nested:
            merged.update({k: v for k, v in nested.items() if v is not None})
    merged.update(top)
    return merged


def _clean(value: Any, limit: int = MAX_IDENTIFIER_LEN) -> str | None:
    """A light string column: NUL removed (PostgreSQL text refuses it), cut to `limit` characters."""
    if value is None:
        return None
    s = value if type(value) is str else str(value)
    if "\x00" in s:
        s = s.replace("\x00", "")
    return s[:limit] if len(s) > limit else s


def _pop_identifiers(d: dict[str, Any]) -> dict[str, str]:
    """The identifier columns present in `d`, removed from it, cleaned and cut to 254 characters."""
    found: dict[str, str] = {}
    for name in _IDENTIFIER_FIELDS:
        if name in d:
            found[name] = _clean(d.pop(name)) or ""
    return found


def _json_object(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value) if value.strip() else {}
        except orjson.JSONDecodeError:
            raise FieldError(name, "must be an object or a JSON string of an object") from None
    if not isinstance(value, dict):
        raise FieldError(name, "must be an object or a JSON string of an object")
    return value


def coerce_metadata(value: Any) -> dict[str, str]:
    """Metadata is a string -> string map (Respan coerces values to strings)."""
    given = _json_object("metadata", value)
    if all(type(v) is str and "\x00" not in v and "\x00" not in k for k, v in given.items()):
        return given
    out: dict[str, str] = {}
    for k, v in given.items():
        if isinstance(v, str):
            s = v
        else:
            # JSON text of the value: true, 3, 1.5, null, {"x":1}; the stdlib encoder takes integers of any
            # size (orjson stops at 64 bits), which a string column can hold.
            try:
                s = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
            except TypeError:
                s = json.dumps(v, sort_keys=True, separators=(",", ":"))
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


def _dumps_payload(d: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(d)
    except TypeError:
        # JSON allows integers of any size; the store keeps 64-bit ones. Name the field that has one.
        for key, value in d.items():
            try:
                orjson.dumps(value)
            except TypeError:
                raise FieldError(key, "holds an integer beyond the 64-bit range") from None
        raise


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


def _micros_in_range(name: str, value: datetime | None) -> int | None:
    if value is None:
        return None
    us = to_micros(value)
    if not _MIN_TIME_US <= us <= _MAX_TIME_US:
        raise FieldError(name, "must be between the years 1900 and 2200")
    return us


def _times(d: dict[str, Any], latency: float | None, received_us: int) -> tuple[int, int, float | None]:
    """(timestamp, start_time, latency): explicit values stand; a missing one comes from the other two."""
    ts: datetime | None = d.pop("timestamp", None)
    st: datetime | None = d.pop("start_time", None)
    ts_us = _micros_in_range("timestamp", ts)
    st_us = _micros_in_range("start_time", st)
    if ts_us is None:
        ts_us = st_us + round(latency * 1000000.0) if st_us is not None and latency is not None else received_us
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
    metadata = coerce_metadata(d.pop("metadata")) if "metadata" in d else {}

    tokens = _tokens(d)
    ts_us, st_us, latency = _times(d, latency, ctx.received_us)
    status_code = d.pop("status_code", None) or 200
    error_message = d.pop("error_message", None)
    status = _status(d, status_code, error_message)
    model = _clean(d.pop("model", None) or "") or ""
    ids = _pop_identifiers(d)
    provider_id = ids.get("provider_id")

    cost = d.pop("cost", None)
    if cost is None:
        pup, cup = d.get("prompt_unit_price"), d.get("completion_unit_price")
        if pup is not None or cup is not None:
            cost = unit_price_cost(tokens, pup, cup)
        else:
            cost = ctx.prices.cost(model, tokens, ts_us, provider_id)
    usage = d.get("usage") or {}
    total_tokens = _first(d.pop("total_request_tokens", None), usage.get("total_tokens"))
    for name in _TOKEN_FIELDS:
        d.pop(name, None)

    trace_id = ids.get("trace_unique_id")
    span_id = ids.get("span_unique_id")
    span_name = _clean(d.pop("span_name", None), MAX_SPAN_NAME_LEN)
    stream = bool(d.pop("stream", False))
    positive_feedback = d.pop("positive_feedback", None)
    note = _clean(d.pop("note", None), _LONG_TEXT)
    tokens_per_second = d.pop("tokens_per_second", None)
    error_code = _clean(d.pop("error_code", None))
    prompt_version_number = d.pop("prompt_version_number", None)
    deployment_name = _clean(d.pop("deployment_name", None))
    routing_time = d.pop("routing_time", None)
    metadata_bytes = orjson.dumps(metadata)
    # Whatever was not popped into a light column above is the heavy payload.
    payload_bytes = _dumps_payload(d)
    if len(payload_bytes) + len(metadata_bytes) > ctx.max_span_bytes:
        raise TooLarge(f"a span is over the {ctx.max_span_bytes} byte limit")
    return SpanRecord(
        unique_id="",
        org_id=ctx.org_id,
        environment=ctx.environment,
        timestamp_us=ts_us,
        start_time_us=st_us,
        latency=latency,
        trace_unique_id=trace_id,
        trace_key=trace_key(trace_id) if trace_id else None,
        span_unique_id=span_id,
        span_parent_id=ids.get("span_parent_id"),
        span_name=span_name,
        span_workflow_name=ids.get("span_workflow_name"),
        thread_identifier=_clean(thread or session),
        session_identifier=_clean(trace_group or session or thread),
        customer_identifier=_clean(customer_identifier),
        customer_email=_clean(customer_email),
        customer_name=_clean(customer_name),
        custom_identifier=ids.get("custom_identifier"),
        group_identifier=ids.get("group_identifier"),
        evaluation_identifier=ids.get("evaluation_identifier"),
        prompt_id=_clean(prompt_id),
        prompt_name=ids.get("prompt_name"),
        model=model,
        provider_id=provider_id,
        log_type=log_type,
        log_method=ctx.log_method,
        status=status,
        status_code=status_code,
        error_message=_clean(error_message, _LONG_TEXT),
        stream=stream,
        has_tool_calls=has_tool_calls,
        positive_feedback=positive_feedback,
        is_pinned=False,
        note=note,
        cost=cost,
        time_to_first_token=ttft,
        tokens_per_second=tokens_per_second,
        prompt_tokens=tokens.prompt,
        completion_tokens=tokens.completion,
        total_request_tokens=total_tokens if total_tokens is not None else tokens.prompt + tokens.completion,
        prompt_cache_hit_tokens=tokens.cache_hit,
        prompt_cache_creation_tokens=tokens.cache_creation,
        reasoning_tokens=tokens.reasoning,
        metadata_json=metadata_bytes.decode(),
        created_us=ctx.received_us,
        organization_key_id=str(ctx.key_id) if ctx.key_id else None,
        error_code=error_code,
        prompt_version_number=prompt_version_number,
        deployment_name=deployment_name,
        routing_time=routing_time,
        day=ts_us // DAY_US,
        payload_json=payload_bytes.decode(),
        tags=tags_for(ctx.org_id, ctx.environment, metadata) if metadata else (),
    )
