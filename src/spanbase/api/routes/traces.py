"""Traces: list, retrieve with the span tree, delete one, delete by filters (spec §3.1-3.5)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from spanbase.api import params
from spanbase.api.deps import Auth, QueryBodyBytes, ReadsDep, WriterDep
from spanbase.api.paging import envelope
from spanbase.api.payloads.traces import trace_object, tree_node
from spanbase.api.responses import JSONResponse
from spanbase.domain.errors import FieldError, NotFound
from spanbase.domain.queries import ListQuery, Scope
from spanbase.query.fields import TRACE_BULK_DELETE, TRACES
from spanbase.query.trees import build_tree, tree_json
from spanbase.storage.base import SpanBatchWriter

# A bulk delete matching more traces than this is refused (spec §3.5: 422), before anything is deleted.
MAX_BULK_DELETE = 1000

router = APIRouter(prefix="/api", tags=["traces"])


@router.post("/traces/list", summary="List traces")
async def list_traces(request: Request, principal: Auth, body: QueryBodyBytes, reads: ReadsDep) -> JSONResponse:
    q = request.query_params
    query = ListQuery(
        scope=params.scope(q, principal),
        filter=params.body(body, TRACES).filters,
        sort=params.sort(q, TRACES),
        page=params.page(q, max_size=1000, default_size=100),
        window=params.window(q),
    )
    found = await run_in_threadpool(reads.traces.list_traces, query)
    rows = [trace_object(t, principal.org_uid) for t in found.rows]
    return JSONResponse(envelope(request, query.page, found.total, rows))


@router.get("/traces/{trace_unique_id:path}", summary="Retrieve a trace with its span tree")
async def retrieve_trace(request: Request, trace_unique_id: str, principal: Auth, reads: ReadsDep) -> JSONResponse:
    scope = params.scope(request.query_params, principal)
    found = await run_in_threadpool(reads.traces.get_trace, scope, trace_unique_id)
    if found is None:
        raise NotFound("Trace not found.")
    trace, spans = found
    head = JSONResponse(trace_object(trace, principal.org_uid)).body
    tree = tree_json(build_tree(spans), lambda s: tree_node(s, principal.org_uid))
    # The tree is written as JSON text of its own (it can nest deeper than a JSON encoder recurses).
    return JSONResponse.raw(bytes(head[:-1]) + b',"span_tree":' + tree + b"}")


async def _delete(writer: WriterDep, scope: Scope, trace_ids: list[str]) -> int:
    def delete(w: SpanBatchWriter) -> int:
        return w.delete_traces(scope.org_id, scope.environments, trace_ids)

    return await writer.run(delete)


@router.delete("/traces/{trace_unique_id:path}", summary="Delete a trace")
async def delete_trace(request: Request, trace_unique_id: str, principal: Auth, writer: WriterDep) -> JSONResponse:
    # By id alone: the time window the spec allows is not needed to find a trace here.
    deleted = await _delete(writer, params.scope(request.query_params, principal), [trace_unique_id])
    message = "Trace deleted." if deleted else "No trace with this id; nothing was deleted."
    return JSONResponse({"message": message, "deleted_count": deleted})


@router.post("/traces/bulk", summary="Delete traces matching filters")
async def bulk_delete_traces(
    request: Request, principal: Auth, body: QueryBodyBytes, reads: ReadsDep, writer: WriterDep
) -> JSONResponse:
    q = request.query_params
    parsed = params.body(body, TRACE_BULK_DELETE)
    if parsed.filters is None:
        raise FieldError("filters", "is required and must not be empty: name the traces to delete")
    scope = params.scope(q, principal)
    window = params.window(q)
    ids = await run_in_threadpool(reads.traces.matching_ids, scope, window, parsed.filters, MAX_BULK_DELETE)
    if len(ids) > MAX_BULK_DELETE:
        raise FieldError("filters", f"match more than {MAX_BULK_DELETE} traces: narrow them (nothing was deleted)")
    deleted = await _delete(writer, scope, ids)
    return JSONResponse(
        {
            "success_count": deleted,
            "error_count": 0,
            "errors": [],
            "deleted_count": deleted,
            "message": f"Deleted {deleted} trace(s).",
        }
    )
