"""Spans summary and span groups (spec §2.7, §2.8) against figures computed here from the spans sent.

The store answers the common shapes (no filter; filters on time, model, status, customer, environment)
from rollups: whole days from a daily one, whole hours from an hourly one, the minutes at each end from
the spans (DESIGN.md, "Rollups"). The windows below start and end mid-hour and mid-day, so every piece
is read, and each figure is compared three ways: with the one computed here, and with the same query
forced down the scan path by a filter the rollups cannot serve that every span meets. Counts and token
sums must be exact, cost sums within 1e-9 relative, percentiles within 1% of the value at rank
floor(q * (n - 1)).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from spanbase.settings import Settings
from spanbase.storage.sql.engine import make_engine
from tests.conftest import Tenant, make_tenant

Json = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = 3_600_000_000
DAY = 24 * HOUR
PERCENTILES = (("p50_latency", 0.5), ("p90_latency", 0.9), ("p95_latency", 0.95), ("p99_latency", 0.99))


def micros(stamp: str) -> int:
    """An ISO 8601 time (with Z or an offset) as epoch microseconds, exactly."""
    return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - EPOCH) // timedelta(microseconds=1)


def stamp_of(us: int) -> str:
    return (EPOCH + timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------------------------------- the spans


@dataclass
class Sent:
    """One span as sent, and what the store must make of it."""

    ts: int  # epoch microseconds, UTC
    trace: str
    span: str
    model: str = "sb-alpha"
    status: str = "success"  # as stored: success, failed or warning
    failure: str = "code"  # how a failed span says so: "code" (500), "message" or "status" ("error")
    customer: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    thread: str | None = None
    cost: float | None = None  # None: not sent, and the sb-* models have no price
    latency: float | None = None
    ttft: float | None = None
    tps: float | None = None
    prompt: int = 0
    completion: int = 0
    cache_hit: int = 0
    provider_id: str | None = None
    prompt_id: str | None = None
    custom_identifier: str | None = None
    deployment_name: str | None = None
    key: int = 0  # which of the tenant's prod keys sends it
    stamp: str | None = None  # the timestamp as sent, when not plain UTC

    def body(self) -> Json:
        b: Json = {
            "timestamp": self.stamp or stamp_of(self.ts),
            "model": self.model,
            "trace_unique_id": self.trace,
            "span_unique_id": self.span,
            "usage": {"prompt_tokens": self.prompt, "completion_tokens": self.completion},
            "metadata": {"suite": "rollups", "parity": str(self.prompt % 2)},
        }
        optional = {
            "customer_identifier": self.customer,
            "customer_name": self.customer_name,
            "customer_email": self.customer_email,
            "thread_identifier": self.thread,
            "cost": self.cost,
            "latency": self.latency,
            "time_to_first_token": self.ttft,
            "tokens_per_second": self.tps,
            "provider_id": self.provider_id,
            "prompt_id": self.prompt_id,
            "custom_identifier": self.custom_identifier,
            "deployment_name": self.deployment_name,
        }
        b.update((k, v) for k, v in optional.items() if v is not None)
        if self.cache_hit:
            b["prompt_cache_hit_tokens"] = self.cache_hit
        if self.status == "failed":
            if self.failure == "code":
                b["status_code"] = 500
            elif self.failure == "message":
                b["error_message"] = "upstream timed out"
            else:
                b["status"] = "error"
        elif self.status == "warning":
            b["status"] = "warning"
        return b


MODELS = ("sb-alpha", "sb-beta", "sb-gamma")  # names no price list knows: an omitted cost stays null
CUSTOMERS = ("cust-1", "cust-2", "cust-3", "cust-4", "cust-5", None)
THREADS = ("thread-a", "thread-b", "thread-c", None, None)


def random_span(rng: random.Random, trace: str, span: str, ts: int, customer: str | None, key: int) -> Sent:
    status = rng.choices(("success", "failed", "warning"), (78, 18, 4))[0]
    roll = rng.random()
    latency = None if roll < 0.1 else 0.0 if roll < 0.12 else max(round(rng.lognormvariate(0.0, 1.4), 6), 1e-3)
    prompt = rng.randrange(0, 5000)
    return Sent(
        ts=ts,
        trace=trace,
        span=span,
        model=rng.choice(MODELS),
        status=status,
        failure=rng.choice(("code", "message", "status")),
        customer=customer,
        thread=rng.choice(THREADS),
        cost=None if rng.random() < 0.15 else rng.uniform(0.0, 0.03),
        latency=latency,
        ttft=None if latency is None or rng.random() < 0.4 else latency * rng.random(),
        tps=None if rng.random() < 0.5 else rng.uniform(5.0, 250.0),
        prompt=prompt,
        completion=rng.randrange(0, 2000),
        cache_hit=rng.randrange(1, prompt + 1) if prompt and rng.random() < 0.25 else 0,
        provider_id=rng.choice(("openai", "anthropic", None)),
        prompt_id=rng.choice(("prompt-1", "prompt-2", None)),
        custom_identifier=rng.choice(("ci-a", "ci-b", "ci-c", None)),
        deployment_name=rng.choice(("dep-east", "dep-west", None)),
        key=key,
    )


def random_traces(rng: random.Random, prefix: str, traces: int, start: int, end: int, keys: int = 2) -> list[Sent]:
    """Traces of 1-7 spans each over up to two hours (so some cross an hour or a day), starting in [start, end)."""
    out: list[Sent] = []
    for t in range(traces):
        base = rng.randrange(start, end)
        customer, key = rng.choice(CUSTOMERS), rng.randrange(keys)
        for s in range(rng.randint(1, 7)):
            ts = base + rng.randrange(0, 2 * HOUR)
            out.append(random_span(rng, f"{prefix}-{t}", f"span-{s}", ts, customer, key))
    return out


# Windows (closed: start <= timestamp <= end) and the pieces they are read in.
W_MAIN = ("2024-02-26T03:37:12.345678Z", "2024-03-04T08:21:30.5Z")  # days, hours and raw minutes at both ends
W_HOURS = ("2024-02-28T03:15:00Z", "2024-02-28T19:45:10Z")  # hours and raw minutes, no whole day
W_MINUTES = ("2024-03-01T10:05:00Z", "2024-03-01T10:55:00Z")  # inside one hour: raw spans only
W_DAYS = ("2024-02-27T00:00:00Z", "2024-03-01T23:59:59.999999Z")  # whole days only
W_OFFSET = ("2024-02-27T05:30:00+05:30", "2024-03-02T21:10:00-04:00")  # the same kind, given with offsets
W_ALL = ("2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z")
WINDOWS = (W_MAIN, W_HOURS, W_MINUTES, W_DAYS, W_OFFSET, W_ALL)


def burst(rng: random.Random, prefix: str, start: int, end: int, n: int) -> list[Sent]:
    """n one-span traces in [start, end): the ragged ends of the windows above get spans of their own."""
    return [
        random_span(rng, f"{prefix}-{i}", "root", rng.randrange(start, end), rng.choice(CUSTOMERS), i % 2)
        for i in range(n)
    ]


def edge_spans(rng: random.Random) -> list[Sent]:
    """Spans on the windows' bounds, just outside them, and on UTC day, week and month boundaries (some
    sent with an offset that puts them on the other side locally)."""
    main_start, main_end = micros(W_MAIN[0]), micros(W_MAIN[1])
    out = [
        *burst(rng, "head", main_start, main_start - main_start % HOUR + HOUR, 25),
        *burst(rng, "tail", main_end - main_end % HOUR, main_end + 1, 25),
        *burst(rng, "minutes", micros("2024-03-01T10:00:00Z"), micros("2024-03-01T11:00:00Z"), 40),
    ]
    bounds = [main_start - 1, main_start, main_end, main_end + 1, micros(W_DAYS[1]), micros(W_DAYS[1]) + 1]
    for i, ts in enumerate(bounds):
        out.append(random_span(rng, f"bound-{i}", "root", ts, "cust-1", 0))
    offsets = [
        "2024-02-25T23:30:00-05:00",  # Monday 04:30 UTC: the week of Feb 26, though Sunday locally
        "2024-03-01T02:00:00+05:00",  # Feb 29 21:00 UTC: February, though March locally
        "2024-03-04T01:00:00+02:00",  # Sunday Mar 3 23:00 UTC: still the week of Feb 26
        "2024-03-03T23:59:59.999999Z",
        "2024-03-04T00:00:00Z",
        "2024-02-29T23:59:59.999999Z",
        "2024-03-01T00:00:00Z",
    ]
    for i, stamp in enumerate(offsets):
        span = random_span(rng, f"utc-{i}", "root", micros(stamp), "cust-2", 1)
        span.stamp = stamp
        out.append(span)
    # A trace across midnight, and hours, with a thread and a customer of its own.
    for i, stamp in enumerate(("2024-02-28T23:50:00Z", "2024-02-29T00:10:00Z", "2024-02-29T01:05:00Z")):
        out.append(
            replace(random_span(rng, "midnight", f"s{i}", micros(stamp), "cust-night", 0), thread="thread-night")
        )
    return out


def dataset(seed: int = 11, traces: int = 220) -> list[Sent]:
    rng = random.Random(seed)
    return random_traces(
        rng, "trace", traces, micros("2024-02-25T00:00:00Z"), micros("2024-03-06T00:00:00Z")
    ) + edge_spans(rng)


def send(client: TestClient, spans: Sequence[Sent], keys: Sequence[Tenant]) -> None:
    by_key: dict[int, list[Json]] = defaultdict(list)
    for s in spans:
        by_key[s.key].append(s.body())
    for k, bodies in by_key.items():
        for i in range(0, len(bodies), 500):
            chunk = bodies[i : i + 500]
            r = client.post("/api/request-logs/bulk/", json={"logs": chunk}, headers=keys[k].headers)
            assert r.status_code == 201, r.text
            assert r.json()["success_count"] == len(chunk), r.text


def key_ids(client: TestClient, spans: Sequence[Sent], keys: Sequence[Tenant]) -> dict[int, str]:
    """organization_key_id of each key, read off a span it sent."""
    out: dict[int, str] = {}
    for k in range(len(keys)):
        s = next(s for s in spans if s.key == k)
        filters = {"trace_unique_id": {"operator": "", "value": [s.trace]}, "span_unique_id": {"value": [s.span]}}
        params = {"start_time": stamp_of(s.ts - 1), "end_time": stamp_of(s.ts + 1)}
        r = client.post("/api/request-logs/list/", params=params, json={"filters": filters}, headers=keys[k].headers)
        rows = r.json()["results"]
        assert len(rows) == 1, r.text
        out[k] = rows[0]["organization_key_id"]
    assert len(set(out.values())) == len(keys)
    return out


# ------------------------------------------------------------------------------------ the figures here


def in_window(spans: Iterable[Sent], window: tuple[str, str]) -> list[Sent]:
    lo, hi = micros(window[0]), micros(window[1])
    return [s for s in spans if lo <= s.ts <= hi]


def exact_quantile(values: Sequence[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))] if ordered else None


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def figures(spans: Sequence[Sent]) -> Json:
    """The summary of spec §2.7, computed from the spans sent; averages over the spans that have the value."""
    costs = [s.cost for s in spans if s.cost is not None]
    latencies = [s.latency for s in spans if s.latency is not None]
    out: Json = {
        "number_of_requests": len(spans),
        "total_cost": math.fsum(costs),
        "total_tokens": sum(s.prompt + s.completion for s in spans),
        "total_prompt_tokens": sum(s.prompt for s in spans),
        "total_completion_tokens": sum(s.completion for s in spans),
        "error_count": sum(s.status == "failed" for s in spans),
        "avg_latency": _mean(latencies),
        "avg_ttft": _mean([s.ttft for s in spans if s.ttft is not None]),
        "avg_tps": _mean([s.tps for s in spans if s.tps is not None]),
        "avg_cost": _mean(costs),
    }
    out.update((name, exact_quantile(latencies, q)) for name, q in PERCENTILES)
    return out


def group_figures(spans: Sequence[Sent]) -> Json:
    """A group row of spec §2.8, computed from its spans."""
    f = figures(spans)
    n = len(spans)
    out: Json = {
        "number_of_requests": n,
        "span_count": n,
        "total_cost": f["total_cost"],
        "total_tokens": f["total_tokens"],
        "total_prompt_tokens": f["total_prompt_tokens"],
        "total_completion_tokens": f["total_completion_tokens"],
        "error_count": f["error_count"],
        "error_percentage": 100.0 * f["error_count"] / n,
        "average_cost": f["avg_cost"],
        "average_tokens": f["total_tokens"] / n,
        "average_latency": f["avg_latency"],
        "average_ttft": f["avg_ttft"],
        "average_tps": f["avg_tps"],
        "cache_hit_percentage": 100.0 * sum(s.cache_hit > 0 for s in spans) / n,
    }
    out.update((name, f[name]) for name, _ in PERCENTILES)
    return out


EXACT = frozenset(
    {
        "number_of_requests",
        "span_count",
        "total_tokens",
        "total_prompt_tokens",
        "total_completion_tokens",
        "error_count",
    }
)


def close(got: float | None, want: float | None, rel: float) -> bool:
    if got is None or want is None:
        return got is None and want is None
    # The slack beyond `rel` is floating-point rounding only: a bucket's value is within 1% by construction.
    return abs(got - want) <= rel * abs(want) * (1 + 1e-9) + 1e-12


def mismatches(got: Json, want: Json) -> list[str]:
    """The fields of `got` that differ from `want` beyond what the contract allows."""
    bad: list[str] = []
    for name, w in want.items():
        g = got.get(name, "<missing>")
        if name in EXACT:
            ok = g == w and type(g) is int
        elif name.startswith("p") and name.endswith("_latency"):
            ok = close(g, w, 0.01)  # a histogram bucket: within 1% of the exact value
        else:
            ok = close(g, w, 1e-9)
        if not ok:
            bad.append(f"{name}: got {g!r}, want {w!r}")
    return bad


def assert_figures(got: Json, want: Json, what: str) -> None:
    bad = mismatches(got, want)
    assert not bad, f"{what}: " + "; ".join(bad)


# ------------------------------------------------------------------------------------------ the calls


def window_params(window: tuple[str, str], **extra: str) -> dict[str, str]:
    return {"start_time": window[0], "end_time": window[1], **extra}


def summary(
    client: TestClient,
    window: tuple[str, str],
    filters: Json | None = None,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> Json:
    body = {"filters": filters} if filters else {}
    r = client.post("/api/request-logs/summary/", params=window_params(window, **extra), json=body, headers=headers)
    assert r.status_code == 200, r.text
    out: Json = r.json()
    return out


def groups(
    client: TestClient,
    window: tuple[str, str],
    group_by: str | None,
    date_group: str | None,
    filters: Json | None = None,
    headers: dict[str, str] | None = None,
    **extra: str,
) -> list[Json]:
    """Every row, page by page; the envelope's total must be the number of rows."""
    params = window_params(window, **extra)
    if group_by:
        params["group_by"] = group_by
    if date_group:
        params["date_group"] = date_group
    rows: list[Json] = []
    page = 1
    while True:
        r = client.post(
            "/api/request-logs/groups/",
            params={**params, "page": str(page), "page_size": "1000"},
            json={"filters": filters} if filters else {},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        rows.extend(body["results"])
        if body["next"] is None:
            break
        page += 1
    assert body["total_count"] == body["count"] == len(rows)
    return rows


# Filters every span meets, which the rollups cannot serve: the same query, answered from the spans.
SCANS: tuple[Json, ...] = (
    {"metadata__suite": {"operator": "", "value": ["rollups"]}},  # the metadata index
    {"log_type": {"operator": "", "value": ["chat"]}},  # a plain scan
)

Shape = tuple[str, Json | None, Callable[[Sent], bool]]
ROLLUP_SHAPES: tuple[Shape, ...] = (
    ("no filter", None, lambda s: True),
    ("model", {"model": {"operator": "", "value": ["sb-alpha"]}}, lambda s: s.model == "sb-alpha"),
    ("models", {"model": {"operator": "in", "value": ["sb-beta", "sb-gamma"]}}, lambda s: s.model != "sb-alpha"),
    ("not a model", {"model": {"operator": "not", "value": ["sb-gamma"]}}, lambda s: s.model != "sb-gamma"),
    ("failed", {"status": {"operator": "", "value": ["failed"]}}, lambda s: s.status == "failed"),
    (
        "model and status",
        {"model": {"operator": "", "value": ["sb-beta"]}, "status": {"operator": "", "value": ["success"]}},
        lambda s: s.model == "sb-beta" and s.status == "success",
    ),
    (
        "model or failed",
        {"model": {"operator": "", "value": ["sb-beta"], "connector": "OR"}, "status": {"value": ["failed"]}},
        lambda s: s.model == "sb-beta" or s.status == "failed",
    ),
    ("customer", {"customer_identifier": {"operator": "", "value": ["cust-2"]}}, lambda s: s.customer == "cust-2"),
    (
        "customers",
        {"customer_identifier": {"operator": "in", "value": ["cust-1", "cust-night"]}},
        lambda s: s.customer in ("cust-1", "cust-night"),
    ),
    ("no customer", {"customer_identifier": {"operator": "empty", "value": []}}, lambda s: s.customer is None),
    ("environment", {"environment": {"operator": "", "value": ["prod"]}}, lambda s: True),
    (
        "since a time",
        {"timestamp": {"operator": "gte", "value": "2024-02-29T06:30:00Z"}},
        lambda s: s.ts >= micros("2024-02-29T06:30:00Z"),
    ),
    (
        "between times, and a model",
        {
            "timestamp": [
                {"operator": "gt", "value": "2024-02-27T12:00:00.5Z"},
                {"operator": "lt", "value": "2024-03-02T18:30:00Z"},
            ],
            "model": {"operator": "", "value": ["sb-gamma"]},
        },
        lambda s: micros("2024-02-27T12:00:00.5Z") < s.ts < micros("2024-03-02T18:30:00Z") and s.model == "sb-gamma",
    ),
)


# Filters the rollups cannot serve, which match some spans only.
SCAN_SHAPES: tuple[Shape, ...] = (
    ("a provider", {"provider_id": {"operator": "", "value": ["openai"]}}, lambda s: s.provider_id == "openai"),
    ("a metadata value", {"metadata__parity": {"operator": "", "value": ["1"]}}, lambda s: s.prompt % 2 == 1),
    (
        "a time or failed",
        {
            "timestamp": {"operator": "lt", "value": "2024-02-28T00:00:00Z", "connector": "OR"},
            "status": {"value": ["failed"]},
        },
        lambda s: s.ts < micros("2024-02-28T00:00:00Z") or s.status == "failed",
    ),
    (
        "a model and a customer",
        {
            "model": {"operator": "", "value": ["sb-alpha"]},
            "customer_identifier": {"operator": "", "value": ["cust-1"]},
        },
        lambda s: s.model == "sb-alpha" and s.customer == "cust-1",
    ),
    ("a cost range", {"cost": {"gte": 0.01, "lt": 0.02}}, lambda s: s.cost is not None and 0.01 <= s.cost < 0.02),
)
BY_CUSTOMER = frozenset({"customer", "customers", "no customer"})


def with_scan(filters: Json | None, scan: Json) -> Json:
    return {**(filters or {}), **scan}


# ----------------------------------------------------------------------------------------- the tests


def tenant_keys(settings: Settings, tenant: Tenant) -> list[Tenant]:
    """The tenant's key and a second prod key of the same organization (two organization_key_ids)."""
    return [tenant, make_tenant(settings, organization=tenant.organization)]


def test_summaries_from_rollups_equal_the_raw_figures(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    spans = dataset()
    send(client, spans, tenant_keys(settings, tenant))
    for window in WINDOWS:
        inside = in_window(spans, window)
        assert inside, window
        for i, (name, filters, keep) in enumerate(ROLLUP_SHAPES):
            want = figures([s for s in inside if keep(s)])
            what = f"{name} over {window}"
            assert_figures(summary(client, window, filters), want, what)
            scan = SCANS[i % len(SCANS)]  # both kinds of scan, by turns
            assert_figures(summary(client, window, with_scan(filters, scan)), want, f"{what}, scanned ({scan})")
        for name, filters, keep in SCAN_SHAPES:
            assert_figures(summary(client, window, filters), figures([s for s in inside if keep(s)]), name)
    # Order operators on the customer: a summary counts the spans the list shows, read either way.
    for op, value in (("lt", "cust-3"), ("lte", "cust-3"), ("gte", ""), ("gt", "cust-3"), ("lt", "")):
        filters = {"customer_identifier": {"operator": op, "value": value}}
        params = {**window_params(W_MAIN), "page_size": "1"}
        listed = client.post("/api/request-logs/list/", params=params, json={"filters": filters}).json()["count"]
        scanned = summary(client, W_MAIN, with_scan(filters, SCANS[1]))
        served = summary(client, W_MAIN, filters)
        counts = ("number_of_requests", "total_tokens", "error_count")
        assert [served[c] for c in counts] == [scanned[c] for c in counts], (op, value, served, scanned)
        assert scanned["number_of_requests"] == listed, (op, value)
    # The edges of the window are in it, a microsecond past them is not.
    assert summary(client, (W_MAIN[0], W_MAIN[0]))["number_of_requests"] == 1
    assert summary(client, (W_MAIN[1], W_MAIN[1]))["number_of_requests"] == 1
    # GET with the same query is the same summary.
    r = client.get("/api/request-logs/summary/", params=window_params(W_MAIN))
    assert r.status_code == 200
    assert_figures(r.json(), figures(in_window(spans, W_MAIN)), "GET")


def test_percentiles_over_a_wide_range_of_latencies(client: TestClient, tenant: Tenant) -> None:
    """Latencies over seven orders of magnitude, over days: every percentile within 1%, in summaries
    and in groups, read from rollups or scanned."""
    rng = random.Random(5)
    start = micros("2024-05-10T00:00:00Z")
    spans = [
        Sent(ts=start + rng.randrange(0, 3 * DAY), trace=f"wide-{i}", span="s", latency=10 ** rng.uniform(-3.0, 4.0))
        for i in range(1500)
    ]
    send(client, spans, [tenant])
    for window in (("2024-05-10T00:00:00Z", "2024-05-13T00:00:00Z"), ("2024-05-10T09:12:00Z", "2024-05-12T15:47:00Z")):
        inside = in_window(spans, window)
        latencies = [s.latency for s in inside if s.latency is not None]
        for filters in (None, *SCANS):
            got = summary(client, window, filters)
            (row,) = groups(client, window, None, None, filters)
            assert row["number_of_requests"] == got["number_of_requests"] == len(inside)
            for name, q in PERCENTILES:
                want = exact_quantile(latencies, q)
                assert close(got[name], want, 0.01), (window, filters, name, got[name], want)
                assert close(row[name], want, 0.01), (window, filters, name, row[name], want)


GROUP_KEYS: dict[str, tuple[str, Callable[[Sent, dict[int, str]], Any]]] = {
    "model": ("model", lambda s, k: s.model),
    "provider_id": ("provider_id", lambda s, k: s.provider_id),
    "organization_key_id": ("organization_key_id", lambda s, k: k[s.key]),
    "prompt_id": ("prompt_id", lambda s, k: s.prompt_id),
    "deployment_id": ("deployment_id", lambda s, k: None),  # a gateway field: no span here has one
    "deployment_name": ("deployment_name", lambda s, k: s.deployment_name),
    "custom_identifier": ("custom_identifier", lambda s, k: s.custom_identifier),
    "customer_identifier": ("customer_identifier", lambda s, k: s.customer),
    "trace": ("trace_unique_id", lambda s, k: s.trace),
    "thread": ("thread_identifier", lambda s, k: s.thread),
}
DATE_GROUPS = (None, "hour", "day", "week", "month")
ROLLED_UP = frozenset({"model", "customer_identifier"})  # group_by values that rollups keep apart


def bucket_start(us: int, date_group: str | None) -> datetime | None:
    """The UTC hour, day, week (from Monday) or month a time falls in, by the calendar."""
    if date_group is None:
        return None
    moment = EPOCH + timedelta(microseconds=us)
    if date_group == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if date_group == "day":
        return day
    if date_group == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def keyed(key: Callable[[Sent, dict[int, str]], Any], ids: dict[int, str]) -> Callable[[Sent], Any]:
    return lambda s: key(s, ids)


def expected_groups(
    spans: Iterable[Sent], key: Callable[[Sent], Any], date_group: str | None
) -> dict[tuple[Any, datetime | None], list[Sent]]:
    out: dict[tuple[Any, datetime | None], list[Sent]] = defaultdict(list)
    for s in spans:
        out[(key(s), bucket_start(s.ts, date_group))].append(s)
    return out


def parse_date_group(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), value
    return moment


def assert_groups(
    rows: list[Json], key_field: str | None, want: dict[tuple[Any, datetime | None], list[Sent]], what: str
) -> None:
    got: dict[tuple[Any, datetime | None], Json] = {}
    for row in rows:
        k = (row[key_field] if key_field else None, parse_date_group(row["date_group"]))
        assert k not in got, f"{what}: group {k} twice"
        got[k] = row
    extra, missing = sorted(map(str, set(got) - set(want))), sorted(map(str, set(want) - set(got)))
    assert not extra and not missing, f"{what}: extra groups {extra[:5]}, missing {missing[:5]}"
    for k, members in want.items():
        bad = mismatches(got[k], group_figures(members))
        assert not bad, f"{what}, group {k}: " + "; ".join(bad)


def test_groups_equal_the_raw_figures(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    spans = dataset()
    keys = tenant_keys(settings, tenant)
    send(client, spans, keys)
    ids = key_ids(client, spans, keys)
    inside = in_window(spans, W_MAIN)
    for group_by, (key_field, key) in GROUP_KEYS.items():
        for date_group in DATE_GROUPS:
            want = expected_groups(inside, keyed(key, ids), date_group)
            what = f"group_by={group_by} date_group={date_group}"
            assert_groups(groups(client, W_MAIN, group_by, date_group), key_field, want, what)
            if group_by in ROLLED_UP:  # the others are scanned anyway
                scanned = groups(client, W_MAIN, group_by, date_group, SCANS[1])
                assert_groups(scanned, key_field, want, what + ", scanned")
    # No group_by: one group per date, or one group.
    for date_group in DATE_GROUPS:
        want = expected_groups(inside, lambda s: None, date_group)
        assert_groups(groups(client, W_MAIN, None, date_group), None, want, f"date_group={date_group}")
        assert_groups(groups(client, W_MAIN, None, date_group, SCANS[0]), None, want, f"date_group={date_group}, scan")
    # Filters that rollups serve, with groups over them, against a scan of the same.
    for i, (name, filters, keep) in enumerate(ROLLUP_SHAPES[1:]):
        for group_by, date_group in (("model", "day"), ("customer_identifier", "week"), ("model", "hour"))[i % 3 :][:1]:
            key_field, key = GROUP_KEYS[group_by]
            want = expected_groups([s for s in inside if keep(s)], keyed(key, ids), date_group)
            what = f"{name}, group_by={group_by} date_group={date_group}"
            assert_groups(groups(client, W_MAIN, group_by, date_group, filters), key_field, want, what)
            scanned = groups(client, W_MAIN, group_by, date_group, with_scan(filters, SCANS[0]))
            assert_groups(scanned, key_field, want, what + ", scanned")


def test_date_groups_are_utc_calendar_buckets(client: TestClient) -> None:
    """Weeks start on Monday 00:00 UTC and months on the 1st, whatever offset a timestamp was sent with."""
    stamps = {
        "2024-02-25T23:30:00-05:00": (
            "2024-02-26T04:00:00Z",
            "2024-02-26T00:00:00Z",
            "2024-02-26T00:00:00Z",
            "2024-02-01T00:00:00Z",
        ),
        "2024-03-01T02:00:00+05:00": (
            "2024-02-29T21:00:00Z",
            "2024-02-29T00:00:00Z",
            "2024-02-26T00:00:00Z",
            "2024-02-01T00:00:00Z",
        ),
        "2024-03-04T01:00:00+02:00": (
            "2024-03-03T23:00:00Z",
            "2024-03-03T00:00:00Z",
            "2024-02-26T00:00:00Z",
            "2024-03-01T00:00:00Z",
        ),
        "2024-03-03T23:59:59.999999Z": (
            "2024-03-03T23:00:00Z",
            "2024-03-03T00:00:00Z",
            "2024-02-26T00:00:00Z",
            "2024-03-01T00:00:00Z",
        ),
        "2024-03-04T00:00:00Z": (
            "2024-03-04T00:00:00Z",
            "2024-03-04T00:00:00Z",
            "2024-03-04T00:00:00Z",
            "2024-03-01T00:00:00Z",
        ),
        "2023-12-31T23:59:59Z": (
            "2023-12-31T23:00:00Z",
            "2023-12-31T00:00:00Z",
            "2023-12-25T00:00:00Z",
            "2023-12-01T00:00:00Z",
        ),
        "2024-01-01T00:00:00+01:00": (
            "2023-12-31T23:00:00Z",
            "2023-12-31T00:00:00Z",
            "2023-12-25T00:00:00Z",
            "2023-12-01T00:00:00Z",
        ),
        "2024-01-01T00:30:00Z": (
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
        ),
        # Before 1970 (the API takes times from 1900): a remainder is negative there, and must not round up.
        "1969-12-31T12:30:00Z": (
            "1969-12-31T12:00:00Z",
            "1969-12-31T00:00:00Z",
            "1969-12-29T00:00:00Z",
            "1969-12-01T00:00:00Z",
        ),
        "1969-12-31T23:59:59.999999Z": (
            "1969-12-31T23:00:00Z",
            "1969-12-31T00:00:00Z",
            "1969-12-29T00:00:00Z",
            "1969-12-01T00:00:00Z",
        ),
        "1900-01-01T05:30:00Z": (  # a Monday
            "1900-01-01T05:00:00Z",
            "1900-01-01T00:00:00Z",
            "1900-01-01T00:00:00Z",
            "1900-01-01T00:00:00Z",
        ),
    }
    logs = [{"timestamp": stamp, "model": f"m-{i}", "latency": 1.0} for i, stamp in enumerate(stamps)]
    assert client.post("/api/request-logs/bulk/", json={"logs": logs}).status_code == 201
    window = ("1899-12-20T07:45:00Z", "2024-03-20T13:10:00Z")
    for d, date_group in enumerate(("hour", "day", "week", "month")):
        for filters in (None, SCANS[1]):
            rows = groups(client, window, "model", date_group, filters)
            got = {r["model"]: parse_date_group(r["date_group"]) for r in rows}
            assert len(got) == len(rows) == len(stamps), (date_group, rows)
            want = {f"m-{i}": parse_date_group(starts[d]) for i, starts in enumerate(stamps.values())}
            assert got == want, (date_group, filters)


def test_group_order_and_pages(client: TestClient, tenant: Tenant) -> None:
    spans = dataset(seed=3, traces=120)
    send(client, spans, [tenant, tenant])
    everything = groups(client, W_MAIN, "model", "day")
    # By default: oldest date first, and the busiest group first within a date.
    order = [(parse_date_group(r["date_group"]), -r["number_of_requests"]) for r in everything]
    assert order == sorted(order)
    for sort_by in (
        "total_cost",
        "-total_cost",
        "-number_of_requests",
        "p99_latency",
        "-average_ttft",
        "model",
        "-date_group",
    ):
        rows = groups(client, W_MAIN, "model", "day", sort_by=sort_by)
        name, descending = sort_by.lstrip("-"), sort_by.startswith("-")
        values = [r[name] for r in rows]
        present = [v for v in values if v is not None]
        missing = len(values) - len(present)
        # A missing value sorts as the smallest: first going up, last going down.
        assert values == (present + [None] * missing if descending else [None] * missing + present), sort_by
        assert present == sorted(present, reverse=descending), sort_by
        assert sorted(map(str, rows)) == sorted(map(str, everything))
    # Pages: their concatenation is the whole list, a page past the end is empty, the total exact.
    params = window_params(W_MAIN, group_by="model", date_group="day", sort_by="-total_cost")
    full = groups(client, W_MAIN, "model", "day", sort_by="-total_cost")
    paged: list[Json] = []
    pages = -(-len(full) // 4)
    for page in range(1, pages + 2):
        r = client.get("/api/request-logs/groups/", params={**params, "page": str(page), "page_size": "4"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total_count"] == len(full)
        assert (body["next"] is None) == (page >= pages)
        if page > pages:
            assert body["results"] == []
        paged.extend(body["results"])
    assert paged == full


def test_rollups_serve_the_common_shapes_and_spans_the_rest(
    settings: Settings, client: TestClient, tenant: Tenant
) -> None:
    """White box: with every rollup row's cost pushed up by 1000, a figure read from rollups shows it
    and one scanned from the spans does not. The common shapes must read rollups (that is what makes a
    30-day dashboard fast), any other filter the spans, and a window inside one hour the spans alone."""
    spans = dataset(seed=9, traces=80)
    send(client, spans, [tenant, tenant])
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE rollups SET cost_sum = cost_sum + 1000"))
    finally:
        engine.dispose()
    for window in (W_MAIN, W_DAYS, W_HOURS):
        inside = in_window(spans, window)
        for i, (name, filters, keep) in enumerate(ROLLUP_SHAPES):
            exact = figures([s for s in inside if keep(s)])["total_cost"]
            if not exact or (window == W_HOURS and name in BY_CUSTOMER):
                continue  # customers are rolled up by day only: a window of hours is read from spans
            assert summary(client, window, filters)["total_cost"] > exact + 999, f"{name} over {window} read no rollup"
            scanned = summary(client, window, with_scan(filters, SCANS[i % len(SCANS)]))
            assert close(scanned["total_cost"], exact, 1e-9), name
        rows = groups(client, window, "model", "day")
        assert sum(r["total_cost"] for r in rows) > figures(inside)["total_cost"] + 999
        for name, filters, keep in SCAN_SHAPES:
            exact = figures([s for s in inside if keep(s)])["total_cost"]
            assert close(summary(client, window, filters)["total_cost"], exact, 1e-9), f"{name} over {window}"
    inside = in_window(spans, W_MINUTES)
    assert close(summary(client, W_MINUTES)["total_cost"], figures(inside)["total_cost"], 1e-9)


def _bulk_delete(client: TestClient, traces: Sequence[str]) -> None:
    for i in range(0, len(traces), 500):
        chunk = list(traces[i : i + 500])
        r = client.post(
            "/api/traces/bulk/",
            params=window_params(W_ALL),
            json={"filters": {"trace_unique_id": {"operator": "in", "value": chunk}}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["deleted_count"] == len(chunk), r.text


def check_everything(client: TestClient, spans: Sequence[Sent], ids: dict[int, str] | None = None) -> None:
    """Summaries over windows of every piece and every shape, and a few groupings, against the spans given."""
    for window in (W_MAIN, W_ALL):
        inside = in_window(spans, window)
        for name, filters, keep in ROLLUP_SHAPES:
            want = figures([s for s in inside if keep(s)])
            assert_figures(summary(client, window, filters), want, f"{name} over {window}")
            assert_figures(
                summary(client, window, with_scan(filters, SCANS[0])), want, f"{name} over {window}, scanned"
            )
    inside = in_window(spans, W_MAIN)
    for group_by, date_group in (("model", "day"), ("customer_identifier", "day"), ("trace", None), ("model", "hour")):
        key_field, key = GROUP_KEYS[group_by]
        grouped = expected_groups(inside, keyed(key, ids or {}), date_group)
        assert_groups(groups(client, W_MAIN, group_by, date_group), key_field, grouped, f"{group_by} by {date_group}")


def test_deleted_traces_leave_the_rollups(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    spans = dataset(seed=21, traces=150)
    send(client, spans, tenant_keys(settings, tenant))
    rng = random.Random(4)
    traces = sorted({s.trace for s in spans})
    gone = set(rng.sample(traces, len(traces) // 3)) | {"midnight", "bound-1", "head-3", "tail-7"}
    for trace in ("midnight", "bound-1"):  # one by one, the way DELETE /api/traces/{id}/ does it
        r = client.delete(f"/api/traces/{trace}/")
        assert r.status_code == 200, r.text
    _bulk_delete(client, sorted(gone - {"midnight", "bound-1"}))
    # An unknown trace deletes nothing, and a second delete of a gone one neither.
    for trace in ("no-such-trace", "midnight"):
        r = client.delete(f"/api/traces/{trace}/")
        assert r.status_code == 200
        assert r.json()["deleted_count"] == 0
    left = [s for s in spans if s.trace not in gone]
    check_everything(client, left)
    # Everything deleted: nothing is left in any summary, group or rollup of the organization.
    _bulk_delete(client, sorted({s.trace for s in left}))
    for window in WINDOWS:
        assert_figures(summary(client, window), figures([]), f"all deleted, {window}")
        assert groups(client, window, "model", "day") == []
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM rollups")).scalar_one() == 0
    finally:
        engine.dispose()


def test_ignored_resends_leave_the_rollups(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    """A span sent again with the same trace_unique_id and span_unique_id is the same span: the first
    write stands, whatever the resend says (other model, cost, latency, status, customer, time, key)."""
    keys = tenant_keys(settings, tenant)
    spans = dataset(seed=31, traces=120)
    send(client, spans, keys)
    rng = random.Random(6)

    def changed(s: Sent) -> Sent:
        return replace(
            s,
            ts=s.ts + rng.choice((-3 * DAY, -5 * HOUR, 1, 7 * HOUR, 2 * DAY)),
            model=rng.choice(("sb-beta", "sb-other")),
            status=rng.choice(("failed", "success")),
            customer=rng.choice(("cust-3", "cust-new")),
            customer_name="Renamed by a resend",
            thread="thread-resent",
            cost=rng.uniform(1.0, 10.0),
            latency=rng.uniform(50.0, 90.0),
            prompt=s.prompt + 1000,
            completion=s.completion + 7,
            key=1 - s.key,
        )

    resent = [changed(s) for s in rng.sample(spans, 120)]
    send(client, resent, keys)
    # One request with new spans, copies of them within the request, and more resends: the first of
    # each pair stands.
    fresh = random_traces(rng, "fresh", 30, micros("2024-02-26T00:00:00Z"), micros("2024-03-04T00:00:00Z"), keys=1)
    copies = [replace(changed(s), key=0) for s in (*fresh[:40], *rng.sample(spans, 40))]
    send(client, [*fresh, *copies], keys[:1])
    # The one-span endpoint answers a resend with the span that was stored.
    first = spans[0]
    r = client.post("/api/request-logs/", json=changed(first).body())
    assert r.status_code == 200, r.text
    assert (r.json()["model"], r.json()["cost"], r.json()["latency"]) == (first.model, first.cost, first.latency)
    check_everything(client, spans + fresh, key_ids(client, spans, keys))


def test_concurrent_resends_keep_rollups_and_spans_in_step(client: TestClient, tenant: Tenant) -> None:
    """Eight requests at once, each with the same 150 (trace, span) pairs and values of its own: which
    request's write stands is not for the client to know, but exactly one does, for every span, and the
    rollups say what the spans say."""
    rng = random.Random(77)
    base = random_traces(rng, "race", 40, micros("2024-02-27T00:00:00Z"), micros("2024-03-02T00:00:00Z"), keys=1)[:150]
    variants = [
        [replace(s, model=MODELS[i % 3], cost=float(i + 1), latency=float(i + 1), customer=f"racer-{i}") for s in base]
        for i in range(8)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda v: send(client, v, [tenant]), variants))
    window = ("2024-02-26T07:30:00Z", "2024-03-03T19:15:00Z")
    served, scanned = summary(client, window), summary(client, window, SCANS[1])
    assert served["number_of_requests"] == scanned["number_of_requests"] == len(base)
    assert_figures(served, {k: scanned[k] for k in ("total_cost", "total_tokens", "error_count", "avg_latency")}, "")
    sums = ("number_of_requests", "total_cost", "total_tokens", "average_latency")
    for group_by, key in (("model", "model"), ("customer_identifier", "customer_identifier")):
        served_rows = {(r[key], r["date_group"]): r for r in groups(client, window, group_by, "day")}
        scanned_rows = {(r[key], r["date_group"]): r for r in groups(client, window, group_by, "day", SCANS[0])}
        assert set(served_rows) == set(scanned_rows), group_by
        for k, row in served_rows.items():
            assert_figures(row, {name: scanned_rows[k][name] for name in sums}, f"{group_by} {k}")
    customers = {r["customer_identifier"]: r for r in groups(client, window, "customer_identifier", None)}
    listed = client.post("/api/users/list/", params={"page_size": "100"}, json={}).json()["results"]
    assert sum(r["number_of_requests"] for r in listed) == len(base)
    assert {r["customer_identifier"]: r["number_of_requests"] for r in listed} == {
        c: r["number_of_requests"] for c, r in customers.items()
    }


def test_environments_are_kept_apart(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    """A test key's spans are never in a prod summary or group, unless the request names them (§13.9)."""
    test_key = make_tenant(settings, organization=tenant.organization, environment="test")
    prod = dataset(seed=41, traces=100)
    test = [replace(s, key=0) for s in dataset(seed=42, traces=60)]  # the same trace ids, another environment
    send(client, prod, [tenant, tenant])
    send(client, test, [test_key])
    both = prod + test
    in_test = {"environment": {"operator": "", "value": ["test"]}}
    cases: list[tuple[str, Json | None, dict[str, str], dict[str, str] | None, list[Sent]]] = [
        ("prod key", None, {}, None, prod),
        ("prod key, ?environment=test", None, {"environment": "test"}, None, test),
        ("test key", None, {}, test_key.headers, test),
        ("test key, ?environment=prod", None, {"environment": "prod"}, test_key.headers, prod),
        ("all_envs", None, {"all_envs": "true"}, None, both),
        ("all_envs, environment filter", in_test, {"all_envs": "true"}, None, test),
        ("prod key, environment=test filter", in_test, {}, None, []),
    ]
    for what, filters, params, headers, expected in cases:
        for window in (W_MAIN, W_HOURS, W_ALL):
            inside = in_window(expected, window)
            for f in (filters, with_scan(filters, SCANS[0]), with_scan(filters, SCANS[1])):
                got = summary(client, window, f or None, headers, **params)
                assert_figures(got, figures(inside), f"{what} over {window}, filters {f}")
        rows = groups(client, W_MAIN, "model", "day", filters, headers, **params)
        assert_groups(rows, "model", expected_groups(in_window(expected, W_MAIN), lambda s: s.model, "day"), what)
    # Deleting a trace in one environment leaves the trace of the same id in the other.
    assert client.delete("/api/traces/trace-3/").json()["deleted_count"] == 1
    assert_figures(summary(client, W_ALL, environment="test"), figures(test), "test after a prod delete")
    assert_figures(summary(client, W_ALL), figures([s for s in prod if s.trace != "trace-3"]), "prod after its delete")


def test_other_organizations_never_count(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    other = make_tenant(settings)
    mine = dataset(seed=51, traces=80)
    theirs = [replace(s, key=0) for s in dataset(seed=52, traces=80)]  # the same trace ids and customers
    send(client, mine, [tenant, tenant])
    send(client, theirs, [other])
    shapes = [
        shape for shape in ROLLUP_SHAPES if shape[0] in ("no filter", "model", "failed", "customer", "since a time")
    ]
    for window in (W_MAIN, W_ALL):
        for name, filters, keep in shapes:
            for headers, spans in ((None, mine), (other.headers, theirs)):
                want = figures([s for s in in_window(spans, window) if keep(s)])
                assert_figures(summary(client, window, filters, headers), want, f"{name} over {window}")
                assert_figures(summary(client, window, with_scan(filters, SCANS[0]), headers), want, f"{name}, scanned")
    for headers, spans in ((None, mine), (other.headers, theirs)):
        grouped = expected_groups(in_window(spans, W_MAIN), lambda s: s.customer, "week")
        rows = groups(client, W_MAIN, "customer_identifier", "week", headers=headers)
        assert_groups(rows, "customer_identifier", grouped, "customers")
    # Their delete of a trace id I also have deletes theirs only; environment=... never reaches across.
    assert client.delete("/api/traces/trace-5/", headers=other.headers).json()["deleted_count"] == 1
    assert_figures(summary(client, W_ALL), figures(mine), "mine after their delete")
    assert_figures(summary(client, W_ALL, all_envs="true"), figures(mine), "mine, all environments")
    assert_figures(
        summary(client, W_ALL, headers=other.headers), figures([s for s in theirs if s.trace != "trace-5"]), "theirs"
    )


def test_empty_and_default_windows(client: TestClient) -> None:
    assert_figures(summary(client, ("2001-01-01T00:00:00Z", "2001-12-31T00:00:00Z")), figures([]), "nothing there")
    assert groups(client, ("2001-01-01T00:00:00Z", "2001-12-31T00:00:00Z"), "model", "day") == []
    # Without start_time and end_time the window is the last hour.
    now = datetime.now(UTC)
    recent = {"timestamp": (now - timedelta(minutes=10)).isoformat(), "model": "m", "latency": 2.0, "cost": 0.5}
    old = {"timestamp": (now - timedelta(hours=3)).isoformat(), "model": "m", "latency": 4.0, "cost": 1.5}
    assert client.post("/api/request-logs/bulk/", json={"logs": [recent, old]}).status_code == 201
    for r in (client.get("/api/request-logs/summary/"), client.post("/api/request-logs/summary/", json={})):
        assert r.status_code == 200, r.text
        assert (r.json()["number_of_requests"], r.json()["total_cost"], r.json()["avg_latency"]) == (1, 0.5, 2.0)
    r = client.get("/api/request-logs/groups/", params={"group_by": "model"})
    assert [row["number_of_requests"] for row in r.json()["results"]] == [1]


def test_hostile_parameters_are_400_naming_the_parameter(client: TestClient) -> None:
    window = window_params(W_MAIN)
    cases: list[tuple[str, dict[str, str], Json, str]] = [
        *(
            ("groups", {"group_by": v}, {}, "group_by")
            for v in ("bogus", "model; DROP TABLE spans", "__class__", "model,trace", " ")
        ),
        *(("groups", {"date_group": v}, {}, "date_group") for v in ("year", "days", "hour;", "0")),
        *(
            ("groups", {"group_by": "model", "sort_by": v}, {}, "sort_by")
            for v in ("bogus", "-", "total_cost desc", "customer_identifier", "1", "__dict__", "model)")
        ),
        ("groups", {"sort_by": "model"}, {}, "sort_by"),  # no group_by: there is no model to sort by
        *(("groups", {"page": v}, {}, "page") for v in ("0", "-1", "x", "1.5")),
        *(("groups", {"page_size": v}, {}, "page_size") for v in ("0", "1001", "lots")),
        *(("summary", {"environment": v}, {}, "environment") for v in ("staging", "PROD ", "prod,test")),
        ("groups", {"environment": "dev"}, {}, "environment"),
        ("summary", {"start_time": "yesterday"}, {}, "start_time"),
        ("summary", {"end_time": "2024-13-01T00:00:00Z"}, {}, "end_time"),
        ("summary", {"start_time": W_MAIN[1], "end_time": W_MAIN[0]}, {}, "start_time"),
        ("summary", {}, {"filters": {"no_such_field": {"operator": "", "value": ["x"]}}}, "no_such_field"),
        ("summary", {}, {"filters": {"model": {"operator": "resembles", "value": ["x"]}}}, "resembles"),
        ("groups", {}, {"filters": {"latency": {"operator": "gte", "value": ["fast"]}}}, "latency"),
    ]
    for endpoint, params, body, name in cases:
        merged = {**window, **params}
        for r in (
            client.post(f"/api/request-logs/{endpoint}/", params=merged, json=body),
            *([client.get(f"/api/request-logs/{endpoint}/", params=merged)] if not body else []),
        ):
            assert r.status_code == 400, (endpoint, params, body, r.status_code, r.text)
            detail = r.json()["detail"]
            assert isinstance(detail, str) and name in detail, (params, body, detail)
