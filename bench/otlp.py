"""OTLP ingest benchmark: spanbase against Arize Phoenix, the same trace trees as OTLP/protobuf.

Makes ``max(--spans, --phoenix-spans)`` spans (bench/otlpgen.py: trace trees of a root workflow and
3-8 task and LLM children, ~5 KB of protobuf a span, 500 spans a request) before any clock starts,
then, one server after the other (never both at once):

1. spanbase: starts ``uv run spanbase serve`` on a throw-away data directory and a free port (or
   uses ``--url``/``--api-key``), POSTs ``--spans`` spans to ``/v1/traces`` from ``--concurrency``
   keep-alive connections, and reads back how many it stored and when the last acknowledged span
   became readable (through ``POST /api/request-logs/list/``);
2. Phoenix: creates ``--phoenix-venv`` with ``arize-phoenix`` if it is missing, starts ``phoenix
   serve`` on 127.0.0.1, a free port and a throw-away working directory (its default SQLite), POSTs
   ``--phoenix-spans`` spans of the same requests to its ``/v1/traces``, and reads back the same
   things (its GraphQL span count and ``GET /v1/projects/default/spans?span_id=``): Phoenix
   answers 200 before it writes, so what it stored is counted until it stops growing.

Then prints, for both: spans acknowledged, refused and retried, acknowledged spans/s, stored spans
and stored spans/s, the delay until the last acknowledged span was readable, server CPU and RSS; the
ratios; and whether spanbase sustained the 10,000 spans/s target. Figures are printed, never asserted.

    uv run python bench/otlp.py
    uv run python bench/otlp.py --skip-phoenix --spans 1000000
    uv run python bench/otlp.py --url http://127.0.0.1:8123 --api-key KEY --skip-phoenix
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest import (
    THROTTLE_STATUSES,
    Load,
    RawPoster,
    ServerWatch,
    Stats,
    TransportError,
    _count_failure,
    _loop_name,
    _use_uvloop,
    find_listening_pid,
    machine_lines,
    percentile,
    process_tree,
    progress,
    resolve_server,
    retry_after_s,
)
from otlpgen import Body, make_bodies, span_times
from query import Client, eq_filter, iso, query_string

TARGET = 10_000  # acknowledged spans/s on SQLite (the issue's)
OTLP_PATH = "/v1/traces"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = Path(__file__).resolve().parent / ".phoenix-venv"
BENCH_KEY = "bench-otlp-key-0123456789"
LOG_ERROR = re.compile(r"(^|\s)(ERROR|CRITICAL)(:|\s)|^Traceback \(most recent call last\)")  # not 'ERROR' in SQL


# --------------------------------------------------------------------------- sending


def tree_cpu(watch: ServerWatch | None) -> float:
    """CPU seconds of the server's process tree now, re-walking the tree first: a worker process
    started since the last walk would be missed until ServerWatch's next one."""
    if watch is None:
        return 0.0
    watch.tree = process_tree(watch.pid)
    return watch.cpu()


class OtlpPoster(RawPoster):
    """ingest.py's lean HTTP/1.1 client, posting protobuf to an OTLP traces path instead."""

    def __init__(self, url: str, api_key: str, timeout: float, path: str = OTLP_PATH) -> None:
        super().__init__(url, api_key, timeout)
        parts = urlsplit(url)
        self._head = b"".join(
            [
                b"POST " + (parts.path.rstrip("/") + path).encode() + b" HTTP/1.1\r\n",
                b"Host: " + parts.netloc.encode() + b"\r\n",
                b"Authorization: Bearer " + api_key.encode() + b"\r\n" if api_key else b"",
                b"Content-Type: application/x-protobuf\r\nContent-Length: ",
            ]
        )


