"""The one writer of a store: group commit, a bounded queue, and an answer only after the commit.

Request handlers call `await writer.write(records)`. A single thread drains every batch waiting in the
queue (up to `max_batch` spans) into one transaction, commits it, and only then wakes the waiting
handlers, so a 2xx always means durably stored and immediately readable. While one transaction commits,
the next requests queue up and share the following one: the busier the server, the bigger the commits.
Past `max_queued` waiting spans, `write` refuses at once with Overloaded instead of growing memory.

Every other change to the store (deleting traces, patching a span) runs on the same thread through
`run(job)`, in a transaction of its own between two commits: one writer, so derived tables (rollups,
traces, ...) are only ever read and rewritten by it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from spanbase.domain.errors import Overloaded, StoreUnavailable
from spanbase.domain.spans import SpanRecord
from spanbase.storage.base import SpanBatchWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Batch:
    records: Sequence[SpanRecord]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    prepared: object = None


@dataclass
class _Job:
    fn: Callable[[SpanBatchWriter], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _settle(item: _Batch | _Job, error: BaseException | None, result: Any = None) -> None:
    def settle() -> None:
        if item.future.done():  # the client went away; the write stands all the same
            return
        if error is None:
            item.future.set_result(result)
        else:
            item.future.set_exception(error)

    item.loop.call_soon_threadsafe(settle)


class SpanWriter:
    def __init__(
        self,
        open_writer: Callable[[], SpanBatchWriter],
        *,
        prepare: Callable[[Sequence[SpanRecord]], object] | None = None,
        max_queued: int,
        max_batch: int,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> None:
        self._open_writer = open_writer
        self._prepare = prepare
        self._max_queued = max_queued
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Batch | _Job | None] = queue.SimpleQueue()
        self._queued = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def queued_spans(self) -> int:
        return self._queued

    def start(self) -> None:
        # Open the connection here, not in the thread, so a bad database URL fails the start-up.
        store_writer = self._open_writer()
        self._thread = threading.Thread(target=self._run, args=(store_writer,), name="span-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit everything queued, then stop the thread. Call after the server stopped taking requests."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    async def write(self, records: Sequence[SpanRecord], prepared: object | None = None) -> None:
        """Queue `records`; return once they are committed. `prepared`: what the store's prepare makes of
        them, when already made (by a parse worker); else it runs here, on the event loop's thread."""
        if not records:
            return
        n = len(records)
        with self._lock:
            if self._queued + n > self._max_queued and self._queued > 0:
                raise Overloaded(retry_after=1)
            self._queued += n
        try:
            if prepared is None and self._prepare is not None:
                prepared = self._prepare(records)
        except BaseException:
            with self._lock:
                self._queued -= n
            raise
        loop = asyncio.get_running_loop()
        batch = _Batch(records, loop, loop.create_future(), prepared)
        self._queue.put(batch)
        # Shielded: a client that disconnects must not cancel a write other requests share.
        await asyncio.shield(batch.future)

    async def run(self, fn: Callable[[SpanBatchWriter], T]) -> T:
        """Run `fn` on the writer's thread with the store's writer, between two commits; its result."""
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop, loop.create_future())
        self._queue.put(job)
        result: T = await asyncio.shield(job.future)
        return result

    def _take(self, first: _Batch) -> tuple[list[_Batch], _Job | None, bool]:
        """The first batch and whatever else is waiting, up to max_batch spans; a job met on the way
        (run after the commit); True when asked to stop."""
        group = [first]
        size = len(first.records)
        while size < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return group, None, True
            if isinstance(item, _Job):
                return group, item, False
            group.append(item)
            size += len(item.records)
        return group, None, False

    def _run(self, store_writer: SpanBatchWriter) -> None:
        try:
            stop = False
            while not stop:
                item = self._queue.get()
                if item is None:
                    break
                if isinstance(item, _Job):
                    self._do(store_writer, item)
                    continue
                group, job, stop = self._take(item)
                self._commit(store_writer, group)
                if job is not None:
                    self._do(store_writer, job)
            # Drain what is left so no waiting request is forgotten.
            while True:
                try:
                    rest = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(rest, _Job):
                    self._do(store_writer, rest)
                elif rest is not None:
                    self._commit(store_writer, [rest])
        finally:
            store_writer.close()

    def _do(self, store_writer: SpanBatchWriter, job: _Job) -> None:
        try:
            result = job.fn(store_writer)
        except Exception as e:
            log.exception("store job failed")
            _settle(job, e)
            return
        _settle(job, None, result)

    def _commit(self, store_writer: SpanBatchWriter, group: list[_Batch], *, prepared: bool = True) -> None:
        records = [r for b in group for r in b.records] if len(group) > 1 else group[0].records
        started = time.perf_counter()
        try:
            store_writer.write(records, [b.prepared for b in group] if prepared else ())
        except Exception:
            if len(group) == 1:
                log.exception("span write failed")
                self._finish(group, time.perf_counter() - started, ok=False)
                return
            # One request's rows must not fail the others': retry each batch in its own transaction.
            # The failed attempt may have merged the requests' prepared rows: compute them again.
            log.warning("group commit failed; retrying its %d batches one by one", len(group))
            for batch in group:
                self._commit(store_writer, [batch], prepared=False)
            return
        self._finish(group, time.perf_counter() - started, ok=True)

    def _finish(self, group: list[_Batch], seconds: float, *, ok: bool) -> None:
        n = sum(len(b.records) for b in group)
        with self._lock:
            self._queued -= n
        if ok and self._on_commit is not None:
            self._on_commit(n, seconds)
        error = None if ok else StoreUnavailable("the span store failed to write this batch; retry it")
        for batch in group:
            _settle(batch, error)
