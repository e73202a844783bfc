"""The legacy JSON trace ingest, `POST /api/v1/traces/ingest` (spec §3.6), as a `BodyParser`."""

from __future__ import annotations

import orjson
from pydantic import ValidationError

from spanbase.domain.errors import BadRequest, FieldError, TooLarge
from spanbase.ingest.ingestor import BulkResult, InvalidBody, Who, describe, normalize_fields
from spanbase.ingest.pricing import PriceBook


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
            result.records.append(normalize_fields(row, ctx))
        except ValidationError as e:
            result.errors.append({"index": index, "error": describe(e.errors())})
        except (FieldError, TooLarge) as e:
            result.errors.append({"index": index, "error": str(e)})
    result.success_count = len(result.records)
    return result
