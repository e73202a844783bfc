"""Stored spans -> the Respan read shapes (spec §2.4 "Retrieve a span", §2.3 list rows)."""

from __future__ import annotations

from typing import Any

import orjson

from spanbase.domain.spans import iso_from_micros
from spanbase.ingest.normalize import CHAT_LOG_TYPES

# Stored columns that are not part of the wire shape (or are renamed below).
_INTERNAL = frozenset(
    {"id", "org_id", "timestamp_us", "start_time_us", "created_us", "metadata", "payload", "trace_key", "day"}
)


def public_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Keys starting with "_" are reserved and never returned (spec §1.7)."""
    return {k: v for k, v in (metadata or {}).items() if not k.startswith("_")}


def span_detail(span: dict[str, Any], organization_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": span["unique_id"]}
    out.update((k, v) for k, v in span.items() if k not in _INTERNAL)
    out["organization_id"] = organization_id
    out["timestamp"] = iso_from_micros(span["timestamp_us"])
    out["start_time"] = iso_from_micros(span["start_time_us"])
    out["metadata"] = public_metadata(span.get("metadata"))
    payload: dict[str, Any] = span.get("payload") or {}
    out.update(payload)
    out.setdefault("input", None)
    out.setdefault("output", None)
    if span["log_type"] in CHAT_LOG_TYPES:
        # Chat spans also answer in the legacy fields, derived from the universal ones (spec §13.2).
        inp, output = payload.get("input"), payload.get("output")
        out["prompt_messages"] = inp if isinstance(inp, list) else None
        out["completion_message"] = output if isinstance(output, dict) else None
    out.setdefault("scores", {})
    return out


def as_text(value: Any) -> str | None:
    """Input and output in list, trace and tree rows: strings, JSON text of anything else (spec §13.2)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# Detail fields a list row leaves out unless include_fields names them (spec §2.3: "the list omits
# some detail fields ... use retrieve for full detail"): the legacy copies of input and output, and the
# raw provider bodies. Without them a page of 50 chat spans measured 521 -> 270 KB.
LIST_OMITS = frozenset(
    {"prompt_messages", "completion_message", "completion_messages", "full_request", "full_response"}
)


def span_row(span: dict[str, Any], organization_id: str, fields: frozenset[str] | None) -> dict[str, Any]:
    """One row of a span list: the detail shape with input and output as text, cut to `fields`."""
    out = span_detail(span, organization_id)
    out["input"] = as_text(out.get("input"))
    out["output"] = as_text(out.get("output"))
    if fields is not None:
        return {k: v for k, v in out.items() if k in fields or k in ("id", "unique_id")}
    return {k: v for k, v in out.items() if k not in LIST_OMITS}