@dataclass
class Acks:
    """What ingest.Stats does not count: refusals by kind, and the last acknowledgement."""

    refused_http: int = 0  # spans of requests answered 4xx/5xx (not 429/503)
    lost: int = 0  # spans of requests that got no answer
    first_send: float = 0.0  # perf_counter
    last_ack: float = 0.0
    last_body: Body | None = None
    retried_spans: int = 0  # spans of throttled requests that were later acknowledged


def rejected_spans(payload: bytes) -> tuple[int, str]:
    """``partial_success.rejected_spans`` and its message from an ExportTraceServiceResponse."""
    answer = ExportTraceServiceResponse.FromString(payload)
    return answer.partial_success.rejected_spans, answer.partial_success.error_message


async def send_export(load: Load, acks: Acks, poster: OtlpPoster, body: Body, max_retries: int) -> None:
    """POST one export; a 429/503 is retried after its Retry-After, at most ``max_retries`` times."""
    stats = load.stats
    stats.spans_sent += body.spans
    for attempt in range(max_retries + 1):
        if load.stop.is_set():
            break
        started = time.perf_counter()
        try:
            reply = await poster.post(body.data)
        except TransportError as exc:
            acks.lost += body.spans
            _count_failure(load, str(exc))
            return
        stats.requests += 1
        if 200 <= reply.status < 300:
            try:
                rejected, message = rejected_spans(reply.body)
            except DecodeError:
                rejected, message = 0, ""
                stats.note(f"HTTP {reply.status}, not an ExportTraceServiceResponse: {reply.body[:120]!r}")
            stats.row_errors += rejected
            stats.spans_acked += body.spans - rejected
            if rejected:
                stats.note(f"partial success, {rejected} rejected: {message[:200]}")
            acks.last_ack = time.perf_counter()
            acks.last_body = body
            acks.retried_spans += body.spans if attempt else 0
            stats.latencies.append(acks.last_ack - started)
            stats.consecutive_failures = 0
            return
        if reply.status not in THROTTLE_STATUSES:
            acks.refused_http += body.spans
            _count_failure(load, f"HTTP {reply.status}: {reply.body[:200]!r}")
            return
        stats.throttled += 1
        delay = retry_after_s(reply.retry_after)
        if attempt == max_retries or time.monotonic() + delay > load.deadline:
            break
        await asyncio.sleep(delay)
    stats.abandoned_spans += body.spans


@dataclass
class LoadResult:
    stats: Stats
    acks: Acks
    elapsed: float  # first send to last answer
    client_cpu: float  # this process, while sending
    server_cpu: float | None  # the server's process tree, while it was being sent to


async def send_all(
    bodies: list[Body], posters: list[OtlpPoster], watch: ServerWatch | None, args: argparse.Namespace
) -> LoadResult:
    queue: Iterator[Body] = iter(bodies)
    load = Load(bodies=iter(()), deadline=time.monotonic() + args.duration, stats=Stats(), stop=asyncio.Event())
    acks = Acks()

    async def client(poster: OtlpPoster) -> None:
        try:
            while not load.stop.is_set() and time.monotonic() < load.deadline:
                body = next(queue, None)  # shared by the clients: one event loop, so no lock
                if body is None:
                    return
                await send_export(load, acks, poster, body, args.max_retries)
        finally:
            await poster.aclose()

    cpu0, server0 = resource.getrusage(resource.RUSAGE_SELF), tree_cpu(watch)
    acks.first_send = time.perf_counter()
    ticker = asyncio.create_task(progress(load, watch, args.progress, acks.first_send))
    await asyncio.gather(*(client(poster) for poster in posters))
    elapsed = time.perf_counter() - acks.first_send
    ticker.cancel()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = tree_cpu(watch) - server0 if watch else None
    client_cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    return LoadResult(load.stats, acks, elapsed, client_cpu, server_cpu)


# --------------------------------------------------------------------------- reading back


@dataclass
class Readback:
    before: int = 0  # spans the store counted before the run
    stored: int | None = None  # counted after it, less `before`
    stored_at: float | None = None  # perf_counter of the first answer showing the final count
    readable_at: float | None = None  # perf_counter of the first answer holding the last acked span
    readable_asked: float | None = None  # when that read was sent
    polls: int = 0
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)


