"""Query benchmark: load generated spans into a running spanbase server, then time the read path.

Loads ``--spans`` spans (bench/spangen.py: 30 days, 2,000 customers; sent the way bench/ingest.py
sends them) and prints the ingest rate, then times each query shape ``--repeat`` times, one request
at a time over one keep-alive connection: a list page filtered by customer over 7 days, a metadata
filter with a time window, a sort by cost, a trace tree, a thread, a 30-day summary, a per-model-per-day
group with percentiles and a summary with a metadata filter, plus a few extras. For each it prints the
client-side HTTP time and the server's own (its ``Server-Timing: app;dur=<ms>`` header, "n/a" without
one), p50/p90/max/min, the target and whether it was met. Figures are printed, never asserted.

    uv run python bench/query.py --api-key KEY --store-label SQLite
    uv run python bench/query.py --api-key KEY --store-label SQLite --skip-load --end 2025-02-01T10:00:00Z

The ids queried (a busy and a rare customer, a trace with several spans, a thread with several spans)
are found through the API, and the counts the server answers are checked against the same spans
regenerated with spangen (``--no-check`` skips that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode, urlsplit

import orjson

from ingest import (
    Load,
    Outcome,
    RawPoster,
    ServerWatch,
    Stats,
    _loop_name,
    _parse_head,
    _read,
    _read_body,
    _use_uvloop,
    machine_lines,
    percentile,
    progress,
    report,
    resolve_server,
    worker,
)
from spangen import build_pools, default_end, iter_bodies, iter_spans

INGEST_TARGET = 10_000  # spans/s acknowledged, with rollups on
PAGE_MS = 20.0  # list, trace, thread and metadata pages: p50
ROLLUP_MS = 100.0  # summaries and groups answered from rollups, 30 days
SCAN_MS = 1000.0  # a summary with a metadata filter over 30 days
DAYS = 30  # what spangen spreads the spans over, and the longest window queried
PAGE_SIZE = 50


# --------------------------------------------------------------------------- HTTP


class Answer(NamedTuple):
    status: int
    body: bytes
    seconds: float  # client side: from writing the request to having read the whole body
    server_ms: float | None  # Server-Timing app;dur, when the server sent one


class Client:
    """One keep-alive HTTP/1.1 connection, one request at a time, any method and path.

    The same minimal client as ingest.py's RawPoster (and its response parsing), so that the time
    measured is the server's and the network's, not an HTTP library's.
    """

    def __init__(self, url: str, api_key: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._tls = parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = f"Host: {parts.netloc}\r\nAuthorization: Bearer {api_key}\r\n".encode()
        self._timeout = timeout
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> Answer:
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n".encode() + self._headers
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
        message = head + b"\r\n" + (body or b"")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(message)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            await self.aclose()
            raise

    async def _send(self, message: bytes) -> Answer:
        reused = self._conn is not None
        if self._conn is None:
            self._conn = await asyncio.open_connection(self._host, self._port, ssl=self._tls or None)
        reader, writer = self._conn
        started = time.perf_counter()
        try:
            writer.write(message)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            await self.aclose()  # the server closed an idle keep-alive connection: once more, afresh
            return await self._send(message)
        status, headers = _parse_head(head)
        payload = await _read_body(reader, headers)
        seconds = time.perf_counter() - started
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return Answer(status, payload, seconds, server_timing(headers.get("server-timing")))

    async def aclose(self) -> None:
        if self._conn is not None:
            writer = self._conn[1]
            self._conn = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def server_timing(value: str | None) -> float | None:
    """The ``dur`` of the ``app`` metric of a Server-Timing header, in ms (None if absent)."""
    for metric in (value or "").split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name != "app":
            continue
        for param in params:
            key, _, number = param.partition("=")
            if key.strip() == "dur":
                with contextlib.suppress(ValueError):
                    return float(number.strip().strip('"'))
    return None


def iso(moment: datetime) -> str:
    """UTC with milliseconds and a Z, as spangen writes timestamps (so that strings compare as times)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def query_string(**params: Any) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v is not None}, safe=":")


def eq_filter(name: str, value: str) -> bytes:
    return orjson.dumps({"filters": {name: {"operator": "", "value": [value]}}})


# --------------------------------------------------------------------------- load


