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
from spanbase.domain.filters import Condition, FieldType, Node, Op
from spanbase.domain.queries import ListQuery, Scope, Window
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


async def _matching(reads: ReadsDep, scope: Scope, window: Window | None, filter: Node) -> dict[str, list[str]]:
    """The ids of the traces a filter matches (at most MAX_BULK_DELETE + 1 per environment), by environment.

    Matched one environment at a time: a trace is its id in one environment, and the same id in the other
    one (over ?all_envs=true) may not match; deleting those ids in both would take it too.
    """
    matched: dict[str, list[str]] = {}
    for env in scope.environments:
        one = Scope(scope.org_id, (env,))
        matched[env] = await run_in_threadpool(reads.traces.matching_ids, one, window, filter, MAX_BULK_DELETE)
    return matched


async def _delete(writer: WriterDep, org_id: int, groups: list[tuple[tuple[str, ...], list[str]]]) -> int:
    """Delete traces by id: each group names ids and the environments to delete them in."""

    def delete(w: SpanBatchWriter) -> int:
        return sum(w.delete_traces(org_id, envs, ids) for envs, ids in groups if ids)

    return await writer.run(delete)


@router.delete("/traces/{trace_unique_id:path}", summary="Delete a trace")
async def delete_trace(
    request: Request, trace_unique_id: str, principal: Auth, reads: ReadsDep, writer: WriterDep
) -> JSONResponse:
    q = request.query_params
    scope = params.scope(q, principal)
    window = params.optional_window(q)
    if window is None:
        # By id alone: the default window (the last hour) is not needed to find a trace here.
        groups = [(scope.environments, [trace_unique_id])]
    else:
        # A window the client gives narrows the delete (spec §3.4): the trace goes if it starts in it, the
        # rule the traces list applies.
        same_id = Condition("trace_unique_id", FieldType.STRING, Op.EQ, (trace_unique_id,))
        matched = await _matching(reads, scope, window, same_id)
        groups = [((env,), ids) for env, ids in matched.items()]
    deleted = await _delete(writer, scope.org_id, groups)
    message = "Trace deleted." if deleted else "No such trace; nothing was deleted."
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
    matched = await _matching(reads, scope, params.window(q), parsed.filters)
    if sum(len(ids) for ids in matched.values()) > MAX_BULK_DELETE:
        raise FieldError("filters", f"match more than {MAX_BULK_DELETE} traces: narrow them (nothing was deleted)")
    deleted = await _delete(writer, scope.org_id, [((env,), ids) for env, ids in matched.items()])
    return JSONResponse(
        {
            "success_count": deleted,
            "error_count": 0,
            "errors": [],
            "deleted_count": deleted,
            "message": f"Deleted {deleted} trace(s).",
        }
    )
