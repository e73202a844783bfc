"""The body of PATCH /api/request-logs/{unique_id}/ (spec §2.5): what may change on a stored span."""

from __future__ import annotations

from typing import Any

import orjson

from spanbase.domain.errors import FieldError
from spanbase.ingest.ingestor import InvalidBody, MalformedJSON
from spanbase.ingest.normalize import coerce_metadata

_NOTE_MAX = 1_000_000


def parse_span_patch(raw: bytes) -> tuple[dict[str, Any], dict[str, str] | None]:
    """(columns to set, metadata to merge). Only is_pinned, positive_feedback (null clears it), note and
    metadata can change; anything else is refused by name, so a typo is not silently ignored."""
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as e:
        raise MalformedJSON(f"Malformed JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidBody({"body": ["the body must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    columns: dict[str, Any] = {}
    metadata: dict[str, str] | None = None
    for key, value in body.items():
        if key == "is_pinned":
            if not isinstance(value, bool):
                errors[key] = ["must be true or false"]
            else:
                columns[key] = value
        elif key == "positive_feedback":
            if value is not None and not isinstance(value, bool):
                errors[key] = ["must be true, false or null"]
            else:
                columns[key] = value
        elif key == "note":
            if value is not None and not isinstance(value, str):
                errors[key] = ["must be a string or null"]
            else:
                columns[key] = None if value is None else value.replace("\x00", "")[:_NOTE_MAX]
        elif key == "metadata":
            try:
                metadata = coerce_metadata(value) if value is not None else None
            except FieldError as e:
                errors[key] = [e.message]
        else:
            errors[key] = ["cannot be changed: a span's is_pinned, positive_feedback, note and metadata can"]
    if errors:
        raise InvalidBody(errors)
    return columns, metadata
