"""Threads (spec §4) and customers (spec §5): their aggregates against figures computed here from the
spans sent, their filters, sorts and pages, one of each by id; kept right when traces are deleted and
when a resend is ignored; apart per environment and organization."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from spanbase.settings import Settings
from tests.conftest import Tenant, make_tenant
from tests.test_summaries import (
    DAY,
    HOUR,
    W_ALL,
    Json,
    Sent,
    close,
    figures,
    key_ids,
    micros,
    random_span,
    send,
    stamp_of,
    window_params,
)

CUSTOMER_IDS = ("cust-1", "cust-2", "cust-3", "cust-4", "Zeta", "alpha", "ops@example.com/team a", "客户-ü")
THREAD_IDS = ("thread-1", "thread-2", "thread-3", "thread-4", "thread-5", "thread/with slash", "thread with space & ?")
START, END = micros("2024-02-20T00:00:00Z"), micros("2024-03-10T00:00:00Z")


def conversations(rng: random.Random, prefix: str = "conv", keys: int = 2) -> list[Sent]:
    """Threads of 3-12 turns (one customer and one key each), customers' spans outside threads, a
    customer none of whose spans has a latency, a thread with no customer; in no particular order."""
    spans: list[Sent] = []
    for t, thread in enumerate(THREAD_IDS):
        customer = CUSTOMER_IDS[t % len(CUSTOMER_IDS)] if t else None
        for turn in range(rng.randint(3, 12)):
            span = random_span(rng, f"{prefix}-{t}-{turn}", "root", rng.randrange(START, END), customer, t % keys)
            spans.append(replace(span, thread=thread))
    for c, customer in enumerate(CUSTOMER_IDS):
        for i in range(rng.randint(1, 15)):
            span = random_span(rng, f"{prefix}-c{c}-{i}", "root", rng.randrange(START, END), customer, i % keys)
            spans.append(replace(span, thread=None))
    for i in range(3):
        span = random_span(rng, f"{prefix}-slow-{i}", "root", rng.randrange(START, END), "no-latency", 0)
        spans.append(replace(span, thread=None, latency=None, ttft=None))
    rng.shuffle(spans)
    return spans


def naming_rounds(rng: random.Random, prefix: str = "named") -> list[list[Sent]]:
    """Requests, in time order, that give customers names and emails: the newest given wins, and a span
    that gives none leaves them as they were."""
    rounds: list[list[Sent]] = []
    for r, day in enumerate(("2024-03-11", "2024-03-12", "2024-03-13")):
        batch: list[Sent] = []
        for c, customer in enumerate(CUSTOMER_IDS[:-1]):  # the last one is never named
            span = random_span(rng, f"{prefix}-{r}-{c}", "root", micros(f"{day}T01:00:00Z") + c * HOUR, customer, 0)
            span = replace(span, thread=None)
            if r == 0:
                span = replace(span, customer_name=f"{customer} v1", customer_email=f"c{c}.v1@example.com")
            elif r == 1:
                span = replace(span, customer_name=f"{customer} v2")
            elif c % 2:
                span = replace(span, customer_email=f"c{c}.v3@example.com")
            batch.append(span)
        rounds.append(batch)
    # Two in one request: the later of them wins.
    first = replace(rounds[2][0], span="again-1", ts=rounds[2][0].ts + 1, customer_name="same request, first")
    second = replace(first, span="again-2", ts=first.ts + 1, customer_name="same request, second")
    rounds[2] += [first, second]
    return rounds


def dataset(seed: int = 17) -> tuple[list[Sent], list[list[Sent]]]:
    rng = random.Random(seed)
    return conversations(rng), naming_rounds(rng)


def load(client: TestClient, keys: Sequence[Tenant], seed: int = 17) -> list[Sent]:
    """Send the dataset; the spans in the order they were sent (which is also time order for names)."""
    spans, rounds = dataset(seed)
    send(client, spans, keys)
    for batch in rounds:
        send(client, batch, keys)
    return spans + [s for batch in rounds for s in batch]


# ------------------------------------------------------------------------------------ the figures here


def _newest(spans: Sequence[Sent], name: str) -> str | None:
    given = [getattr(s, name) for s in spans if getattr(s, name) is not None]
    return given[-1] if given else None


def customer_figures(spans: Sequence[Sent]) -> Json:
    f = figures(spans)
    first, last = min(s.ts for s in spans), max(s.ts for s in spans)
    months = max((last - first) / (30 * DAY), 1.0)
    return {
        "customer_identifier": spans[0].customer,
        "environment": "prod",
        "number_of_requests": len(spans),
        "total_requests": len(spans),
        "error_count": f["error_count"],
        "total_tokens": f["total_tokens"],
        "tokens": f["total_tokens"],
        "total_prompt_tokens": f["total_prompt_tokens"],
        "total_completion_tokens": f["total_completion_tokens"],
        "total_cost": f["total_cost"],
        "cost": f["total_cost"],
        "average_latency": f["avg_latency"],
        "average_ttft": f["avg_ttft"],
        "average_monthly_cost": f["total_cost"] / months,
        "active_days": len({s.ts // DAY for s in spans}),
        "first_seen": datetime.fromisoformat(stamp_of(first)),
        "last_active": datetime.fromisoformat(stamp_of(last)),
        "last_active_timeframe": datetime.fromisoformat(stamp_of(last)),
        "name": _newest(spans, "customer_name"),
        "email": _newest(spans, "customer_email"),
    }


def thread_figures(spans: Sequence[Sent], ids: dict[int, str]) -> Json:
    f = figures(spans)
    first, last = min(s.ts for s in spans), max(s.ts for s in spans)
    return {
        "thread_identifier": spans[0].thread,
        "environment": "prod",
        "customer_identifier": spans[0].customer,
        "organization_key_id": ids[spans[0].key],
        "log_count": len(spans),
        "number_of_requests": len(spans),
        "error_count": f["error_count"],
        "total_cost": f["total_cost"],
        "total_tokens": f["total_tokens"],
        "total_prompt_tokens": f["total_prompt_tokens"],
        "total_completion_tokens": f["total_completion_tokens"],
        "average_latency": f["avg_latency"],
        "first_seen": datetime.fromisoformat(stamp_of(first)),
        "last_seen": datetime.fromisoformat(stamp_of(last)),
    }


def by(spans: Sequence[Sent], field: str) -> dict[str, list[Sent]]:
    out: dict[str, list[Sent]] = defaultdict(list)
    for s in spans:
        value = getattr(s, field)
        if value is not None:
            out[value].append(s)
    return out


def expected_customers(spans: Sequence[Sent]) -> dict[str, Json]:
    return {c: customer_figures(members) for c, members in by(spans, "customer").items()}


def expected_threads(spans: Sequence[Sent], ids: dict[int, str]) -> dict[str, Json]:
    return {t: thread_figures(members, ids) for t, members in by(spans, "thread").items()}


def mismatches(row: Json, want: Json) -> list[str]:
    bad: list[str] = []
    for name, w in want.items():
        g = row.get(name, "<missing>")
        if isinstance(w, datetime):
            ok = isinstance(g, str) and datetime.fromisoformat(g.replace("Z", "+00:00")) == w
        elif isinstance(w, float) or (w is None and name.startswith("average")):
            ok = close(g, w, 1e-9)
        else:
            ok = g == w and type(g) is type(w)
        if not ok:
            bad.append(f"{name}: got {g!r}, want {w!r}")
    return bad


def assert_rows(rows: list[Json], key: str, want: dict[str, Json], what: str) -> None:
    got = {r[key]: r for r in rows}
    assert len(got) == len(rows), f"{what}: an id twice"
    assert set(got) == set(want), (
        f"{what}: extra {sorted(set(got) - set(want))}, missing {sorted(set(want) - set(got))}"
    )
    for ident, expected in want.items():
        bad = mismatches(got[ident], expected)
        assert not bad, f"{what}, {ident}: " + "; ".join(bad)


# ------------------------------------------------------------------------------------------ the calls

LISTS = {
    "customers": ("/api/users/list/", "customer_identifier"),
    "threads": ("/api/log_threads/", "thread_identifier"),
}


def list_page(
    client: TestClient,
    kind: str,
    filters: Json | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> Json:
    path, _ = LISTS[kind]
    r = client.post(path, params=params, json={"filters": filters} if filters else {}, headers=headers)
    assert r.status_code == 200, r.text
    body: Json = r.json()
    return body


def list_all(
    client: TestClient,
    kind: str,
    filters: Json | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> list[Json]:
    body = list_page(client, kind, filters, headers, page_size="1000", **params)
    assert body["count"] == body["total_count"] == len(body["results"]), body
    assert body["next"] is None
    rows: list[Json] = body["results"]
    return rows


def get_one(client: TestClient, kind: str, ident: str, headers: dict[str, str] | None = None, **params: str) -> Any:
    path = "/api/users/" if kind == "customers" else "/api/threads/"
    return client.get(f"{path}{quote(ident, safe='')}/", params=params, headers=headers)


def assert_everything(client: TestClient, spans: Sequence[Sent], ids: dict[int, str], what: str) -> None:
    """Both lists and every row by id, against the spans given."""
    customers, threads = expected_customers(spans), expected_threads(spans, ids)
    assert_rows(list_all(client, "customers"), "customer_identifier", customers, f"{what}: customers")
    assert_rows(list_all(client, "threads"), "thread_identifier", threads, f"{what}: threads")
    for ident, want in customers.items():
        r = get_one(client, "customers", ident)
        assert r.status_code == 200, (ident, r.text)
        bad = mismatches(r.json(), want)
        assert not bad, f"{what}: GET customer {ident}: " + "; ".join(bad)
    thread_spans = by(spans, "thread")
    for ident, want in threads.items():
        r = get_one(client, "threads", ident)
        assert r.status_code == 200, (ident, r.text)
        body = r.json()
        bad = mismatches(body, want)
        assert not bad, f"{what}: GET thread {ident}: " + "; ".join(bad)
        # Its spans, in time order.
        members = sorted(thread_spans[ident], key=lambda s: s.ts)
        assert [(s["trace_unique_id"], s["timestamp"]) for s in body["spans"]] == [
            (s.trace, stamp_of(s.ts)) for s in members
        ], ident


def tenant_keys(settings: Settings, tenant: Tenant) -> list[Tenant]:
    return [tenant, make_tenant(settings, organization=tenant.organization)]


# ----------------------------------------------------------------------------------------- the tests


def test_aggregates_equal_the_raw_figures(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    keys = tenant_keys(settings, tenant)
    spans = load(client, keys)
    ids = key_ids(client, spans, keys)
    assert_everything(client, spans, ids, "as sent")
    customers = expected_customers(spans)
    # What the rounds meant (so that the comparison above compared what it should).
    assert customers["cust-1"]["name"] == "same request, second"
    assert (customers["cust-3"]["name"], customers["cust-3"]["email"]) == ("cust-3 v2", "c2.v1@example.com")
    assert (customers["cust-2"]["name"], customers["cust-2"]["email"]) == ("cust-2 v2", "c1.v3@example.com")
    assert customers[CUSTOMER_IDS[-1]]["name"] is None
    assert customers["no-latency"]["average_latency"] is None
    for kind, ident in (("customers", "nobody"), ("threads", "no-such-thread"), ("customers", "cust-1 ")):
        r = get_one(client, kind, ident)
        assert r.status_code == 404, (ident, r.text)
        assert isinstance(r.json()["detail"], str)


Predicate = Callable[[Json], bool]


def _t(row: Json, name: str) -> datetime:
    value = row[name]
    assert isinstance(value, datetime)
    return value


def test_filters_sorts_and_pages(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    keys = tenant_keys(settings, tenant)
    spans = load(client, keys)
    ids = key_ids(client, spans, keys)
    customers, threads = expected_customers(spans), expected_threads(spans, ids)
    mid_cost = sorted(c["total_cost"] for c in customers.values())[len(customers) // 2]
    mid_requests = sorted(c["number_of_requests"] for c in customers.values())[len(customers) // 2]
    since = "2024-02-24T12:00:00Z"
    customer_filters: list[tuple[Json, Predicate]] = [
        (
            {"number_of_requests": {"operator": "gte", "value": mid_requests}},
            lambda c: c["number_of_requests"] >= mid_requests,
        ),
        ({"total_cost": {"operator": "lt", "value": mid_cost}}, lambda c: c["total_cost"] < mid_cost),
        ({"active_days": {"operator": "gte", "value": 6}}, lambda c: c["active_days"] >= 6),
        ({"active_days": {"operator": "", "value": [3, 4]}}, lambda c: c["active_days"] in (3, 4)),
        ({"name": {"operator": "icontains", "value": "V2"}}, lambda c: "v2" in (c["name"] or "").lower()),
        (
            {"email": {"operator": "endswith", "value": ".v3@example.com"}},
            lambda c: (c["email"] or "").endswith(".v3@example.com"),
        ),
        ({"name": {"operator": "isnull", "value": True}}, lambda c: c["name"] is None),
        (
            {"customer_identifier": {"operator": "in", "value": ["Zeta", "ops@example.com/team a", "nobody"]}},
            lambda c: c["customer_identifier"] in ("Zeta", "ops@example.com/team a"),
        ),
        ({"average_latency": {"operator": "gt", "value": 2.0}}, lambda c: (c["average_latency"] or 0) > 2.0),
        (
            {"average_ttft": {"operator": "lte", "value": 0.8}},
            lambda c: c["average_ttft"] is not None and c["average_ttft"] <= 0.8,
        ),
        (
            {"first_seen": {"operator": "gte", "value": since}},
            lambda c: _t(c, "first_seen") >= datetime.fromisoformat(since),
        ),
        (
            {"last_active": {"operator": "lt", "value": "2024-03-12T00:00:00Z"}},
            lambda c: _t(c, "last_active") < datetime.fromisoformat("2024-03-12T00:00:00+00:00"),
        ),
        (
            {"total_tokens": {"operator": "gt", "value": 20000}, "error_count": {"operator": "gte", "value": 2}},
            lambda c: c["total_tokens"] > 20000 and c["error_count"] >= 2,
        ),
        (
            {
                "number_of_requests": {"operator": "lt", "value": 6, "connector": "OR"},
                "active_days": {"operator": "gte", "value": 9},
            },
            lambda c: c["number_of_requests"] < 6 or c["active_days"] >= 9,
        ),
        ({"environment": {"operator": "", "value": ["prod"]}}, lambda c: True),
        ({"environment": {"operator": "", "value": ["test"]}}, lambda c: False),
    ]
    for filters, keep in customer_filters:
        want = {k: c for k, c in customers.items() if keep(c)}
        assert_rows(list_all(client, "customers", filters), "customer_identifier", want, f"customers {filters}")
    mid_thread = sorted(t["number_of_requests"] for t in threads.values())[len(threads) // 2]
    thread_filters: list[tuple[Json, Predicate]] = [
        (
            {"thread_identifier": {"operator": "in", "value": ["thread-1", "thread/with slash"]}},
            lambda t: t["thread_identifier"] in ("thread-1", "thread/with slash"),
        ),
        (
            {"customer_identifier": {"operator": "", "value": ["cust-2"]}},
            lambda t: t["customer_identifier"] == "cust-2",
        ),
        (
            {"customer_identifier": {"operator": "not", "value": ["cust-2"]}},
            lambda t: t["customer_identifier"] != "cust-2",
        ),
        ({"organization_key_id": {"operator": "", "value": [ids[1]]}}, lambda t: t["organization_key_id"] == ids[1]),
        (
            {"number_of_requests": {"operator": "gte", "value": mid_thread}},
            lambda t: t["number_of_requests"] >= mid_thread,
        ),
        ({"log_count": {"operator": "lt", "value": mid_thread}}, lambda t: t["number_of_requests"] < mid_thread),
        ({"total_cost": {"operator": "gt", "value": 0.05}}, lambda t: t["total_cost"] > 0.05),
        (
            {"average_latency": {"operator": "lt", "value": 2.5}},
            lambda t: t["average_latency"] is not None and t["average_latency"] < 2.5,
        ),
        (
            {"first_seen": {"operator": "gte", "value": since}},
            lambda t: _t(t, "first_seen") >= datetime.fromisoformat(since),
        ),
        (
            {"last_seen": {"operator": "lte", "value": "2024-03-05T00:00:00Z"}},
            lambda t: _t(t, "last_seen") <= datetime.fromisoformat("2024-03-05T00:00:00+00:00"),
        ),
        (
            {"error_count": {"operator": "gte", "value": 1}, "total_tokens": {"operator": "gt", "value": 10000}},
            lambda t: t["error_count"] >= 1 and t["total_tokens"] > 10000,
        ),
    ]
    for filters, keep in thread_filters:
        want = {k: t for k, t in threads.items() if keep(t)}
        assert_rows(list_all(client, "threads", filters), "thread_identifier", want, f"threads {filters}")
    # Sorts: a missing value sorts as the smallest (first going up, last going down).
    sorts = {
        "customers": (
            customers,
            (
                "number_of_requests",
                "-number_of_requests",
                "total_cost",
                "-total_cost",
                "active_days",
                "-active_days",
                "first_seen",
                "-first_seen",
                "last_active",
                "customer_identifier",
                "-customer_identifier",
                "name",
                "-email",
                "average_latency",
                "-average_latency",
                "-average_ttft",
                "total_tokens",
                "error_count",
            ),
        ),
        "threads": (
            threads,
            (
                "number_of_requests",
                "-number_of_requests",
                "-total_cost",
                "first_seen",
                "-last_seen",
                "thread_identifier",
                "-thread_identifier",
                "average_latency",
                "-average_latency",
                "error_count",
                "total_tokens",
                "customer_identifier",
            ),
        ),
    }
    for kind, (want, sort_bys) in sorts.items():
        _, key = LISTS[kind]
        for sort_by in sort_bys:
            rows = list_all(client, kind, sort_by=sort_by)
            assert {r[key] for r in rows} == set(want)
            name, descending = sort_by.lstrip("-"), sort_by.startswith("-")
            values = [want[r[key]][name] for r in rows]
            present = [v for v in values if v is not None]
            missing = len(values) - len(present)
            assert values == (present + [None] * missing if descending else [None] * missing + present), (kind, sort_by)
            assert present == sorted(present, reverse=descending), (kind, sort_by, values)
        # The default order: the most recently active first.
        last = "last_active" if kind == "customers" else "last_seen"
        default = [want[r[key]][last] for r in list_all(client, kind)]
        assert default == sorted(default, reverse=True)
        # Pages: the whole list, in order; a page past the end is empty; the totals exact.
        sort_by = "-number_of_requests"
        full = [r[key] for r in list_all(client, kind, sort_by=sort_by)]
        size = 3
        pages = -(-len(full) // size)
        paged: list[str] = []
        for page in range(1, pages + 3):
            body = list_page(client, kind, sort_by=sort_by, page=str(page), page_size=str(size))
            assert body["count"] == body["total_count"] == len(full)
            assert (body["next"] is None) == (page >= pages), (page, body["next"])
            assert (body["previous"] is None) == (page == 1)
            if page > pages:
                assert body["results"] == []
            paged.extend(r[key] for r in body["results"])
        assert paged == full, kind
        filtered = list_page(
            client, kind, {"number_of_requests": {"operator": "gte", "value": 5}}, page="2", page_size="2"
        )
        assert filtered["total_count"] == sum(w["number_of_requests"] >= 5 for w in want.values())


def test_deleted_traces_leave_threads_and_customers(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    keys = tenant_keys(settings, tenant)
    spans = load(client, keys)
    ids = key_ids(client, spans, keys)
    rng = random.Random(8)
    # Every span of one thread and of one customer; the first and the last span of others; a third of the
    # rest, but not the spans that named their customers (what a name becomes when the span that gave
    # it goes is not this test's question).
    gone = {s.trace for s in spans if s.thread == "thread-2" or s.customer == "cust-4"}
    cust1 = sorted((s for s in spans if s.customer == "cust-1"), key=lambda s: s.ts)
    unnamed = sorted((s for s in spans if s.customer == CUSTOMER_IDS[-1]), key=lambda s: s.ts)
    gone |= {cust1[0].trace, unnamed[0].trace, unnamed[-1].trace}
    naming = {s.trace for s in spans if s.customer_name or s.customer_email}
    gone |= set(rng.sample(sorted({s.trace for s in spans} - gone - naming), len(spans) // 3))
    listed = sorted(gone)
    for trace in listed[:5]:
        assert client.delete(f"/api/traces/{quote(trace, safe='')}/").status_code == 200
    r = client.post(
        "/api/traces/bulk/",
        params=window_params(W_ALL),
        json={"filters": {"trace_unique_id": {"operator": "in", "value": listed[5:]}}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["deleted_count"] == len(listed) - 5
    left = [s for s in spans if s.trace not in gone]
    want_customers = expected_customers(left)
    assert want_customers["cust-1"]["first_seen"] > expected_customers(spans)["cust-1"]["first_seen"]
    customers_left = list_all(client, "customers")
    assert_rows(customers_left, "customer_identifier", want_customers, "customers after deletes")
    assert_rows(list_all(client, "threads"), "thread_identifier", expected_threads(left, ids), "threads after deletes")
    for kind, ident in (("threads", "thread-2"), ("customers", "cust-4")):
        assert get_one(client, kind, ident).status_code == 404
    for ident, want in expected_threads(left, ids).items():
        body = get_one(client, "threads", ident).json()
        assert not mismatches(body, want), ident
        assert [s["trace_unique_id"] for s in body["spans"]] == [
            s.trace for s in sorted((s for s in left if s.thread == ident), key=lambda s: s.ts)
        ]
    # Everything deleted: no customer and no thread is left.
    r = client.post(
        "/api/traces/bulk/",
        params=window_params(W_ALL),
        json={"filters": {"trace_unique_id": {"operator": "in", "value": sorted({s.trace for s in left})}}},
    )
    assert r.status_code == 200, r.text
    for kind in LISTS:
        body = list_page(client, kind)
        assert (body["total_count"], body["results"]) == (0, [])


def test_ignored_resends_leave_threads_and_customers(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    """A resend (the same trace_unique_id and span_unique_id) changes nothing, whatever it says."""
    keys = tenant_keys(settings, tenant)
    spans = load(client, keys)
    ids = key_ids(client, spans, keys)
    rng = random.Random(12)
    resent = [
        replace(
            s,
            ts=s.ts + rng.choice((-2 * DAY, 3 * HOUR, 1, 4 * DAY)),
            customer=rng.choice(("cust-3", "cust-resent")),
            customer_name="Renamed by a resend",
            customer_email="resend@example.com",
            thread=rng.choice(("thread-1", "thread-resent")),
            cost=rng.uniform(1.0, 5.0),
            latency=rng.uniform(40.0, 80.0),
            ttft=1.0,
            prompt=s.prompt + 321,
            status="failed",
            key=1 - s.key,
        )
        for s in rng.sample(spans, 60)
    ]
    send(client, resent, keys)
    assert_everything(client, spans, ids, "after resends")
    for kind, ident in (("customers", "cust-resent"), ("threads", "thread-resent")):
        assert get_one(client, kind, ident).status_code == 404


def test_environments_and_organizations_are_kept_apart(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    keys = tenant_keys(settings, tenant)
    test_key = make_tenant(settings, organization=tenant.organization, environment="test")
    other = make_tenant(settings)
    mine = load(client, keys)
    ids = key_ids(client, mine, keys)
    # The same customer and thread ids, in the test environment and in another organization.
    rng = random.Random(99)
    in_test = [replace(s, key=0) for s in conversations(rng, "test", keys=1)]
    in_test += [
        replace(random_span(rng, "test-only", "root", START + DAY, "test-only-customer", 0), thread="test-only-thread")
    ]
    theirs = [replace(s, key=0) for s in conversations(rng, "theirs", keys=1)]
    send(client, in_test, [test_key])
    send(client, theirs, [other])
    assert_everything(client, mine, ids, "prod")
    test_ids = key_ids(client, in_test, [test_key])
    their_ids = key_ids(client, theirs, [other])
    scopes: list[tuple[str, dict[str, str] | None, dict[str, str], list[Sent], dict[int, str], str]] = [
        ("prod key, ?environment=test", None, {"environment": "test"}, in_test, test_ids, "test"),
        ("test key", test_key.headers, {}, in_test, test_ids, "test"),
        ("test key, ?environment=prod", test_key.headers, {"environment": "prod"}, mine, ids, "prod"),
        ("another organization", other.headers, {}, theirs, their_ids, "prod"),
    ]
    for what, headers, params, spans, key_map, env in scopes:
        customers, threads = expected_customers(spans), expected_threads(spans, key_map)
        for rows in (customers, threads):
            for row in rows.values():
                row["environment"] = env
        assert_rows(list_all(client, "customers", None, headers, **params), "customer_identifier", customers, what)
        assert_rows(list_all(client, "threads", None, headers, **params), "thread_identifier", threads, what)
        for ident in ("cust-1", "cust-2"):
            r = get_one(client, "customers", ident, headers, **params)
            assert r.status_code == 200 and not mismatches(r.json(), customers[ident]), (what, ident, r.text)
        r = get_one(client, "threads", "thread-3", headers, **params)
        assert r.status_code == 200 and not mismatches(r.json(), threads["thread-3"]), (what, r.text)
        assert {s["trace_unique_id"] for s in r.json()["spans"]} == {s.trace for s in spans if s.thread == "thread-3"}
    # Ids of the test environment only, or of another organization only, are not found from prod.
    for kind, ident in (("customers", "test-only-customer"), ("threads", "test-only-thread")):
        assert get_one(client, kind, ident).status_code == 404
        assert get_one(client, kind, ident, environment="test").status_code == 200
        assert get_one(client, kind, ident, other.headers, environment="test").status_code == 404
    both = list_all(client, "customers", None, None, all_envs="true")
    assert sorted((r["customer_identifier"], r["environment"]) for r in both) == sorted(
        [(c, "prod") for c in expected_customers(mine)] + [(c, "test") for c in expected_customers(in_test)]
    )


def test_hostile_parameters_are_400_naming_the_parameter(client: TestClient) -> None:
    cases: list[tuple[str, dict[str, str], Json, str]] = [
        *(
            (kind, {"sort_by": v}, {}, "sort_by")
            for kind in LISTS
            for v in ("bogus", "-", "metadata__plan", "name; DROP TABLE customers", "total_cost desc", "1", "__class__")
        ),
        ("threads", {"sort_by": "name"}, {}, "sort_by"),  # a customer field, not a thread's
        ("threads", {"sort_by": "active_days"}, {}, "sort_by"),
        *((kind, {"page": v}, {}, "page") for kind in LISTS for v in ("0", "-2", "one")),
        *((kind, {"page_size": v}, {}, "page_size") for kind in LISTS for v in ("0", "1001", "all")),
        *((kind, {"environment": "staging"}, {}, "environment") for kind in LISTS),
        ("customers", {}, {"filters": {"metadata__plan": {"operator": "", "value": ["pro"]}}}, "metadata"),
        ("threads", {}, {"filters": {"metadata__plan": {"operator": "", "value": ["pro"]}}}, "metadata"),
        ("customers", {}, {"filters": {"password": {"operator": "", "value": ["x"]}}}, "password"),
        ("threads", {}, {"filters": {"model": {"operator": "", "value": ["x"]}}}, "model"),
        ("customers", {}, {"filters": {"active_days": {"operator": "gte", "value": ["many"]}}}, "active_days"),
        ("customers", {}, {"filters": {"first_seen": {"operator": "gte", "value": "last week"}}}, "first_seen"),
    ]
    for kind, params, body, name in cases:
        path, _ = LISTS[kind]
        r = client.post(path, params=params, json=body)
        assert r.status_code == 400, (kind, params, body, r.status_code, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, str) and name in detail, (kind, params, body, detail)
    for kind in LISTS:
        assert get_one(client, kind, "x", environment="staging").status_code == 400