async def load(args: argparse.Namespace, end: datetime, watch: ServerWatch | None) -> Outcome:
    """ingest.py's load generator (its clients, workers and progress lines), on spans ending at ``end``."""
    posters = [RawPoster(args.url, args.api_key, args.timeout) for _ in range(args.concurrency)]
    job = Load(
        bodies=iter_bodies(args.seed, args.spans, args.batch_size, days=DAYS, end=end),
        deadline=time.monotonic() + args.duration,
        stats=Stats(),
        stop=asyncio.Event(),
    )
    usage0, server_cpu0 = resource.getrusage(resource.RUSAGE_SELF), watch.cpu() if watch else 0.0
    watch_stop = asyncio.Event()
    sampler = asyncio.create_task(watch.run(watch_stop)) if watch else None
    t0 = time.perf_counter()
    ticker = asyncio.create_task(progress(job, watch, 5.0, t0))
    await asyncio.gather(*(worker(job, poster) for poster in posters))
    elapsed = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = watch.cpu() - server_cpu0 if watch else None
    ticker.cancel()
    watch_stop.set()
    if sampler:
        await sampler
    user, sys_ = usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime
    return Outcome(job.stats, elapsed, user, sys_, server_cpu)


# --------------------------------------------------------------------------- picking ids


@dataclass
class Picks:
    busy: str | None = None
    rare: str | None = None
    trace: str | None = None
    thread: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # shapes not run, for want of an id


async def _json(client: Client, method: str, path: str, body: bytes | None = None) -> Any:
    answer = await client.request(method, path, body)
    if not 200 <= answer.status < 300:
        raise RuntimeError(f"{method} {path} -> HTTP {answer.status}: {answer.body[:300]!r}")
    return orjson.loads(answer.body)


async def pick(client: Client, end: datetime) -> Picks:
    """Real ids from the store: the busiest and the rarest customer of the last 7 days (a group by
    customer), the trace of the last 7 days with the most spans, and the biggest thread of 10-50 spans."""
    picks = Picks()
    week = {"start_time": iso(end - timedelta(days=7)), "end_time": iso(end)}
    groups = "/api/request-logs/groups/"
    for attr, order in (("busy", "-number_of_requests"), ("rare", "number_of_requests")):
        path = groups + query_string(group_by="customer_identifier", sort_by=order, page_size=1, **week)
        with _noted(picks, f"{attr} customer"):
            rows = (await _json(client, "POST", path, b"{}"))["results"]
            if rows:
                setattr(picks, attr, rows[0]["customer_identifier"])
                picks.notes.append(f"{attr} customer: {rows[0]['customer_identifier']}, spans in 7 days: {_n(rows[0])}")
    with _noted(picks, "trace"):
        path = "/api/traces/list/" + query_string(sort_by="-span_count", page_size=1, **week)
        rows = (await _json(client, "POST", path, b"{}"))["results"]
        if rows:
            picks.trace = rows[0]["trace_unique_id"]
            picks.notes.append(f"trace: {picks.trace}, {rows[0]['span_count']} spans (the most in 7 days)")
    with _noted(picks, "thread"):
        size = [{"operator": "gte", "value": [10]}, {"operator": "lte", "value": [50]}]
        body = orjson.dumps({"filters": {"number_of_requests": size}})
        path = "/api/log_threads/" + query_string(sort_by="-number_of_requests", page_size=1)
        rows = (await _json(client, "POST", path, body))["results"]
        if not rows:  # a small store: any thread, the biggest
            rows = (await _json(client, "POST", path, b"{}"))["results"]
        if rows:
            picks.thread = rows[0]["thread_identifier"]
            picks.notes.append(f"thread: {picks.thread}, {_n(rows[0])} spans (the biggest of 10-50 spans)")
    return picks


def _n(row: dict[str, Any]) -> str:
    n = row.get("number_of_requests")
    return f"{n:,}" if isinstance(n, int) else "?"


