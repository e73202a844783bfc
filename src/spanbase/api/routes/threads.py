"""Threads and customers: lists with their aggregates, one of each (spec §4, §5)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from spanbase.api import params
from spanbase.api.deps import Auth, QueryBodyBytes, ReadsDep
from spanbase.api.paging import envelope
from spanbase.api.payloads.aggregates import customer_row, thread_row
from spanbase.api.payloads.render import span_row
from spanbase.api.responses import JSONResponse
from spanbase.domain.errors import NotFound
from spanbase.domain.queries import ListQuery
from spanbase.query.fields import CUSTOMERS, THREADS

router = APIRouter(prefix="/api", tags=["threads", "customers"])


@router.post("/log_threads", summary="List threads")
@router.post("/threads/list", summary="List threads (alias)")
async def list_threads(request: Request, principal: Auth, body: QueryBodyBytes, reads: ReadsDep) -> JSONResponse:
    q = request.query_params
    query = ListQuery(
        scope=params.scope(q, principal),
        filter=params.body(body, THREADS).filters,
        sort=params.sort(q, THREADS),
        page=params.page(q, max_size=1000, default_size=100),
    )
    found = await run_in_threadpool(reads.entities.list_threads, query)
    rows = [thread_row(t) for t in found.rows]
    return JSONResponse(envelope(request, query.page, found.total, rows, current_filters={}, filters_data={}))


@router.get("/threads/{thread_identifier:path}", summary="Retrieve a thread with its spans")
async def retrieve_thread(request: Request, thread_identifier: str, principal: Auth, reads: ReadsDep) -> JSONResponse:
    scope = params.scope(request.query_params, principal)
    found = await run_in_threadpool(reads.entities.get_thread, scope, thread_identifier)
    if found is None:
        raise NotFound("Thread not found.")
    thread, spans = found
    out = thread_row(thread)
    out["spans"] = [span_row(s, principal.org_uid, None) for s in spans]
    return JSONResponse(out)


@router.post("/users/list", summary="List customers")
async def list_customers(request: Request, principal: Auth, body: QueryBodyBytes, reads: ReadsDep) -> JSONResponse:
    q = request.query_params
    query = ListQuery(
        scope=params.scope(q, principal),
        filter=params.body(body, CUSTOMERS).filters,
        sort=params.sort(q, CUSTOMERS),
        page=params.page(q, max_size=1000, default_size=100),
    )
    found = await run_in_threadpool(reads.entities.list_customers, query)
    rows = [customer_row(c, principal.org_uid) for c in found.rows]
    return JSONResponse(envelope(request, query.page, found.total, rows))


@router.get("/users/{customer_identifier:path}", summary="Retrieve a customer")
async def retrieve_customer(
    request: Request, customer_identifier: str, principal: Auth, reads: ReadsDep
) -> JSONResponse:
    scope = params.scope(request.query_params, principal)
    found = await run_in_threadpool(reads.entities.get_customer, scope, customer_identifier)
    if found is None:
        raise NotFound("Customer not found.")
    return JSONResponse(customer_row(found, principal.org_uid))