class Store:
    """How to count a system's spans and find one span in it."""

    name = "?"
    poll_interval = 0.2

    async def count(self) -> int:
        raise NotImplementedError

    async def has_span(self, trace_id: str, span_id: str) -> bool:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class SpanbaseStore(Store):
    name = "spanbase"

    def __init__(self, url: str, api_key: str, start: datetime, end: datetime) -> None:
        self._client = Client(url, api_key, timeout=120.0)
        self._window = {"start_time": iso(start), "end_time": iso(end)}

    async def _list(self, page_size: int, body: bytes) -> dict[str, object]:
        path = "/api/request-logs/list/" + query_string(page_size=page_size, **self._window)
        answer = await self._client.request("POST", path, body)
        if answer.status != 200:
            raise RuntimeError(f"list: HTTP {answer.status}: {answer.body[:200]!r}")
        result: dict[str, object] = orjson.loads(answer.body)
        return result

    async def count(self) -> int:
        return int((await self._list(1, b"{}"))["total_count"])  # type: ignore[call-overload]

    async def has_span(self, trace_id: str, span_id: str) -> bool:
        page = await self._list(50, eq_filter("trace_unique_id", trace_id))
        return any(row.get("span_unique_id") == span_id for row in page["results"])  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self._client.aclose()


class PhoenixStore(Store):
    name = "Phoenix"
    poll_interval = 1.0

    def __init__(self, url: str) -> None:
        self._client = Client(url, "", timeout=120.0)
        self._polls = 0

    async def count(self) -> int:
        # Project.recordCount counts spans; its answers are cached by (time range, ...), so each poll
        # asks for a slightly different range to read the table, not a cached figure.
        self._polls += 1
        end = iso(datetime.now(UTC) + timedelta(days=1, milliseconds=self._polls))
        query = '{ projects { edges { node { recordCount(timeRange: {start: "2000-01-01T00:00:00Z", end: "%s"}) } } } }'
        answer = await self._client.request("POST", "/graphql", orjson.dumps({"query": query % end}))
        data = orjson.loads(answer.body)
        if answer.status != 200 or data.get("errors"):
            raise RuntimeError(f"graphql: HTTP {answer.status}: {answer.body[:300]!r}")
        return sum(edge["node"]["recordCount"] for edge in data["data"]["projects"]["edges"])

    async def has_span(self, trace_id: str, span_id: str) -> bool:
        answer = await self._client.request("GET", f"/v1/projects/default/spans?span_id={span_id}&limit=1")
        if answer.status == 404:  # the project is made with the first span written
            return False
        if answer.status != 200:
            raise RuntimeError(f"spans: HTTP {answer.status}: {answer.body[:200]!r}")
        return bool(orjson.loads(answer.body)["data"])

    async def aclose(self) -> None:
        await self._client.aclose()