@contextlib.contextmanager
def _noted(picks: Picks, what: str) -> Iterator[None]:
    try:
        yield
    except (RuntimeError, OSError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        picks.notes.append(f"{what}: not found ({type(exc).__name__}: {exc})")


async def discover_end(client: Client) -> datetime:
    """The end of the loaded data: the hour after the newest span (spangen's end is on the hour)."""
    now = datetime.now(UTC)
    path = "/api/request-logs/list/" + query_string(
        start_time="1970-01-01T00:00:00Z",
        end_time=iso(now + timedelta(days=1)),
        sort_by="-timestamp",
        page_size=1,
        include_fields="timestamp",
    )
    rows = (await _json(client, "POST", path, b"{}"))["results"]
    if not rows:
        raise RuntimeError("the store holds no spans: load some first (leave out --skip-load)")
    newest = datetime.fromisoformat(rows[0]["timestamp"].replace("Z", "+00:00"))
    return newest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


# --------------------------------------------------------------------------- query shapes

Figures = dict[str, int]


@dataclass
class Shape:
    label: str
    method: str
    path: str
    body: bytes | None
    target_ms: float | None  # None: an extra, timed without a target
    figures: Callable[[Any], Figures]  # what the answer matched, from its JSON
    primary: str  # the figure checked against spangen
    expected: Figures = field(default_factory=dict)


def _list_figures(data: Any) -> Figures:
    return {"count": data["count"], "rows": len(data["results"])}


def _groups_figures(data: Any) -> Figures:
    return {"groups": data["count"], "spans in the page": sum(row["number_of_requests"] for row in data["results"])}


def _summary_figures(data: Any) -> Figures:
    return {"requests": data["number_of_requests"]}


def _trace_figures(data: Any) -> Figures:
    def nodes(tree: list[dict[str, Any]]) -> int:
        return sum(1 + nodes(node.get("children") or []) for node in tree)

    return {"span_count": data["span_count"], "tree nodes": nodes(data["span_tree"])}


def _thread_figures(data: Any) -> Figures:
    return {"requests": data["number_of_requests"], "spans": len(data["spans"])}


def shapes(end: datetime, picks: Picks) -> list[Shape]:
    hour = {"start_time": iso(end - timedelta(hours=1)), "end_time": iso(end)}
    week = {"start_time": iso(end - timedelta(days=7)), "end_time": iso(end)}
    month = {"start_time": iso(end - timedelta(days=DAYS)), "end_time": iso(end)}
    spans_list = "/api/request-logs/list/"
    page_week = query_string(page_size=PAGE_SIZE, **week)
    out: list[Shape] = []
    for who, customer in (("busy", picks.busy), ("rare", picks.rare)):
        label = f"list: customer, 7 d ({who})"
        if customer:
            body = eq_filter("customer_identifier", customer)
            out.append(Shape(label, "POST", spans_list + page_week, body, PAGE_MS, _list_figures, "count"))
        else:
            picks.skipped.append(f"{label} (no {who} customer found)")
    out += [
        Shape(
            "list: metadata plan, 7 d",
            "POST",
            spans_list + page_week,
            eq_filter("metadata__plan", "enterprise"),
            PAGE_MS,
            _list_figures,
            "count",
        ),
        Shape(
            "list: sort by -cost, 7 d",
            "POST",
            spans_list + query_string(sort_by="-cost", page_size=PAGE_SIZE, **week),
            b"{}",
            PAGE_MS,
            _list_figures,
            "count",
        ),
    ]
    if picks.trace:
        path = f"/api/traces/{quote(picks.trace, safe='')}/"
        out.append(Shape("trace tree", "GET", path, None, PAGE_MS, _trace_figures, "span_count"))
    else:
        picks.skipped.append("trace tree (no trace found)")
    if picks.thread:
        path = f"/api/threads/{quote(picks.thread, safe='')}/"
        out.append(Shape("thread", "GET", path, None, PAGE_MS, _thread_figures, "requests"))
    else:
        picks.skipped.append("thread (no thread found)")
    summary = "/api/request-logs/summary/" + query_string(**month)
    groups = "/api/request-logs/groups/"
    out += [
        Shape("summary, 30 d", "POST", summary, b"{}", ROLLUP_MS, _summary_figures, "requests"),
        Shape(
            "groups: model x day, 30 d",
            "POST",
            groups + query_string(group_by="model", date_group="day", page_size=1000, **month),
            b"{}",
            ROLLUP_MS,
            _groups_figures,
            "groups",
        ),
        Shape(
            "summary: metadata feature, 30 d",
            "POST",
            summary,
            eq_filter("metadata__feature", "search"),
            SCAN_MS,
            _summary_figures,
            "requests",
        ),
        # Extras: timed, no target.
        Shape(
            "extra: list, no filter, 1 h",
            "POST",
            spans_list + query_string(page_size=PAGE_SIZE, **hour),
            b"{}",
            None,
            _list_figures,
            "count",
        ),
        Shape(
            "extra: traces list, 7 d",
            "POST",
            "/api/traces/list/" + page_week,
            b"{}",
            None,
            _list_figures,
            "count",
        ),
        Shape(
            "extra: customers list",
            "POST",
            "/api/users/list/" + query_string(page_size=PAGE_SIZE),
            b"{}",
            None,
            _list_figures,
            "count",
        ),
        Shape(
            "extra: groups: customer, 30 d",
            "POST",
            groups + query_string(group_by="customer_identifier", page_size=1000, **month),
            b"{}",
            None,
            _groups_figures,
            "groups",
        ),
    ]
    return out


# --------------------------------------------------------------------------- expected counts


def expected_counts(args: argparse.Namespace, end: datetime, picks: Picks, todo: list[Shape]) -> float:
    """Regenerate the spans sent (same seed, count and end) and count what each shape should match.

    Returns the seconds it took. Windows are closed (start <= timestamp <= end), as the server's are.
    """
    t0 = time.perf_counter()
    e = iso(end)
    h1, d7, d30 = (iso(end - delta) for delta in (timedelta(hours=1), timedelta(days=7), timedelta(days=DAYS)))
    n1h = n7 = n30 = plan7 = search30 = traces7 = trace_n = thread_n = 0
    customers7: Counter[str] = Counter()
    customers30: set[str] = set()
    customers_all: set[str] = set()
    model_days: set[tuple[str, str]] = set()
    previous_trace = None
    for span in iter_spans(args.seed, args.spans, days=DAYS, end=end):
        ts, customer, trace = span["timestamp"], span["customer_identifier"], span["trace_unique_id"]
        customers_all.add(customer)
        if trace != previous_trace:  # a trace's first span is its root, which starts first
            previous_trace = trace
            traces7 += d7 <= span["start_time"] <= e
        trace_n += trace == picks.trace
        thread_n += span.get("thread_identifier") == picks.thread
        if not d30 <= ts <= e:
            continue
        n30 += 1
        customers30.add(customer)
        model_days.add((span["model"], ts[:10]))
        search30 += span["metadata"]["feature"] == "search"
        if ts >= d7:
            n7 += 1
            customers7[customer] += 1
            plan7 += span["metadata"]["plan"] == "enterprise"
            n1h += ts >= h1
    by_label = {
        "list: customer, 7 d (busy)": customers7[picks.busy or ""],
        "list: customer, 7 d (rare)": customers7[picks.rare or ""],
        "list: metadata plan, 7 d": plan7,
        "list: sort by -cost, 7 d": n7,
        "trace tree": trace_n,
        "thread": thread_n,
        "summary, 30 d": n30,
        "groups: model x day, 30 d": len(model_days),
        "summary: metadata feature, 30 d": search30,
        "extra: list, no filter, 1 h": n1h,
        "extra: traces list, 7 d": traces7,
        "extra: customers list": len(customers_all),
        "extra: groups: customer, 30 d": len(customers30),
    }
    for shape in todo:
        if shape.label in by_label:
            shape.expected[shape.primary] = by_label[shape.label]
    if customers7:
        (busiest, n), *_ = customers7.most_common(1)
        picks.notes.append(f"spangen's busiest customer of the 7 days: {busiest}, {n:,} spans")
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- timing


@dataclass
class Result:
    shape: Shape
    first: Answer | None = None
    http_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # only answers that carried Server-Timing
    server_cpu_ms: float | None = None  # per request, the server's process tree
    figures: Figures = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


async def time_shape(client: Client, shape: Shape, repeat: int, watch: ServerWatch | None) -> Result:
    """Send the shape once (its figures, and a first, colder time), then ``repeat`` times, timed."""
    result = Result(shape)
    cpu0 = watch.cpu() if watch else 0.0
    sent = 0
    try:
        result.first = await client.request(shape.method, shape.path, shape.body)
        sent += 1
        result.figures = _figures_of(result, result.first)
        for _ in range(repeat):
            answer = await client.request(shape.method, shape.path, shape.body)
            sent += 1
            if answer.status != result.first.status:
                result.problems.append(f"HTTP {answer.status} on a repeat (first was {result.first.status})")
            result.http_ms.append(answer.seconds * 1000)
            if answer.server_ms is not None:
                result.server_ms.append(answer.server_ms)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        result.problems.append(f"transport error after {sent} request(s): {type(exc).__name__}: {exc}")
    if watch and sent:
        result.server_cpu_ms = (watch.cpu() - cpu0) / sent * 1000
    return result


def _figures_of(result: Result, answer: Answer) -> Figures:
    if not 200 <= answer.status < 300:
        result.problems.append(f"HTTP {answer.status}: {answer.body[:500].decode('utf-8', 'replace')}")
        return {}
    try:
        figures = result.shape.figures(orjson.loads(answer.body))
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        result.problems.append(f"unexpected answer ({type(exc).__name__}: {exc}): {answer.body[:300]!r}")
        return {}
    for name, want in result.shape.expected.items():
        if figures.get(name) != want:
            result.problems.append(f"{name} {figures.get(name)}, but spangen counts {want:,}")
    return figures


# --------------------------------------------------------------------------- report


def _ms(values: list[float]) -> list[str]:
    if not values:
        return ["n/a"] * 4
    ordered = sorted(values)
    return [f"{percentile(ordered, q):.1f}" for q in (50, 90, 100)] + [f"{ordered[0]:.1f}"]


def met(result: Result) -> str:
    target = result.shape.target_ms
    if target is None:
        return "(extra)"
    if result.problems or not result.http_ms:
        return "NO (see below)"
    p50 = percentile(sorted(result.http_ms), 50)
    return "yes" if p50 <= target else "NO"


def print_table(results: list[Result], repeat: int) -> None:
    print(f"{'':33}{'':>8}  {'HTTP ms, client side':^27}  {'server ms (Server-Timing)':^27}  {'srv CPU':>7}")
    head = ("query", "first", "p50", "p90", "max", "min", "p50", "p90", "max", "min", "ms/req", "target", "met")
    print(f"{head[0]:<33}{head[1]:>8}  " + "".join(f"{h:>7}" for h in head[2:11]) + f"  {head[11]:<14}{head[12]}")
    for r in results:
        first = f"{r.first.seconds * 1000:.1f}" if r.first else "-"
        cpu = f"{r.server_cpu_ms:.1f}" if r.server_cpu_ms is not None else "n/a"
        target = f"p50 <= {r.shape.target_ms:,.0f}" if r.shape.target_ms else "-"
        cells = [*_ms(r.http_ms), *_ms(r.server_ms), cpu]
        print(f"{r.shape.label:<33}{first:>8}  " + "".join(f"{c:>7}" for c in cells) + f"  {target:<14}{met(r)}")
    print(f"first: the first request, not in the other columns; then {repeat} more, one at a time.")
    print("srv CPU: CPU time of the spanbase process tree per request (first included); a database server's")
    print("own processes (PostgreSQL's backends) are not counted.")


def print_matches(results: list[Result]) -> None:
    for r in results:
        shape = r.shape
        body = f"  {shape.body.decode()}" if shape.body not in (None, b"{}") else ""
        print(f"{shape.label}")
        print(f"    {shape.method} {shape.path}{body}")
        figures = ", ".join(
            f"{name} {value:,}" + (f" (spangen {shape.expected[name]:,})" if name in shape.expected else "")
            for name, value in r.figures.items()
        )
        print(f"    matched: {figures or '-'}")
        for problem in r.problems:
            print(f"    PROBLEM: {problem}")


def print_verdict(results: list[Result], skipped: list[str], ingest_rate: float | None) -> None:
    targeted = [r for r in results if r.shape.target_ms is not None]
    ok = [r for r in targeted if met(r) == "yes"]
    print(f"query targets met: {len(ok)} of {len(targeted)} (judged on the client-side HTTP p50)")
    for r in targeted:
        if r in ok:
            continue
        if r.problems:
            print(f"  failed:  {r.shape.label}: {r.problems[0][:100]}")
        else:
            p50 = _ms(r.http_ms)[0]
            print(f"  not met: {r.shape.label}: p50 {p50} ms, target {r.shape.target_ms:,.0f} ms")
    for label in skipped:
        print(f"  not run: {label}")
    if ingest_rate is not None:
        verdict = "met" if ingest_rate >= INGEST_TARGET else "NOT met"
        print(f"ingest target (>= {INGEST_TARGET:,} spans/s): {verdict} ({ingest_rate:,.0f} spans/s)")
    problems = sum(len(r.problems) for r in results)
    print(f"problems: {problems}" + (" (PROBLEM lines above)" if problems else ""))


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--api-key", default=os.environ.get("SPANBASE_API_KEY"), help="or env SPANBASE_API_KEY")
    parser.add_argument("--store-label", default="(not given: pass --store-label SQLite or PostgreSQL)")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to load (default 1,000,000)")
    parser.add_argument("--skip-load", action="store_true", help="query an already loaded store")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--end",
        help="end of the data's 30 days, ISO 8601 (default: this hour when loading; with --skip-load, the hour"
        " after the newest stored span)",
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per query shape (default 30)")
    parser.add_argument("--concurrency", type=int, default=16, help="clients while loading (default 16)")
    parser.add_argument("--batch-size", type=int, default=500, help="spans per bulk request (default 500)")
    parser.add_argument("--duration", type=float, default=3600.0, help="stop starting batches after S s")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in s")
    parser.add_argument("--server-pid", type=int, help="server pid (default: whoever listens on the port)")
    parser.add_argument("--no-check", action="store_true", help="do not regenerate the spans to check counts")
    return parser.parse_args(argv)


def parse_end(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _section(title: str) -> None:
    print(f"\n== {title}")


async def run(args: argparse.Namespace, watch: ServerWatch | None) -> int:
    client = Client(args.url, args.api_key, args.timeout)
    try:
        try:
            answer = await client.request("POST", "/api/users/list/?page_size=1", b"{}")
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            print(f"no answer from {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        if not 200 <= answer.status < 300:
            print(f"the server refused a first query: HTTP {answer.status}: {answer.body[:300]!r}", file=sys.stderr)
            return 1
        if args.end:
            end = parse_end(args.end)
        elif args.skip_load:
            end = await discover_end(client)
            print(f"end:     {iso(end)} (the hour after the newest stored span; --end sets it)")
        else:
            end = default_end()
        print(f"data:    {args.spans:,} spans, seed {args.seed}, {DAYS} days ending {iso(end)}")
        again = f"--skip-load --end {iso(end)} --spans {args.spans} --seed {args.seed}"
        print(f"         to query this store again: {again}")
        ingest_rate = None
        if not args.skip_load:
            _section(f"load: {args.spans:,} spans, {args.batch_size} per request, {args.concurrency} clients")
            build_pools(args.seed)  # before the clock starts: a one-off ~0.3 s
            outcome = await load(args, end, watch)
            if watch:
                watch.sample()
            report(outcome, watch)
            ingest_rate = outcome.stats.spans_acked / outcome.elapsed
            verdict = "met" if ingest_rate >= INGEST_TARGET else "NOT met"
            print(f"ingest target:      >= {INGEST_TARGET:,} spans/s acknowledged: {verdict} ({ingest_rate:,.0f})")
        _section("picking ids through the API")
        picks = await pick(client, end)
        todo = shapes(end, picks)
        if not args.no_check:
            took = expected_counts(args, end, picks, todo)
            picks.notes.append(
                f"expected counts: {args.spans:,} spans regenerated with spangen in {took:.1f} s (they assume the"
                " store holds exactly the spans of this --spans, --seed and --end)"
            )
        for note in picks.notes:
            print(note)
        _section(f"queries: each sent once, then {args.repeat} times timed, one at a time")
        results = [await time_shape(client, shape, args.repeat, watch) for shape in todo]
        print_table(results, args.repeat)
        _section("requests and what they matched")
        print_matches(results)
        if watch:
            watch.sample()
            print(f"\nserver RSS after the queries: {watch.last_kb / 1024:,.0f} MiB (pid {watch.pid} and descendants)")
        _section("verdict")
        print_verdict(results, picks.skipped, ingest_rate)
    finally:
        await client.aclose()
    return 0


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
    print(f"client:  raw asyncio streams, {_loop_name()} event loop")
    print(f"server:  {args.url}, {who}")
    print(f"store:   {args.store_label}")
    return asyncio.run(run(args, watch))


if __name__ == "__main__":
    sys.exit(main())
