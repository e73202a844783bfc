"""Ingest benchmark: POST generated spans to a running spanbase server, print what it sustained.

Sends ``--spans`` spans as ``--batch-size``-span bulk requests (``POST /api/request-logs/bulk/``)
from ``--concurrency`` clients over keep-alive connections, while sampling the server's memory
from /proc. Figures are printed, never asserted: this is a measurement, not a test.

    uv run python bench/ingest.py --api-key KEY --spans 1000000 --concurrency 16

The load generator shares the machine with the server, so it is kept lean: one process, one
uvloop event loop, request bodies generated inline (bench/spangen.py, ~15 us of CPU per span) and
sent by a minimal HTTP/1.1 client, one keep-alive connection per concurrent client (``--client
httpx`` for comparison). Its own CPU time is printed so that its share can be accounted for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from spangen import build_pools, iter_bodies

BULK_PATH = "/api/request-logs/bulk/"
THROTTLE_STATUSES = (429, 503)
MAX_RETRY_AFTER_S = 30.0  # never trust a server to park us longer than this per attempt
MAX_CONSECUTIVE_FAILURES = 20  # a dead server should end the run, not spin through every batch
RSS_INTERVAL_S = 0.5
TREE_EVERY_SAMPLES = 8  # re-find the server's child processes every 4 s


# --------------------------------------------------------------------------- /proc helpers


def _read(path: str) -> str | None:
    # Processes come and go while we look (uvicorn workers, children): treat vanished as absent.
    try:
        return Path(path).read_text()
    except OSError:
        return None


def listening_inodes(port: int) -> set[str]:
    """Socket inodes in LISTEN state (0A) on ``port``, from /proc/net/tcp and tcp6."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in (_read(table) or "").splitlines()[1:]:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _holds_socket(pid: int, targets: set[str]) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) in targets:
                return True
        except OSError:
            continue
    return False


def parent_pid(pid: int) -> int | None:
    stat = _read(f"/proc/{pid}/stat")
    # The command name (field 2) may hold spaces and parentheses: split after its closing ')'.
    return int(stat.rsplit(")", 1)[1].split()[1]) if stat else None


def find_listening_pid(port: int) -> int | None:
    """The process listening on ``port``; with a pre-fork server (workers share the socket), the
    topmost holder, whose descendants then count too."""
    targets = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    if not targets:
        return None
    holders = {pid for pid in _pids() if pid != os.getpid() and _holds_socket(pid, targets)}
    tops = sorted(pid for pid in holders if parent_pid(pid) not in holders)
    return tops[0] if tops else None


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for other in _pids():
        ppid = parent_pid(other)
        if ppid is not None:
            children.setdefault(ppid, []).append(other)
    tree: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def status_kb(pid: int, key: str) -> int:
    """A ``VmRSS``-style field of /proc/<pid>/status in kB (0 if the process is gone)."""
    for line in (_read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and of its reaped children so far (fields 14-17 of stat)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass
class ServerWatch:
    """Samples the RSS (summed over the server's process tree) and its CPU time."""

    pid: int
    first_kb: int = 0
    peak_kb: int = 0
    last_kb: int = 0
    samples: int = 0
    tree: list[int] = field(default_factory=list)

    def sample(self) -> int:
        # Re-walk the tree now and then, as workers may be spawned or replaced during the run;
        # every time would cost ~3 ms of /proc reading per sample.
        if self.samples % TREE_EVERY_SAMPLES == 0:
            self.tree = process_tree(self.pid)
        self.last_kb = sum(status_kb(pid, "VmRSS") for pid in self.tree)
        self.first_kb = self.first_kb or self.last_kb
        self.peak_kb = max(self.peak_kb, self.last_kb)
        self.samples += 1
        return self.last_kb

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.tree or [self.pid])

    def hwm_kb(self) -> int:
        return sum(status_kb(pid, "VmHWM") for pid in self.tree)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RSS_INTERVAL_S)


# --------------------------------------------------------------------------- machine


def machine_lines() -> list[str]:
    cpuinfo = _read("/proc/cpuinfo") or ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "?")
    meminfo = _read("/proc/meminfo") or ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    usable = len(os.sched_getaffinity(0))
    return [
        f"cpu:     {model}, {os.cpu_count()} cores ({usable} usable here)",
        f"memory:  {mem_kb / 2**20:.1f} GiB",
        f"load:    {os.getloadavg()[0]:.2f} (1-min load average before the run: other work skews figures)",
        f"python:  {platform.python_implementation()} {platform.python_version()} on {platform.platform()}",
    ]


def _loop_name() -> str:
    return type(asyncio.get_event_loop_policy()).__module__.split(".")[0]


# --------------------------------------------------------------------------- HTTP clients


