"""OTLP `ExportTraceServiceRequest` bodies (protobuf or OTLP/JSON) -> plain spans, one shape for both.

Protobuf is decoded by OpenTelemetry's own generated classes (`opentelemetry-proto`); JSON by orjson,
following the OTLP/JSON rules: ids in hex, 64-bit integers as strings or numbers, enums as numbers or
names, and (as protobuf's JSON parsers do) field names in lowerCamelCase or as in the .proto file.
Attribute values become Python values: str, int, float, bool, list, dict, and bytes as base64 text.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from spanbase.domain.errors import BadRequest

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_ERROR = 2


@dataclass(slots=True)
class OtlpSpan:
    """One span as sent, with its resource's and scope's attributes. Ids are lowercase hex ("" = none)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    resource: dict[str, Any]  # shared by the spans of one resource: read it, never change it
    scope_name: str
    scope_version: str


class OtlpIdError(ValueError):
    """An id that is neither hex nor base64 of the right length; the span is rejected, not the body."""


# ----------------------------------------------------------------------------------- protobuf


def _pb_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _pb_value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return _finite(v.double_value)
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return _pb_bytes(v.bytes_value)
    return None


def _pb_attributes(attributes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in attributes:
        v = kv.value
        # Most values are strings (~25 attributes a span): a non-empty string_value is the value, with
        # one read and no WhichOneof; anything else ("" included) goes the long way.
        s = v.string_value
        out[kv.key] = s if s else _pb_value(v)
    return out


def _pb_events(events: Any) -> list[dict[str, Any]]:
    return [
        {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": _pb_attributes(e.attributes)} for e in events
    ]


def _pb_links(links: Any) -> list[dict[str, Any]]:
    return [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "trace_state": link.trace_state,
            "attributes": _pb_attributes(link.attributes),
        }
        for link in links
    ]


def decode_protobuf(body: bytes) -> Iterator[OtlpSpan]:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise BadRequest(f"the body is not a protobuf ExportTraceServiceRequest: {e}") from None
    for rs in request.resource_spans:
        resource = _pb_attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope_name, scope_version = ss.scope.name, ss.scope.version
            for s in ss.spans:
                yield OtlpSpan(
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_id=s.parent_span_id.hex(),
                    name=s.name,
                    kind=s.kind,
                    start_ns=s.start_time_unix_nano,
                    end_ns=s.end_time_unix_nano,
                    status_code=s.status.code,
                    status_message=s.status.message,
                    attributes=_pb_attributes(s.attributes),
                    events=_pb_events(s.events) if s.events else [],
                    links=_pb_links(s.links) if s.links else [],
                    resource=resource,
                    scope_name=scope_name,
                    scope_version=scope_version,
                )


# ----------------------------------------------------------------------------------- JSON


def _finite(x: float) -> float | str:
    # NaN and infinities are not JSON: kept as their protobuf-JSON names rather than lost.
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    value = d.get(camel)
    return d.get(snake) if value is None else value


def _int(value: Any, default: int = 0) -> int:
    """A 64-bit integer as OTLP/JSON sends it: a string or a number."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise BadRequest(f"{value!r} is not an integer")


def _enum(value: Any, names: tuple[str, ...], prefix: str) -> int:
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        name = value.upper().removeprefix(prefix).lower()
        return names.index(name) if name in names else 0
    return _int(value)


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v  # tolerated: a bare value where an AnyValue object belongs
    for key, value in v.items():
        if key in ("stringValue", "string_value"):
            return value
        if key in ("intValue", "int_value"):
            return _int(value)
        if key in ("doubleValue", "double_value"):
            return value if isinstance(value, int | float) else _finite(float(value))
        if key in ("boolValue", "bool_value"):
            return value if isinstance(value, bool) else str(value).lower() == "true"
        if key in ("arrayValue", "array_value"):
            return [_json_value(x) for x in (value or {}).get("values") or ()]
        if key in ("kvlistValue", "kvlist_value"):
            return _json_attributes((value or {}).get("values"))
        if key in ("bytesValue", "bytes_value"):
            return value
    return None


def _json_attributes(attributes: Any) -> dict[str, Any]:
    if not attributes:
        return {}
    if not isinstance(attributes, list):
        raise BadRequest("attributes must be a list of {key, value} objects")
    out: dict[str, Any] = {}
    for kv in attributes:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _json_value(kv.get("value"))
    return out


def json_id(value: Any, size: int) -> str:
    """An OTLP/JSON id -> lowercase hex: hex as the spec says, or base64 as protobuf's JSON mapping has it."""
    if not value:
        return ""
    if not isinstance(value, str):
        raise OtlpIdError(f"must be a string of {size * 2} hex digits")
    if len(value) == size * 2:
        try:
            bytes.fromhex(value)
            return value.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise OtlpIdError(f"must be {size * 2} hex digits")
    return raw.hex()


def _list(d: dict[str, Any], camel: str, snake: str) -> list[Any]:
    value = _get(d, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{camel} must be a list")
    return value


def _id_or_raw(value: Any, size: int) -> str:
    """Ids are checked when the span is mapped, so one bad id rejects its span only: keep it as sent."""
    try:
        return json_id(value, size)
    except OtlpIdError:
        return f"!{value}"


def decode_json(body: bytes) -> Iterator[OtlpSpan]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"Malformed JSON: {e}") from None
    if not isinstance(request, dict):
        raise BadRequest("the body must be a JSON ExportTraceServiceRequest object")
    for rs in _list(request, "resourceSpans", "resource_spans"):
        if not isinstance(rs, dict):
            raise BadRequest("resourceSpans must hold objects")
        resource = _json_attributes((rs.get("resource") or {}).get("attributes"))
        for ss in _list(rs, "scopeSpans", "scope_spans"):
            if not isinstance(ss, dict):
                raise BadRequest("scopeSpans must hold objects")
            scope = ss.get("scope") or {}
            for s in _list(ss, "spans", "spans"):
                if not isinstance(s, dict):
                    raise BadRequest("spans must hold objects")
                status = s.get("status") or {}
                yield OtlpSpan(
                    trace_id=_id_or_raw(_get(s, "traceId", "trace_id"), 16),
                    span_id=_id_or_raw(_get(s, "spanId", "span_id"), 8),
                    parent_id=_id_or_raw(_get(s, "parentSpanId", "parent_span_id"), 8),
                    name=str(s.get("name") or ""),
                    kind=_enum(s.get("kind"), SPAN_KINDS, "SPAN_KIND_"),
                    start_ns=_int(_get(s, "startTimeUnixNano", "start_time_unix_nano")),
                    end_ns=_int(_get(s, "endTimeUnixNano", "end_time_unix_nano")),
                    status_code=_enum(status.get("code"), ("unset", "ok", "error"), "STATUS_CODE_"),
                    status_message=str(status.get("message") or ""),
                    attributes=_json_attributes(s.get("attributes")),
                    events=[
                        {
                            "name": str(e.get("name") or ""),
                            "time_unix_nano": _int(_get(e, "timeUnixNano", "time_unix_nano")),
                            "attributes": _json_attributes(e.get("attributes")),
                        }
                        for e in _list(s, "events", "events")
                        if isinstance(e, dict)
                    ],
                    links=[
                        {
                            "trace_id": _id_or_raw(_get(link, "traceId", "trace_id"), 16),
                            "span_id": _id_or_raw(_get(link, "spanId", "span_id"), 8),
                            "trace_state": str(_get(link, "traceState", "trace_state") or ""),
                            "attributes": _json_attributes(link.get("attributes")),
                        }
                        for link in _list(s, "links", "links")
                        if isinstance(link, dict)
                    ],
                    resource=resource,
                    scope_name=str(scope.get("name") or ""),
                    scope_version=str(scope.get("version") or ""),
                )
