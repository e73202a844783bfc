"""OpenTelemetry trace ingest: OTLP/HTTP at the four paths exporters use, and the legacy JSON ingest.

`/api/v2/traces` is respan-tracing's (OTLP/JSON); `/api/v1/traces` is where a standard exporter posts
when pointed at `https://<host>/api`; the two without `/api` serve a base URL given without it
(clients.md §1, spec §3.7). The answer is an ExportTraceServiceResponse in the request's own encoding.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from spanbase.api.deps import Auth, Body, Ingestor
from spanbase.api.responses import JSONResponse
from spanbase.domain.errors import UnsupportedMediaType
from spanbase.ingest.legacy import parse_legacy_ingest
from spanbase.otlp.ingest import parse_otlp, partial_success_message

router = APIRouter(tags=["traces"])

PROTOBUF = "application/x-protobuf"


def is_protobuf(content_type: str, body: bytes) -> bool:
    """By Content-Type (OTLP/HTTP knows two, anything else is a 415); without one, JSON is told apart by
    its first byte (a protobuf request starts with field 1's tag, 0x0a)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("application/x-protobuf", "application/protobuf"):
        return True
    if kind == "application/json":
        return False
    if kind:
        raise UnsupportedMediaType(
            f"Content-Type {kind!r} is not supported: send application/x-protobuf or application/json"
        )
    return body.lstrip()[:1] != b"{"


@router.post("/api/v2/traces", summary="Ingest traces (OTLP/HTTP)")
@router.post("/api/v1/traces", summary="Ingest traces (OTLP/HTTP, standard exporter path)")
@router.post("/v2/traces", summary="Ingest traces (OTLP/HTTP, base URL without /api)")
@router.post("/v1/traces", summary="Ingest traces (OTLP/HTTP, base URL without /api)")
async def export_traces(request: Request, principal: Auth, body: Body, ingestor: Ingestor) -> Response:
    protobuf = is_protobuf(request.headers.get("content-type", ""), body)
    parse = partial(
        parse_otlp,
        protobuf=protobuf,
        encoding=request.headers.get("content-encoding"),
        limit=request.app.state.settings.max_body_bytes,
    )
    result = await ingestor.many(parse, body, principal, "tracing_integration")
    rejected = len(result.errors)
    message = partial_success_message(result)
    if protobuf:
        answer = ExportTraceServiceResponse()
        if message:
            answer.partial_success.rejected_spans = rejected
            answer.partial_success.error_message = message
        return Response(answer.SerializeToString(), media_type=PROTOBUF)
    partial_success = {"rejectedSpans": rejected, "errorMessage": message} if message else {}
    return JSONResponse({"partialSuccess": partial_success})


@router.post("/api/v1/traces/ingest", summary="Ingest trace spans (legacy JSON)")
async def ingest_trace_spans(principal: Auth, body: Body, ingestor: Ingestor) -> JSONResponse:
    result = await ingestor.many(parse_legacy_ingest, body, principal, "python_tracing")
    content = {
        "message": f"{result.success_count} span(s) ingested, {len(result.errors)} rejected",
        "success_count": result.success_count,
        "error_count": len(result.errors),
        "errors": result.errors,
    }
    # Nothing stored of a body that had spans: a 400, the errors per row as for bulk (spec §3.6).
    return JSONResponse(content, status_code=200 if result.success_count or not result.errors else 400)
