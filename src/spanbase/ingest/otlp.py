"""Trace ingest bodies -> span records: OTLP/HTTP (protobuf and JSON) and the legacy JSON trace ingest.

Each is a `BodyParser` (ingest/parsers.py), run in a parse worker like a bulk body. One span that cannot
be stored is rejected alone, with a message naming it and its field; the others are kept (OTLP's
partial success, spec §3.7). A body that cannot be read at all is refused whole (400).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson
from pydantic import ValidationError

from spanbase.api.payloads.spans import span_adapter
from spanbase.domain.errors import BadRequest, FieldError, TooLarge
from spanbase.ingest.decompress import decompress
from spanbase.ingest.ingestor import BulkResult, InvalidBody, Who, errors_by_field
from spanbase.ingest.normalize import IngestContext, normalize
from spanbase.ingest.otlp_decode import OtlpSpan, decode_json, decode_protobuf
from spanbase.ingest.otlp_mapping import span_fields
from spanbase.ingest.pricing import PriceBook

# The rejections an OTLP answer spells out; past these it gives only their number.
MAX_REPORTED_ERRORS = 20


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{field}: {'; '.join(messages)}" for field, messages in errors_by_field(error.errors()).items())


# Fields an OTLP span cannot be stored without; any other field with a value of the wrong type is set
# aside into span_attributes (as sent) and the span kept, with a warning.
_REQUIRED = frozenset({"trace_unique_id", "span_unique_id", "span_parent_id", "start_time", "timestamp", "latency"})


def _normalize(fields: Any, ctx: IngestContext) -> Any:
    return normalize(span_adapter.validate_python(fields), ctx)


def _set_aside(fields: dict[str, Any], error: ValidationError) -> list[str] | None:
    """Move the fields `error` names into span_attributes; None when one of them is required."""
    bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    if not bad or bad & _REQUIRED or "span_attributes" in bad:
        return None
    aside = fields.setdefault("span_attributes", {})
    for name in bad:
        aside[name] = fields.pop(name)
    return sorted(bad)


def _otlp_record(fields: dict[str, Any], ctx: IngestContext, name: str, warnings: list[str]) -> Any:
    try:
        return _normalize(fields, ctx)
    except ValidationError as e:
        aside = _set_aside(fields, e)
        if aside is None:
            raise
        record = _normalize(fields, ctx)
        warnings.append(f"{name}: {_describe(e)} (kept in span_attributes)")
        return record


def _ingest_otlp(spans: Iterable[OtlpSpan], who: Who, prices: PriceBook) -> BulkResult:
    result = BulkResult()
    base = who.context(prices)
    contexts: dict[str, IngestContext] = {base.log_method: base}
    for index, span in enumerate(spans):
        name = f"span {span.span_id or index} of trace {span.trace_id or '?'}"
        try:
            fields, method = span_fields(span)
            method = method or base.log_method
            ctx = contexts.get(method)
            if ctx is None:
                ctx = contexts[method] = replace(base, log_method=method)
            result.records.append(_otlp_record(fields, ctx, name, result.warnings))
        except ValidationError as e:
            result.errors.append({"index": index, "error": f"{name}: {_describe(e)}"})
        except (FieldError, TooLarge, ValueError) as e:
            result.errors.append({"index": index, "error": f"{name}: {e}"})
    result.success_count = len(result.records)
    return result


def parse_otlp(
    body: bytes, who: Who, prices: PriceBook, *, protobuf: bool, encoding: str | None, limit: int
) -> BulkResult:
    """An ExportTraceServiceRequest as sent (compressed or not): bound with functools.partial into a
    BodyParser, so a gzip body is inflated in the parse worker too."""
    body = decompress(body, encoding, limit)
    return _ingest_otlp(decode_protobuf(body) if protobuf else decode_json(body), who, prices)


def parse_legacy_ingest(body: bytes, who: Who, prices: PriceBook) -> BulkResult:
    """`POST /api/v1/traces/ingest` (spec §3.6): a JSON array of create-span objects, or {"data": [...]},
    each with its trace_unique_id and span_unique_id."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"Malformed JSON: {e}") from None
    rows = parsed.get("data") if isinstance(parsed, dict) else parsed
    if not isinstance(rows, list):
        raise InvalidBody({"body": ['must be a JSON array of spans, or {"data": [...]}']})
    result = BulkResult()
    ctx = who.context(prices)
    for index, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise FieldError("body", "each span must be a JSON object")
            for required in ("trace_unique_id", "span_unique_id"):
                if row.get(required) in (None, ""):
                    raise FieldError(required, "is required")
            result.records.append(_normalize(row, ctx))
        except ValidationError as e:
            result.errors.append({"index": index, "error": _describe(e)})
        except (FieldError, TooLarge) as e:
            result.errors.append({"index": index, "error": str(e)})
    result.success_count = len(result.records)
    return result


def partial_success_message(result: BulkResult) -> str:
    """OTLP's partialSuccess.errorMessage: the first rejections and warnings, and how many in all
    ("" when there are none: OTLP reads a message with no rejected span as a warning)."""
    parts: list[str] = []
    for label, items in (("rejected", [e["error"] for e in result.errors]), ("stored with a warning", result.warnings)):
        if items:
            shown = items[:MAX_REPORTED_ERRORS]
            more = f"; and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
            parts.append(f"{len(items)} span(s) {label}: " + "; ".join(shown) + more)
    return ". ".join(parts)
