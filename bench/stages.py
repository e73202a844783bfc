"""Where an ingested span's CPU goes, stage by stage, on one thread: no HTTP, no concurrency.

The HTTP benchmarks (ingest.py, otlp.py) show what the server sustains; on two cores that is set by
the sum of every stage's CPU, and their run-to-run spread hides a few microseconds gained or lost.
This one times each stage alone, best of ``--repeat`` passes, in CPU microseconds per span:

- parse: an OTLP/protobuf export (bench/otlpgen.py) or a REST bulk body (bench/spangen.py) into
  records, as a parse worker does (decode, validate, map attributes, normalise, cost);
- derive: the trace, thread, customer, rollup and tag rows of a batch (also in the worker);
- trip: the worker's answer (records as tuples, derived rows) pickled, unpickled and rebuilt;
- write: the store's writer committing batches of ``--commit-spans`` spans, into a fresh SQLite
  file (and a fresh PostgreSQL database with ``--postgres URL``), the server's one writer thread.
  With ``--statements``, the SQLite writer's CPU is also split by statement (INSERT INTO spans,
  span_tags, COMMIT, ...), and the PostgreSQL writer's wall time (COPY spans, COPY span_payloads, ...:
  mostly the backend's work, which the writer waits for).

    uv run python bench/stages.py
    uv run python bench/stages.py --spans 50000 --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ingest import machine_lines
from otlpgen import make_bodies
from spanbase.domain.spans import SpanRecord
from spanbase.ingest.ingestor import BulkResult, Who, parse_bulk
from spanbase.ingest.parsers import _as_tuple
from spanbase.ingest.pricing import PriceBook
from spanbase.otlp.ingest import parse_otlp
from spanbase.settings import Settings
from spanbase.storage.sql import migrate
from spanbase.storage.sql.derived import derive_portable
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.spans import PostgresBatchWriter, SqliteBatchWriter, SqlSpanStore
from spangen import batch_body, iter_batches

WHO = Who(org_id=1, environment="prod", key_id=1, log_method="bench", received_us=0, max_span_bytes=1 << 20)


def cpu_per_span(passes: int, spans: int, run: Callable[[], object]) -> float:
    """The best of ``passes`` runs of ``run``, in CPU microseconds per span."""
    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best / spans * 1e6


Parse = Callable[[bytes, Who, PriceBook], BulkResult]


def parse_all(parse: Parse, bodies: Sequence[bytes], prices: PriceBook) -> list[BulkResult]:
    return [parse(body, WHO, prices) for body in bodies]


def trip(results: Sequence[BulkResult], portables: Sequence[object]) -> None:
    """A worker's answer there and back: its records as tuples and its derived rows, then rebuilt."""
    for result, portable in zip(results, portables, strict=True):
        answer = pickle.dumps(([_as_tuple(r) for r in result.records], portable), protocol=5)
        rows, back = pickle.loads(answer)
        back.attach([SpanRecord(*row) for row in rows])


class TimedConnection:
    """A SQLite connection that adds each statement's CPU time to ``spent``, keyed by its first words."""

    def __init__(self, conn: Any, spent: Counter[str]) -> None:
        self._conn = conn
        self._spent = spent

    def execute(self, sql: str, params: Any = ()) -> Any:
        started = time.process_time()
        try:
            return self._conn.execute(sql, params)
        finally:
            self._spent[" ".join(sql.split()[:3])] += time.process_time() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class TimedCursor:
    """A PostgreSQL cursor that adds each statement's wall time to ``spent``, keyed by its first words:
    the writer waits while the backend works, so this is mostly the backend's time, which its CPU
    figure (the client's) leaves out."""

    def __init__(self, cursor: Any, spent: Counter[str]) -> None:
        self._cursor = cursor
        self._spent = spent

    def execute(self, sql: str, params: Any = ()) -> Any:
        started = time.perf_counter()
        try:
            return self._cursor.execute(sql, params)
        finally:
            self._spent[" ".join(sql.split()[:3])] += time.perf_counter() - started

    @contextmanager
    def copy(self, sql: str) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            with self._cursor.copy(sql) as copy:
                yield copy
        finally:
            self._spent[" ".join(sql.split()[:2])] += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _timed_postgres(writer: PostgresBatchWriter, spent: Counter[str]) -> None:
    """Time the writer's statements, and its commits, into ``spent``."""
    transaction = writer._transaction

    @contextmanager
    def timed() -> Iterator[Any]:
        with transaction() as cursor:
            yield TimedCursor(cursor, spent)
            started = time.perf_counter()
        spent["COMMIT"] += time.perf_counter() - started

    writer._transaction = timed  # type: ignore[method-assign]


