"""Span ingestion and retrieval: /api/request-logs/... (spec §2.1, §2.2, §2.4)."""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from spanbase.api.deps import Auth, Body, Ingestor, SpanStoreDep
from spanbase.api.payloads.render import span_detail
from spanbase.api.responses import JSONResponse
from spanbase.domain.errors import NotFound

UNIQUE_ID = re.compile(r"[0-9a-f]{32}")

router = APIRouter(prefix="/api", tags=["spans"])


@router.post("/request-logs/bulk", summary="Bulk create spans")
async def bulk_create_spans(principal: Auth, body: Body, ingestor: Ingestor) -> JSONResponse:
    result = await ingestor.bulk(body, principal)
    content = {
        "success_count": result.success_count,
        "error_count": len(result.errors),
        "errors": result.errors,
    }
    return JSONResponse(content, status_code=201 if result.success_count else 422)


@router.post("/request-logs", summary="Create a span")
@router.post("/request-logs/create", summary="Create a span (legacy alias)")
@router.post("/logs/create", summary="Create a span (alias)")
async def create_span(principal: Auth, body: Body, ingestor: Ingestor, store: SpanStoreDep) -> JSONResponse:
    record = await ingestor.create(body, principal)
    # Read back what is stored: for a resend of a known (trace, span) pair the first write stands.
    span = await run_in_threadpool(store.get_span, principal.org_id, record.unique_id)
    if span is None:  # pragma: no cover - the write was committed before we got here
        raise NotFound("Span not found")
    return JSONResponse(span_detail(span, principal.org_uid))


@router.get("/request-logs/{unique_id}", summary="Retrieve a span")
async def retrieve_span(unique_id: str, principal: Auth, store: SpanStoreDep) -> JSONResponse:
    if not UNIQUE_ID.fullmatch(unique_id):  # every stored id is 32 lowercase hex: nothing else can exist
        raise NotFound("Span not found.")
    span = await run_in_threadpool(store.get_span, principal.org_id, unique_id)
    if span is None:
        raise NotFound("Span not found.")
    return JSONResponse(span_detail(span, principal.org_uid))
