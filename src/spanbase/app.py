"""The one place where spanbase is built and wired: `create_app(settings)`."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from spanbase import bootstrap
from spanbase.api import errors
from spanbase.api.deps import KeyCache
from spanbase.api.metrics import Metrics
from spanbase.api.middleware import RequestMetrics, TrailingSlash
from spanbase.api.responses import JSONResponse
from spanbase.api.routes import health, otlp, spans, threads, traces
from spanbase.ingest.ingestor import SpanIngestor
from spanbase.ingest.parsers import InlineParser, Parser, PoolParser
from spanbase.ingest.pricing import PriceBook
from spanbase.ingest.writer import SpanWriter
from spanbase.settings import Settings
from spanbase.storage.sql import migrate
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.keys import KeyStore
from spanbase.storage.sql.reader import make_reads
from spanbase.storage.sql.spans import SqlSpanStore

log = logging.getLogger("spanbase")


def _now_us() -> int:
    return time.time_ns() // 1000


def create_app(settings: Settings, *, say: Callable[[str], None] = log.warning) -> FastAPI:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    keys = KeyStore(engine)
    bootstrap.ensure_keys(keys, settings, say)

    span_store = SqlSpanStore(engine, settings)
    metrics = Metrics(queue_depth=lambda: writer.queued_spans)
    writer = SpanWriter(
        span_store.open_writer,
        prepare=span_store.prepare,
        max_queued=settings.write_queue_max_spans,
        max_batch=settings.write_batch_max_spans,
        on_commit=metrics.committed,
    )

    prices = PriceBook()
    parser: Parser = InlineParser(prices)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal parser
        if settings.parse_workers > 0:
            pool = PoolParser(
                settings.parse_workers, prices, span_store.prepare_in_worker, nice=settings.parse_worker_nice
            )
            await pool.start()
            parser = app.state.ingestor.parser = pool
        writer.start()
        try:
            yield
        finally:
            # The server has stopped taking requests and answered the ones in flight: commit the rest.
            writer.stop()
            parser.close()
            engine.dispose()

    app = FastAPI(
        title="spanbase",
        summary="Self-hosted LLM observability that speaks the Respan (Keywords AI) API",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.key_cache = KeyCache(keys, settings.key_cache_seconds)
    app.state.reads = make_reads(engine)
    app.state.writer = writer
    app.state.metrics = metrics
    app.state.ingestor = SpanIngestor(writer, parser, settings.max_span_bytes, _now_us)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(spans.router)
    app.include_router(traces.router)
    app.include_router(threads.router)
    app.include_router(otlp.router)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(TrailingSlash)
    return app