class Reply(NamedTuple):
    status: int
    retry_after: str | None
    body: bytes


class TransportError(Exception):
    """The request got no HTTP answer: refused, reset, timed out, or a malformed response."""


class Poster(Protocol):
    """Sends one bulk request; one per worker, each over its own keep-alive connection."""

    async def post(self, body: bytes) -> Reply: ...

    async def aclose(self) -> None: ...


class RawPoster:
    """A minimal HTTP/1.1 client over one keep-alive asyncio stream, for one endpoint.

    httpx costs ~2 ms of CPU more per 2.4 MB request here (2.7 vs 0.6 ms, measured with uvloop
    against a stand-in server), i.e. ~4 us per span: a quarter of the load generator's own cost.
    This only writes a fixed request head and reads status, headers and a sized or chunked body.
    """

    def __init__(self, url: str, api_key: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._tls = parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self._timeout = timeout
        path = (parts.path.rstrip("/") + BULK_PATH).encode()
        self._head = (
            b"POST " + path + b" HTTP/1.1\r\nHost: " + parts.netloc.encode() + b"\r\n"
            b"Authorization: Bearer " + api_key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
        )
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> Reply:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._post_once(body)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.aclose()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def _post_once(self, body: bytes) -> Reply:
        reused = self._conn is not None
        reader, writer = await self._connect()
        try:
            # Two writes, not writelines(): that joins (copies) the 2.4 MB body first.
            writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n")
            writer.write(body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            # The server closed an idle keep-alive connection (e.g. while we slept on a 429):
            # nothing was processed, so send again once on a fresh connection.
            await self.aclose()
            return await self._post_once(body)
        status, headers = _parse_head(head)
        payload = await _read_body(reader, headers)
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return Reply(status, headers.get("retry-after"), payload)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._conn is None:
            self._conn = await asyncio.open_connection(self._host, self._port, ssl=self._tls or None)
        return self._conn

    async def aclose(self) -> None:
        if self._conn is not None:
            writer = self._conn[1]
            self._conn = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = lines[0].split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x response: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer section
        return b"".join(chunks)
    return await reader.read()  # delimited by the end of the connection


class HttpxPoster:
    """The same over a shared httpx.AsyncClient pool (``--client httpx``, for comparison)."""

    def __init__(self, client: httpx.AsyncClient, api_key: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    async def post(self, body: bytes) -> Reply:
        try:
            response = await self._client.post(BULK_PATH, content=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return Reply(response.status_code, response.headers.get("retry-after"), response.content)

    async def aclose(self) -> None:
        pass  # the shared client is closed by its owner


# --------------------------------------------------------------------------- load


@dataclass
class Stats:
    spans_sent: int = 0  # spans in batches posted at least once
    spans_acked: int = 0  # sum of success_count
    row_errors: int = 0  # sum of error_count
    http_errors: int = 0  # other statuses and transport failures; their spans are lost
    throttled: int = 0  # 429/503 answers, retried after Retry-After
    abandoned_spans: int = 0  # throttled batches given up when the run ended (--duration, abort)
    requests: int = 0
    consecutive_failures: int = 0
    aborted: str | None = None
    latencies: list[float] = field(default_factory=list)  # seconds, accepted requests only
    samples: dict[str, int] = field(default_factory=dict)  # distinct error descriptions, counted

    def note(self, text: str) -> None:
        if text in self.samples or len(self.samples) < 5:
            self.samples[text] = self.samples.get(text, 0) + 1


@dataclass
class Load:
    bodies: Iterator[tuple[int, bytes]]
    deadline: float  # time.monotonic() after which no new batch is started
    stats: Stats
    stop: asyncio.Event


def retry_after_s(value: str | None) -> float:
    """Retry-After as seconds: a number, or an HTTP date; 1 s if absent or unreadable."""
    if not value:
        return 1.0
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 1.0
    return min(MAX_RETRY_AFTER_S, max(0.0, when - time.time()))


def _count_ack(load: Load, reply: Reply, elapsed: float) -> None:
    stats = load.stats
    try:
        answer = orjson.loads(reply.body)
        stats.spans_acked += int(answer.get("success_count", 0))
        stats.row_errors += int(answer.get("error_count", 0))
        if answer.get("errors"):
            stats.note(f"row errors: {orjson.dumps(answer['errors'][:2]).decode()[:300]}")
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        _count_failure(load, f"HTTP {reply.status} with unreadable body: {reply.body[:200]!r}")
        return
    stats.latencies.append(elapsed)
    stats.consecutive_failures = 0


def _count_failure(load: Load, text: str) -> None:
    stats = load.stats
    stats.http_errors += 1
    stats.consecutive_failures += 1
    stats.note(text)
    if stats.consecutive_failures >= MAX_CONSECUTIVE_FAILURES and not load.stop.is_set():
        stats.aborted = f"stopped early: {MAX_CONSECUTIVE_FAILURES} requests failed in a row"
        load.stop.set()


async def send_batch(load: Load, poster: Poster, count: int, body: bytes) -> None:
    """POST one batch, retrying it for as long as the server says its queue is full."""
    stats = load.stats
    stats.spans_sent += count
    while not load.stop.is_set():
        started = time.perf_counter()
        try:
            reply = await poster.post(body)
        except TransportError as exc:
            _count_failure(load, str(exc))
            return
        elapsed = time.perf_counter() - started
        stats.requests += 1
        if 200 <= reply.status < 300:
            _count_ack(load, reply, elapsed)
            return
        if reply.status not in THROTTLE_STATUSES:
            _count_failure(load, f"HTTP {reply.status}: {reply.body[:200]!r}")
            return
        stats.throttled += 1
        delay = retry_after_s(reply.retry_after)
        if time.monotonic() + delay > load.deadline:
            break
        await asyncio.sleep(delay)
    stats.abandoned_spans += count


async def worker(load: Load, poster: Poster) -> None:
    # All workers share one body iterator: next() is synchronous, so this is safe in one loop.
    # Bodies are generated here, inline, while the other workers' requests are in flight.
    try:
        while not load.stop.is_set() and time.monotonic() < load.deadline:
            item = next(load.bodies, None)
            if item is None:
                return
            await send_batch(load, poster, *item)
    finally:
        await poster.aclose()


async def progress(load: Load, watch: ServerWatch | None, interval: float, t0: float) -> None:
    last_t, last_acked = t0, 0
    while True:
        await asyncio.sleep(interval)
        now, stats = time.perf_counter(), load.stats
        rate_all = stats.spans_acked / (now - t0)
        rate_now = (stats.spans_acked - last_acked) / (now - last_t)
        rss = f"  server RSS {watch.last_kb / 1024:,.0f} MiB" if watch else ""
        print(
            f"[{now - t0:7.1f}s] acked {stats.spans_acked:>10,}  {rate_all:>8,.0f} spans/s"
            f" (last {now - last_t:.0f}s: {rate_now:,.0f}/s)  throttled {stats.throttled:,}"
            f"  errors {stats.http_errors:,}{rss}",
            flush=True,
        )
        last_t, last_acked = now, stats.spans_acked


@dataclass
class Outcome:
    stats: Stats
    elapsed: float
    client_user: float  # CPU seconds of this process in user mode (generating, HTTP)
    client_sys: float  # and in the kernel (mostly copying bodies into sockets)
    server_cpu: float | None


async def run(args: argparse.Namespace, api_key: str, watch: ServerWatch | None) -> Outcome:
    if args.client == "httpx":
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        timeout = httpx.Timeout(args.timeout, connect=10.0)
        async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=timeout) as client:
            return await _drive(args, [HttpxPoster(client, api_key) for _ in range(args.concurrency)], watch)
    return await _drive(args, [RawPoster(args.url, api_key, args.timeout) for _ in range(args.concurrency)], watch)


async def _drive(args: argparse.Namespace, posters: list[Poster], watch: ServerWatch | None) -> Outcome:
    load = Load(
        bodies=iter_bodies(args.seed, args.spans, args.batch_size, days=args.days),
        deadline=time.monotonic() + args.duration,
        stats=Stats(),
        stop=asyncio.Event(),
    )
    watch_stop = asyncio.Event()
    sampler = asyncio.create_task(watch.run(watch_stop)) if watch else None
    usage0, server_cpu0 = resource.getrusage(resource.RUSAGE_SELF), watch.cpu() if watch else 0.0
    t0 = time.perf_counter()
    ticker = asyncio.create_task(progress(load, watch, args.progress, t0))
    await asyncio.gather(*(worker(load, poster) for poster in posters))
    elapsed = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = watch.cpu() - server_cpu0 if watch else None
    ticker.cancel()
    if sampler:
        # Keep sampling a little: the server may still be writing what it queued.
        await asyncio.sleep(args.settle)
        watch_stop.set()
        await sampler
    user, sys_ = usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime
    return Outcome(load.stats, elapsed, user, sys_, server_cpu)


# --------------------------------------------------------------------------- report


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _line(label: str, text: str) -> None:
    print(f"{label + ':' if label else '':<20}{text}")


def report(outcome: Outcome, watch: ServerWatch | None) -> None:
    print()
    _report_load(outcome)
    _report_server(outcome, watch)


def _report_load(outcome: Outcome) -> None:
    stats, elapsed = outcome.stats, outcome.elapsed
    lat = sorted(stats.latencies)
    p50, p99, top = (f"{percentile(lat, q) * 1000:,.0f}" for q in (50, 99, 100))
    _line("spans sent", f"{stats.spans_sent:,} in {stats.requests:,} requests")
    _line("spans acknowledged", f"{stats.spans_acked:,} (sum of success_count)")
    _line("errors", f"{stats.row_errors:,} row errors (error_count), {stats.http_errors:,} HTTP/transport errors")
    _line("throttled", f"{stats.throttled:,} answers 429/503, retried after Retry-After")
    if stats.abandoned_spans:
        _line("abandoned", f"{stats.abandoned_spans:,} spans still throttled when the run ended")
    if stats.aborted:
        _line("aborted", stats.aborted)
    _line("elapsed", f"{elapsed:,.1f} s")
    _line("sustained", f"{stats.spans_acked / elapsed:,.0f} spans/s acknowledged")
    _line("request latency", f"p50 {p50} ms, p99 {p99} ms, max {top} ms ({len(lat):,} accepted requests)")
    cpu = outcome.client_user + outcome.client_sys
    per_span = cpu / max(1, stats.spans_sent) * 1e6
    _line(
        "load generator CPU",
        f"{cpu:,.1f} s ({outcome.client_user:,.1f} user + {outcome.client_sys:,.1f} sys, {per_span:.1f} us per span)",
    )
    for text, count in stats.samples.items():
        print(f"  {count:>5,} x {text}")


def _report_server(outcome: Outcome, watch: ServerWatch | None) -> None:
    if watch is None or outcome.server_cpu is None:
        _line("server RSS", "n/a (no server process found on this machine; --server-pid gives one)")
        return
    acked = outcome.stats.spans_acked
    per_k = f", {outcome.server_cpu / acked * 1e6:,.0f} ms per 1k spans" if acked else ""
    share = outcome.server_cpu / outcome.elapsed
    _line("server CPU", f"{outcome.server_cpu:,.1f} s ({share:.0%} of one core{per_k})")
    mib = [f"{kb / 1024:,.0f} MiB" for kb in (watch.first_kb, watch.peak_kb, watch.last_kb, watch.hwm_kb())]
    _line("server RSS", f"before {mib[0]}, peak {mib[1]}, final {mib[2]}; VmHWM at the end {mib[3]}")
    processes = f"pid {watch.pid} and {len(watch.tree) - 1} descendant(s)"
    _line("", f"(VmRSS every {RSS_INTERVAL_S} s, {watch.samples} samples, summed over {processes})")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--api-key", default=os.environ.get("SPANBASE_API_KEY"), help="or env SPANBASE_API_KEY")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to send (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=500, help="spans per request (default 500)")
    # 16 in flight keep the single writer's group commits large (~4,000 spans): fewer, bigger commits.
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--duration", type=float, default=3600.0, help="stop starting batches after S s")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (same seed, same span ids)")
    parser.add_argument("--days", type=float, default=30.0, help="spread span timestamps over D days")
    parser.add_argument("--server-pid", type=int, help="server pid (default: whoever listens on the port)")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in s")
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw", help="HTTP client (default: raw asyncio streams)"
    )
    parser.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="keep sampling server RSS for S s after the last answer"
    )
    return parser.parse_args(argv)


