"""OTLP/HTTP trace export bodies (protobuf and JSON) -> span records.

`parse_otlp` is a `BodyParser` (ingest/parsers.py), run in a parse worker like a bulk body. One span
that cannot be stored is rejected alone, with a message naming it and its field; the others are kept
(OTLP's partial success, spec §3.7). A body that cannot be read at all is refused whole (400).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from spanbase.domain.errors import FieldError, TooLarge
from spanbase.domain.spans import SpanRecord
from spanbase.ingest.decompress import decompress
from spanbase.ingest.ingestor import BulkResult, Who, describe, normalize_fields
from spanbase.ingest.normalize import IngestContext
from spanbase.ingest.pricing import PriceBook
from spanbase.otlp.attributes import span_fields
from spanbase.otlp.decode import OtlpSpan, decode_json, decode_protobuf

# The rejections an OTLP answer spells out; past these it gives only their number.
MAX_REPORTED_ERRORS = 20


# Fields an OTLP span cannot be stored without; any other field with a value of the wrong type is set
# aside into span_attributes (as sent) and the span kept, with a warning.
_REQUIRED = frozenset({"trace_unique_id", "span_unique_id", "span_parent_id", "start_time", "timestamp", "latency"})


def _set_aside(fields: dict[str, Any], error: ValidationError) -> bool:
    """Move the fields `error` names into span_attributes; False (nothing moved) when one is required."""
    bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    if not bad or bad & _REQUIRED or "span_attributes" in bad:
        return False
    aside = fields.setdefault("span_attributes", {})
    for name in bad:
        aside[name] = fields.pop(name)
    return True


def _otlp_record(fields: dict[str, Any], ctx: IngestContext, name: str, warnings: list[str]) -> SpanRecord:
    try:
        return normalize_fields(fields, ctx)
    except ValidationError as e:
        if not _set_aside(fields, e):
            raise
        record = normalize_fields(fields, ctx)
        warnings.append(f"{name}: {describe(e.errors())} (kept in span_attributes)")
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
            result.errors.append({"index": index, "error": f"{name}: {describe(e.errors())}"})
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