def write_all(
    store: SqlSpanStore, records: Sequence[SpanRecord], commit_spans: int, spent: Counter[str] | None = None
) -> float:
    """CPU microseconds a span of the writer, committing ``commit_spans`` spans at a time; with
    ``spent``, the writer's statements are timed into it (CPU on SQLite, wall time on PostgreSQL)."""
    batches = [records[i : i + commit_spans] for i in range(0, len(records), commit_spans)]
    prepared = [store.prepare(batch) for batch in batches]  # made by the parse workers, not the writer
    writer = store.open_writer()
    if spent is not None and isinstance(writer, SqliteBatchWriter):
        writer._conn = TimedConnection(writer._conn, spent)  # type: ignore[assignment]
    elif spent is not None and isinstance(writer, PostgresBatchWriter):
        _timed_postgres(writer, spent)
    try:
        started = time.process_time()
        for batch, rows in zip(batches, prepared, strict=True):
            writer.write(batch, [rows])
        return (time.process_time() - started) / len(records) * 1e6
    finally:
        writer.close()


def fresh_store(url: str | None, workdir: Path) -> tuple[SqlSpanStore, Callable[[], None]]:
    if url is None:
        settings = Settings.from_env({}, data_dir=workdir)
        engine = make_engine(settings)
        migrate.upgrade(engine)
        return SqlSpanStore(engine, settings), engine.dispose
    name = f"bench_stages_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db_url = sa.make_url(url).set(database=name)
    settings = Settings.from_env({}, data_dir=workdir, database_url=db_url.render_as_string(hide_password=False))
    engine = make_engine(settings)
    migrate.upgrade(engine)

    def drop() -> None:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    return SqlSpanStore(engine, settings), drop


def measure(
    label: str,
    parse: Parse,
    bodies: Sequence[bytes],
    prices: PriceBook,
    stores: Sequence[tuple[str, str | None]],
    args: argparse.Namespace,
) -> list[tuple[str, float]]:
    """(stage, CPU us a span) of one body format, each stage alone."""
    results = parse_all(parse, bodies, prices)
    spans = sum(len(r.records) for r in results)
    records = [rec for r in results for rec in r.records]
    portables = [derive_portable(r.records) for r in results]
    figures = [
        (f"{label} parse", cpu_per_span(args.repeat, spans, lambda: parse_all(parse, bodies, prices))),
        (f"{label} derive", cpu_per_span(args.repeat, spans, lambda: [derive_portable(r.records) for r in results])),
        (f"{label} trip", cpu_per_span(args.repeat, spans, lambda: trip(results, portables))),
    ]
    for store_label, url in stores:
        with tempfile.TemporaryDirectory(prefix="sb-stages-") as tmp:
            store, close = fresh_store(url, Path(tmp))
            spent: Counter[str] | None = Counter() if args.statements else None
            try:
                figures.append((f"{label} write, {store_label}", write_all(store, records, args.commit_spans, spent)))
            finally:
                close()
            for statement, seconds in (spent or Counter()).most_common(8):
                figures.append((f"  {statement}", seconds / spans * 1e6))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000, help="spans per stage (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="passes of each parse stage; the best counts")
    parser.add_argument("--commit-spans", type=int, default=2000, help="spans per writer commit (default 2,000)")
    parser.add_argument("--postgres", metavar="URL", help="also time the writer on a fresh database there")
    parser.add_argument("--statements", action="store_true", help="split the writers' time by statement")
    args = parser.parse_args()

    for line in machine_lines():
        print(line)
    prices = PriceBook()
    otlp_bodies = [b.data for b in make_bodies(1, args.spans)]
    rest_bodies = [batch_body(batch) for batch in iter_batches(1, args.spans, 500)]
    otlp_parse = partial(parse_otlp, protobuf=True, encoding=None, limit=100 << 20)

    stores: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.postgres:
        stores.append(("postgres", args.postgres))
    figures = [
        *measure("otlp", otlp_parse, otlp_bodies, prices, stores, args),
        *measure("rest", parse_bulk, rest_bodies, prices, stores, args),
    ]

    print(f"spans per stage: {args.spans:,}; writer commits of {args.commit_spans:,} spans; CPU us per span:")
    for label, us in figures:
        print(f"  {label:<30} {us:8.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
