"""Spans: create, bulk create, list, retrieve, update, summary and groups (spec §2)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from spanbase.api import params
from spanbase.api.deps import Auth, Body, Ingestor, QueryBodyBytes, ReadsDep, WriterDep
from spanbase.api.paging import envelope
from spanbase.api.payloads.aggregates import GROUP_SORTS, group_row, summary
from spanbase.api.payloads.patches import parse_span_patch
from spanbase.api.payloads.render import span_detail, span_row
from spanbase.api.responses import JSONResponse
from spanbase.domain.errors import BadRequest, NotFound
from spanbase.domain.queries import DATE_GROUPS, AggregateQuery, ListQuery, Scope
from spanbase.query.fields import SPANS
from spanbase.storage.base import SpanBatchWriter

UNIQUE_ID = re.compile(r"[0-9a-f]{32}")
# Fields a list row can give without reading the span's payload (the heavy part).
_PAYLOAD_FIELDS = frozenset({"input", "output", "prompt_messages", "completion_message"})
# group_by values (spec §2.8) -> span columns; deployment_id is a gateway field no span has here.
GROUP_BY = {
    "model": "model",
    "provider_id": "provider_id",
    "organization_key_id": "organization_key_id",
    "prompt_id": "prompt_id",
    "deployment_id": "deployment_id",
    "deployment_name": "deployment_name",
    "custom_identifier": "custom_identifier",
    "customer_identifier": "customer_identifier",
    "trace": "trace_unique_id",
    "thread": "thread_identifier",
}
_GROUP_FIELD = {"trace": "trace_unique_id", "thread": "thread_identifier"}

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
async def create_span(principal: Auth, body: Body, ingestor: Ingestor, reads: ReadsDep) -> JSONResponse:
    record = await ingestor.create(body, principal)
    # Read back what is stored: for a resend of a known (trace, span) pair the first write stands.
    scope = Scope(principal.org_id, (principal.environment,))
    span = await run_in_threadpool(reads.spans.get_span, scope, record.unique_id)
    if span is None:  # pragma: no cover - the write was committed before we got here
        raise NotFound("Span not found")
    return JSONResponse(span_detail(span, principal.org_uid))


@router.post("/request-logs/list", summary="List spans")
async def list_spans(request: Request, principal: Auth, body: QueryBodyBytes, reads: ReadsDep) -> JSONResponse:
    q = request.query_params
    fields = params.fields(q)
    query = ListQuery(
        scope=params.scope(q, principal),
        filter=params.and_log_type(params.body(body, SPANS).filters, q),
        sort=params.sort(q, SPANS),
        page=params.page(q, max_size=1000, default_size=100),
        window=params.window(q),
        fields=fields,
    )
    content = fields is None or bool(fields & _PAYLOAD_FIELDS)
    found = await run_in_threadpool(reads.spans.list_spans, query, content=content)
    rows = [span_row(s, principal.org_uid, fields) for s in found.rows]
    return JSONResponse(envelope(request, query.page, found.total, rows))


@router.post("/request-logs/summary", summary="Spans summary")
@router.get("/request-logs/summary", summary="Spans summary")
async def spans_summary(request: Request, principal: Auth, body: QueryBodyBytes, reads: ReadsDep) -> JSONResponse:
    q = request.query_params
    query = AggregateQuery(params.scope(q, principal), params.window(q), params.body(body, SPANS).filters)
    return JSONResponse(summary(await run_in_threadpool(reads.summaries.summary, query)))


@router.post("/request-logs/groups", summary="Span groups")
@router.get("/request-logs/groups", summary="Span groups")
async def span_groups(request: Request, principal: Auth, body: QueryBodyBytes, reads: ReadsDep) -> JSONResponse:
    q = request.query_params
    group_by = q.get("group_by") or None
    if group_by is not None and group_by not in GROUP_BY:
        raise BadRequest(f"group_by: must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
    date_group = q.get("date_group") or None
    if date_group is not None and date_group not in DATE_GROUPS:
        raise BadRequest(f"date_group: must be one of {', '.join(DATE_GROUPS)}, not {date_group!r}")
    query = AggregateQuery(
        params.scope(q, principal),
        params.window(q),
        params.body(body, SPANS).filters,
        GROUP_BY[group_by] if group_by else None,
        date_group,
    )
    page = params.page(q, max_size=1000, default_size=100)
    found = await run_in_threadpool(reads.summaries.groups, query)
    key_field = _GROUP_FIELD.get(group_by, group_by) if group_by else None
    rows = [group_row(key_field, key, date, agg) for (key, date), agg in found.items()]
    rows = sort_groups(rows, q.get("sort_by"), key_field)
    return JSONResponse(envelope(request, page, len(rows), rows[page.offset : page.offset + page.size]))


def sort_groups(rows: list[dict[str, Any]], sort_by: str | None, key_field: str | None) -> list[dict[str, Any]]:
    """Groups by date (oldest first) and then by requests (most first), unless sort_by says otherwise;
    a missing value sorts as the smallest, as in every other list."""
    if not sort_by:
        rows.sort(key=lambda r: -r["number_of_requests"])
        rows.sort(key=lambda r: r["date_group"] or "")
        return rows
    name = sort_by.lstrip("-+")
    allowed = GROUP_SORTS | ({key_field} if key_field else set())
    if name not in allowed:
        raise BadRequest(f"sort_by: groups sort by one of {', '.join(sorted(allowed))}, not {name!r}")
    descending = sort_by.startswith("-")
    present = sorted((r for r in rows if r[name] is not None), key=lambda r: r[name], reverse=descending)
    missing = [r for r in rows if r[name] is None]
    return present + missing if descending else missing + present


@router.get("/request-logs/{unique_id}", summary="Retrieve a span")
async def retrieve_span(request: Request, unique_id: str, principal: Auth, reads: ReadsDep) -> JSONResponse:
    if not UNIQUE_ID.fullmatch(unique_id):  # every stored id is 32 lowercase hex: nothing else can exist
        raise NotFound("Span not found.")
    span = await run_in_threadpool(reads.spans.get_span, params.scope(request.query_params, principal), unique_id)
    if span is None:
        raise NotFound("Span not found.")
    return JSONResponse(span_detail(span, principal.org_uid))


@router.patch("/request-logs/{unique_id}", summary="Update a span")
async def update_span(
    request: Request, unique_id: str, principal: Auth, body: QueryBodyBytes, writer: WriterDep, reads: ReadsDep
) -> JSONResponse:
    if not UNIQUE_ID.fullmatch(unique_id):
        raise NotFound("Span not found.")
    columns, metadata = parse_span_patch(body)
    scope = params.scope(request.query_params, principal)

    def patch(w: SpanBatchWriter) -> bool:
        return w.patch_span(scope.org_id, scope.environments, unique_id, columns, metadata)

    if not await writer.run(patch):
        raise NotFound("Span not found.")
    span = await run_in_threadpool(reads.spans.get_span, scope, unique_id)
    if span is None:  # pragma: no cover - patched a moment ago, and spans are deleted by whole traces
        raise NotFound("Span not found.")
    return JSONResponse(span_detail(span, principal.org_uid))