def resolve_server(args: argparse.Namespace) -> ServerWatch | None:
    if args.server_pid:
        return ServerWatch(args.server_pid)
    parts = urlsplit(args.url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return None
    pid = find_listening_pid(parts.port or (443 if parts.scheme == "https" else 80))
    return ServerWatch(pid) if pid else None


def _use_uvloop() -> None:
    # uvloop (installed with uvicorn[standard]) makes the client's per-request overhead smaller.
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.api_key:
        print("an API key is needed: --api-key KEY or env SPANBASE_API_KEY", file=sys.stderr)
        return 2
    _use_uvloop()
    watch = resolve_server(args)
    for line in machine_lines():
        print(line)
    who = f"pid {watch.pid} ({(_read(f'/proc/{watch.pid}/comm') or '?').strip()})" if watch else "not found"
    client = "raw asyncio streams" if args.client == "raw" else f"httpx {httpx.__version__}"
    print(f"client:  {client}, {_loop_name()} event loop, {args.concurrency} keep-alive connections")
    print(f"server:  {args.url}, {who}")
    print(f"send:    {args.spans:,} spans, {args.batch_size} per request, seed {args.seed}")
    build_pools(args.seed)  # before the clock starts: a one-off ~0.3 s
    outcome = asyncio.run(run(args, args.api_key, watch))
    if watch:
        watch.sample()
    report(outcome, watch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
