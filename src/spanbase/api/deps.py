"""Request dependencies, named as types so handlers read like sentences: `principal: Auth`."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from spanbase.api.params import MAX_QUERY_BODY
from spanbase.domain.errors import TooLarge, Unauthorized
from spanbase.domain.keys import Principal
from spanbase.ingest.ingestor import SpanIngestor
from spanbase.ingest.writer import SpanWriter
from spanbase.storage.base import Reads
from spanbase.storage.sql.keys import KeyStore


class KeyCache:
    """Key -> principal lookups, cached for `ttl` seconds (so a revocation takes effect within `ttl`)."""

    def __init__(self, keys: KeyStore, ttl: float) -> None:
        self._keys = keys
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def principal(self, key: str) -> Principal | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        principal = await run_in_threadpool(self._keys.principal, key)
        if len(self._cache) > 10_000:  # bounded: a flood of wrong keys must not grow memory
            self._cache.clear()
        self._cache[key] = (now, principal)
        return principal


async def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() not in ("bearer", "api-key", "token") or not key:
        raise Unauthorized("Authentication credentials were not provided: send Authorization: Bearer <API key>.")
    cache: KeyCache = request.app.state.key_cache
    principal = await cache.principal(key)
    if principal is None:
        raise Unauthorized("Your API key is invalid, revoked or expired.")
    return principal


async def _body(request: Request) -> bytes:
    """The raw body, refused with 413 past the limit without reading (or buffering) the rest."""
    limit: int = request.app.state.settings.max_body_bytes
    return await read_body(request, limit)


async def _query_body(request: Request) -> bytes:
    """The body of a read (filters): a megabyte at most (spec §1.5: 413)."""
    return await read_body(request, MAX_QUERY_BODY)


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(f"the request body is over the {limit} byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _ingestor(request: Request) -> SpanIngestor:
    ingestor: SpanIngestor = request.app.state.ingestor
    return ingestor


def _reads(request: Request) -> Reads:
    reads: Reads = request.app.state.reads
    return reads


def _writer(request: Request) -> SpanWriter:
    writer: SpanWriter = request.app.state.writer
    return writer


Auth = Annotated[Principal, Depends(_principal)]
Body = Annotated[bytes, Depends(_body)]
QueryBodyBytes = Annotated[bytes, Depends(_query_body)]
ReadsDep = Annotated[Reads, Depends(_reads)]
WriterDep = Annotated[SpanWriter, Depends(_writer)]
Ingestor = Annotated[SpanIngestor, Depends(_ingestor)]
