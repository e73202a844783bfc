"""Where request bodies are parsed: in the server's own process, or in worker processes.

Parsing and normalising a span costs ~60 us of Python, and the span writer's own Python shares the
server process's GIL with it: measured at 150 us of CPU a span on one GIL-bound core, ingest stalled
near 7,000 spans/s with a core idle. Parse workers validate and normalise bulk bodies in processes of
their own and send the spans back as plain tuples (~4 us a span to pickle and unpickle, where the
dataclasses themselves took 90), so the server process keeps its GIL for HTTP and the writer.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from operator import attrgetter
from typing import Any, Protocol

from spanbase.domain.spans import SpanRecord
from spanbase.ingest.ingestor import BulkResult, Who
from spanbase.ingest.pricing import PriceBook
from spanbase.tuning import keep_freed_memory, quiet_gc

_FIELDS = tuple(SpanRecord.__dataclass_fields__)
_as_tuple = attrgetter(*_FIELDS)

# A body of many spans -> its records and row errors: `parse_bulk`, `parse_otlp`, `parse_legacy_ingest`.
# Module-level functions, so a worker process is sent a reference to one, not code.
BodyParser = Callable[[bytes, Who, PriceBook], BulkResult]


class Prepared(Protocol):
    """What a store derives from a batch in a worker (the rows of traces, rollups, ...), made whole
    again in the server once the batch's records are rebuilt there."""

    def attach(self, records: Sequence[SpanRecord]) -> object: ...


# The store's derivation, run in the worker after parsing: off the server process's GIL, which its
# HTTP handling and the writer's own Python share. A module-level function, sent by reference.
Prepare = Callable[[Sequence[SpanRecord]], Prepared]


class Parser(Protocol):
    prices: PriceBook

    async def parse(self, parse: BodyParser, body: bytes, who: Who) -> BulkResult: ...

    def close(self) -> None: ...


class InlineParser:
    """Parses on the event loop's thread (tests; a server started with SPANBASE_PARSE_WORKERS=0)."""

    def __init__(self, prices: PriceBook) -> None:
        self.prices = prices

    async def parse(self, parse: BodyParser, body: bytes, who: Who) -> BulkResult:
        return parse(body, who, self.prices)

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------- in the workers

_worker_prices: PriceBook | None = None
_worker_prepare: Prepare | None = None


def _start_worker(prepare: Prepare | None, nice: int) -> None:
    global _worker_prices, _worker_prepare
    # The one span writer, in the server process, is the stage every span waits for; the workers are
    # not (under that load each of two was busy about half the time). On two saturated cores, OTLP ingest
    # of 200,000 spans measured 9,031 and 9,035 spans/s with the workers at the server's priority,
    # 10,291 and 10,966 at niceness 10.
    if nice and hasattr(os, "nice"):  # not on Windows
        os.nice(nice)
    keep_freed_memory()
    _worker_prices = PriceBook()
    _worker_prepare = prepare
    # Imported now rather than by the first OTLP request (the protobuf classes take ~0.3 s to load).
    import spanbase.otlp.ingest  # noqa: F401

    quiet_gc()  # after the imports, so what they made is frozen


def _ready() -> bool:
    return _worker_prices is not None


def _parse_in_worker(
    parse: BodyParser, body: bytes, who: Who
) -> tuple[int, list[dict[str, Any]], list[tuple[Any, ...]], list[str], Prepared | None]:
    assert _worker_prices is not None, "the worker initializer builds the price book"
    result = parse(body, who, _worker_prices)
    prepared = _worker_prepare(result.records) if _worker_prepare is not None and result.records else None
    return result.success_count, result.errors, [_as_tuple(r) for r in result.records], result.warnings, prepared


# ----------------------------------------------------------------------------------- in the server


class PoolParser:
    """Parses bodies of many spans in `workers` processes; errors of the body (400, 413, 422) come back raised."""

    def __init__(self, workers: int, prices: PriceBook, prepare: Prepare | None = None, *, nice: int = 0) -> None:
        self.prices = prices  # for the single-span create, parsed inline: one span is not worth a trip
        self._workers = workers
        # spawn, not fork: the server has threads (the writer, the thread pool) when the pool starts.
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(prepare, nice),
        )

    async def start(self) -> None:
        """Start the worker processes now, so the first requests do not wait for them (~1 s each)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _ready) for _ in range(self._workers)))

    async def parse(self, parse: BodyParser, body: bytes, who: Who) -> BulkResult:
        loop = asyncio.get_running_loop()
        count, errors, rows, warnings, prepared = await loop.run_in_executor(
            self._pool, _parse_in_worker, parse, body, who
        )
        records = [SpanRecord(*row) for row in rows]
        return BulkResult(count, errors, records, warnings, None if prepared is None else prepared.attach(records))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