async def read_back(store: Store, result: LoadResult, readback: Readback, args: argparse.Namespace) -> None:
    """Poll until the last acknowledged span is readable and the count has reached the acknowledged
    spans, or stopped growing for ``--stall`` seconds, or ``--readback-timeout`` seconds have passed."""
    acked, body = result.stats.spans_acked, result.acks.last_body
    started = last_print = time.perf_counter()
    last_count, last_growth = -1, started
    while True:
        readback.polls += 1
        asked = time.perf_counter()
        looking = body is not None and readback.readable_at is None
        if looking and body and await store.has_span(body.last_trace_id, body.last_span_id):
            readback.readable_at, readback.readable_asked = time.perf_counter(), asked
        count = await store.count() - readback.before
        now = time.perf_counter()
        if count != last_count:
            last_count, last_growth = count, now
            readback.stored, readback.stored_at = count, now
        readable = body is None or readback.readable_at is not None
        if readable and count >= acked:
            return
        if now - last_growth > args.stall and (readable or now - started > args.readback_timeout):
            readback.notes.append(f"the count stayed at {count:,} for {args.stall:.0f} s: taken as final")
            return
        if now - started > args.readback_timeout:
            readback.timed_out = True
            readback.notes.append(f"read-back gave up after {args.readback_timeout:.0f} s")
            return
        if now - last_print >= args.progress:
            last_print = now
            seen = "readable" if readback.readable_at else "not readable yet"
            rate = count / (now - result.acks.first_send)
            print(
                f"[{now - result.acks.first_send:7.1f}s] {store.name}: stored {count:>10,} of {acked:,} acked"
                f" ({rate:,.0f} spans/s since the first send); last acked span {seen}",
                flush=True,
            )
        await asyncio.sleep(store.poll_interval)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process this benchmark started (in its own session, so that its group can be ended)."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log: Path
    started: float = field(default_factory=time.perf_counter)
    ready_s: float = 0.0

    def wait_ready(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(self.url + path, timeout=2.0).status_code == 200:
                    self.ready_s = time.perf_counter() - self.started
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s; see {self.log}")

    def watch(self) -> ServerWatch | None:
        pid = find_listening_pid(urlsplit(self.url).port or 80)
        return ServerWatch(pid) if pid else None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group of the process started here
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def launch(name: str, command: list[str], env: dict[str, str], workdir: Path, cwd: Path, url: str) -> Server:
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Server(name, url, process, workdir, log)


def start_spanbase(workdir: Path) -> Server:
    port = free_port()
    env = dict(os.environ)
    env.update(
        SPANBASE_DATA_DIR=str(workdir / "data"),
        SPANBASE_INIT_API_KEY=BENCH_KEY,
        SPANBASE_INIT_ORGANIZATION="bench",
        SPANBASE_LOG_LEVEL=env.get("SPANBASE_LOG_LEVEL", "warning"),
    )
    env.pop("SPANBASE_DATABASE_URL", None)  # SQLite, whatever this shell says
    command = ["uv", "run", "--project", str(REPO), "spanbase", "serve", "--port", str(port)]
    return launch("spanbase", command, env, workdir, REPO, f"http://127.0.0.1:{port}")


def ensure_phoenix(venv: Path) -> str:
    """Create ``venv`` with arize-phoenix if it has none; return the installed version."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "phoenix").exists():
        print(f"installing arize-phoenix into {venv} (once) ...", flush=True)
        t0 = time.perf_counter()
        if not python.exists():
            subprocess.run(["uv", "venv", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(["uv", "pip", "install", "--python", str(python), "arize-phoenix"], check=True)
        print(f"installed in {time.perf_counter() - t0:.0f} s")
    version = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('arize-phoenix'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return version.stdout.strip()


def start_phoenix(venv: Path, workdir: Path) -> Server:
    port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    env.update(
        PHOENIX_WORKING_DIR=str(workdir),  # its SQLite file, phoenix.db, goes here
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",  # no internet here: nothing to wait for
    )
    return launch(
        "Phoenix", [str(venv / "bin" / "phoenix"), "serve"], env, workdir, workdir, f"http://127.0.0.1:{port}"
    )


def phoenix_db_spans(workdir: Path) -> int | None:
    """Spans in Phoenix's SQLite file, read directly once it has stopped."""
    path = workdir / "phoenix.db"
    if not path.exists():
        return None
    with sqlite3.connect(path) as conn:
        return int(conn.execute("select count(*) from spans").fetchone()[0])


# --------------------------------------------------------------------------- a system's run


@dataclass
class SystemRun:
    name: str
    spans: int
    result: LoadResult | None = None
    readback: Readback = field(default_factory=Readback)
    watch: ServerWatch | None = None
    server_cpu_total: float | None = None  # from the first send to the end of the read-back
    notes: list[str] = field(default_factory=list)
    error: str | None = None


async def measure(
    run: SystemRun,
    url: str,
    api_key: str,
    bodies: list[Body],
    store: Store,
    args: argparse.Namespace,
) -> None:
    """Send the bodies, then read back; the server's RSS is sampled and its CPU read all along."""
    sampling = asyncio.Event()
    sampler = asyncio.create_task(run.watch.run(sampling)) if run.watch else None
    try:
        run.readback.before = await store.count()
        server0 = tree_cpu(run.watch)
        posters = [OtlpPoster(url, api_key, args.timeout) for _ in range(args.concurrency)]
        print(f"[{run.name}] sending {run.spans:,} spans in {len(bodies):,} requests to {url}{OTLP_PATH}", flush=True)
        run.result = await send_all(bodies, posters, run.watch, args)
        print(f"[{run.name}] reading back (every {store.poll_interval} s)", flush=True)
        await read_back(store, run.result, run.readback, args)
        if run.watch:
            run.server_cpu_total = tree_cpu(run.watch) - server0
    finally:
        sampling.set()
        if sampler:
            await sampler
        await store.aclose()


def run_spanbase(bodies: list[Body], window: tuple[datetime, datetime], args: argparse.Namespace) -> SystemRun:
    run = SystemRun("spanbase", sum(body.spans for body in bodies))
    server: Server | None = None
    url, api_key = args.url, args.api_key
    try:
        if url is None:
            workdir = Path(tempfile.mkdtemp(prefix="sb-otlp-"))
            server = start_spanbase(workdir)
            server.wait_ready("/health", 120.0)
            url, api_key = server.url, BENCH_KEY
            run.notes.append(f"started: {' '.join(server.process.args)} (ready in {server.ready_s:.1f} s)")  # type: ignore[arg-type]
            settings = {k: v for k, v in os.environ.items() if k.startswith("SPANBASE_")}
            run.notes.append(f"data dir {workdir / 'data'} (SQLite); SPANBASE_* from this shell: {settings or 'none'}")
        else:
            run.notes.append(f"a running server: {url}")
        run.watch = server.watch() if server else resolve_server(argparse.Namespace(server_pid=None, url=url))
        store = SpanbaseStore(url, api_key, *window)
        asyncio.run(measure(run, url, api_key, bodies, store, args))
    except Exception as exc:  # a failed system is reported, and the other still runs
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        if server:
            if run.watch:
                run.watch.sample()
            server.stop()
            _tidy(run, server, args.keep)
    return run


def run_phoenix(bodies: list[Body], args: argparse.Namespace) -> SystemRun:
    run = SystemRun("Phoenix", sum(body.spans for body in bodies))
    server: Server | None = None
    workdir = Path(tempfile.mkdtemp(prefix="phoenix-otlp-"))
    try:
        version = ensure_phoenix(args.phoenix_venv)
        server = start_phoenix(args.phoenix_venv, workdir)
        server.wait_ready("/healthz", 300.0)
        run.notes.append(
            f"arize-phoenix {version}: {args.phoenix_venv}/bin/phoenix serve, working dir {workdir} (its default"
            f" SQLite), ready in {server.ready_s:.1f} s"
        )
        run.watch = server.watch()
        asyncio.run(measure(run, server.url, "", bodies, PhoenixStore(server.url), args))
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        if server:
            if run.watch:
                run.watch.sample()
            server.stop()
            in_file = phoenix_db_spans(workdir)
            if in_file is not None:
                run.notes.append(f"spans in phoenix.db after it stopped: {in_file:,}")
            _tidy(run, server, args.keep)
    return run


def _tidy(run: SystemRun, server: Server, keep: bool) -> None:
    errors = [line for line in server.log.read_text(errors="replace").splitlines() if LOG_ERROR.search(line)]
    if errors:
        run.notes.append(f"{len(errors):,} ERROR/Traceback lines in its log, the first: {errors[0][:200]}")
    if keep or run.error:
        print(f"[{server.name}] kept {server.workdir} (log: {server.log})")
    else:
        shutil.rmtree(server.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- report


def _line(label: str, *cells: str) -> None:
    print(f"{label:<30}" + "".join(f"{cell:>28}" for cell in cells))


def _rate(count: float, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


@dataclass
class Figures:
    """One system's figures, as printed."""

    acked_rate: float | None = None
    stored_rate: float | None = None
    cells: dict[str, str] = field(default_factory=dict)


def figures(run: SystemRun) -> Figures:
    out = Figures()
    result, readback = run.result, run.readback
    if result is None:
        out.cells = {"spans sent": "n/a"}
        return out
    stats, acks = result.stats, result.acks
    refused = acks.refused_http + stats.row_errors + stats.abandoned_spans
    out.acked_rate = _rate(stats.spans_acked, result.elapsed)
    lat = sorted(stats.latencies)
    stored_s = readback.stored_at - acks.first_send if readback.stored_at else None
    out.stored_rate = _rate(readback.stored or 0, stored_s)
    delay = readback.readable_at - acks.last_ack if readback.readable_at else None
    asked = readback.readable_asked - acks.last_ack if readback.readable_asked else None
    cells = out.cells
    cells["spans sent"] = f"{stats.spans_sent:,}"
    cells["acknowledged (2xx)"] = f"{stats.spans_acked:,}"
    cells["refused"] = f"{refused:,}"
    cells["  4xx/5xx answers"] = f"{acks.refused_http:,}"
    cells["  rejected in 200 (partial)"] = f"{stats.row_errors:,}"
    cells["  still 429/503 after retries"] = f"{stats.abandoned_spans:,}"
    cells["lost (no answer)"] = f"{acks.lost:,}"
    cells["429/503 answers (retried)"] = f"{stats.throttled:,} ({acks.retried_spans:,} spans)"
    cells["requests"] = f"{stats.requests:,}"
    cells["elapsed (first send-last ack)"] = f"{result.elapsed:,.1f} s"
    cells["acked spans/s"] = f"{out.acked_rate:,.0f}" if out.acked_rate else "n/a"
    cells["request latency p50/p99"] = f"{percentile(lat, 50) * 1e3:,.0f} / {percentile(lat, 99) * 1e3:,.0f} ms"
    cells["stored spans"] = f"{readback.stored:,}" if readback.stored is not None else "n/a"
    if readback.stored is not None:
        cells["acked but not stored"] = f"{max(0, stats.spans_acked - readback.stored):,}"
    cells["all stored after"] = f"{stored_s:,.1f} s" if stored_s else "n/a"
    cells["stored spans/s"] = f"{out.stored_rate:,.0f}" if out.stored_rate else "n/a"
    cells["last acked span readable"] = f"+{delay:,.2f} s after its ack" if delay is not None else "never"
    if asked is not None and delay is not None:
        cells["  (the read that found it)"] = f"sent +{asked:,.2f} s, took {delay - asked:,.2f} s"
    cells["read-back polls"] = f"{readback.polls:,}"
    if result.server_cpu is not None and run.watch:
        cells["server CPU while sending"] = (
            f"{result.server_cpu:,.1f} s ({result.server_cpu / result.elapsed:.0%} of a core)"
        )
        if run.server_cpu_total is not None:
            cells["server CPU until read back"] = f"{run.server_cpu_total:,.1f} s"
        cells["server RSS before/peak"] = f"{run.watch.first_kb / 1024:,.0f} / {run.watch.peak_kb / 1024:,.0f} MiB"
    else:
        cells["server CPU while sending"] = "n/a"
    cells["load generator CPU"] = f"{result.client_cpu:,.1f} s"
    return out


def report(runs: list[SystemRun]) -> None:
    table = [figures(run) for run in runs]
    print()
    _line("", *(run.name for run in runs))
    labels = list(dict.fromkeys(label for fig in table for label in fig.cells))
    for label in labels:
        _line(label, *(fig.cells.get(label, "") for fig in table))
    for run in runs:
        for note in run.notes + run.readback.notes:
            print(f"  {run.name}: {note}")
        if run.error:
            print(f"  {run.name}: FAILED: {run.error}")
        if run.result:
            for text, count in run.result.stats.samples.items():
                print(f"  {run.name}: {count:,} x {text}")
    if len(table) == 2:
        print()
        for label, attr in (("acked spans/s", "acked_rate"), ("stored spans/s", "stored_rate")):
            ours, theirs = getattr(table[0], attr), getattr(table[1], attr)
            ratio = f"{ours / theirs:,.1f}x" if ours and theirs else "n/a"
            print(f"ratio spanbase/Phoenix, {label}: {ratio}")
    if runs[0].name == "spanbase":
        rate = table[0].acked_rate
        met = "n/a" if rate is None else ("yes" if rate >= TARGET else "NO")
        print(f"target: >= {TARGET:,} acknowledged spans/s into spanbase on SQLite: {met}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running spanbase (default: start one on a throw-away data dir)")
    parser.add_argument(
        "--api-key", default=os.environ.get("SPANBASE_API_KEY"), help="with --url (or env SPANBASE_API_KEY)"
    )
    parser.add_argument("--spans", type=int, default=200_000, help="spans sent to spanbase (default 200,000)")
    parser.add_argument("--phoenix-spans", type=int, default=20_000, help="spans sent to Phoenix (default 20,000)")
    parser.add_argument("--skip-phoenix", action="store_true", help="measure spanbase only")
    parser.add_argument("--skip-spanbase", action="store_true", help="measure Phoenix only")
    parser.add_argument("--phoenix-venv", type=Path, default=DEFAULT_VENV, help="its virtual env (made if missing)")
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--batch-size", type=int, default=500, help="spans per request (default 500)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (same seed, same ids)")
    parser.add_argument("--max-retries", type=int, default=300, help="429/503 retries per request (default 300)")
    parser.add_argument("--duration", type=float, default=1800.0, help="stop starting requests after S s")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in s")
    parser.add_argument("--readback-timeout", type=float, default=600.0, help="stop polling the store after S s")
    parser.add_argument("--stall", type=float, default=30.0, help="the count is final when flat for S s")
    parser.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    parser.add_argument("--keep", action="store_true", help="keep the servers' working dirs and logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.url and not args.api_key:
        print("--url needs --api-key (or env SPANBASE_API_KEY)", file=sys.stderr)
        return 2
    _use_uvloop()
    for line in machine_lines():
        print(line)
    print(f"client:  raw asyncio streams, {_loop_name()} event loop, {args.concurrency} keep-alive connections")
    total = max(0 if args.skip_spanbase else args.spans, 0 if args.skip_phoenix else args.phoenix_spans)
    t0, cpu0 = time.perf_counter(), time.process_time()
    bodies = make_bodies(args.seed, total, args.batch_size)
    gen_s, gen_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    size = sum(len(body.data) for body in bodies)
    first, _ = span_times(bodies[0])
    print(
        f"made:    {total:,} spans in {len(bodies):,} requests, {size / total:,.0f} bytes a span, seed {args.seed}:"
        f" {gen_s:.1f} s ({gen_cpu / total * 1e6:.0f} us CPU a span), before the clocks start"
    )
    # Generated times end now, so a window from the first span to an hour ahead holds them all.
    window = (datetime.fromtimestamp(first / 1e9, UTC) - timedelta(minutes=1), datetime.now(UTC) + timedelta(hours=1))

    def prefix(spans: int) -> list[Body]:
        return bodies[: -(-spans // args.batch_size)]

    runs = [] if args.skip_spanbase else [run_spanbase(prefix(args.spans), window, args)]
    if not args.skip_phoenix:
        runs.append(run_phoenix(prefix(args.phoenix_spans), args))
    print(f"load:    {os.getloadavg()[0]:.2f} (1-min load average at the end)")
    report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
