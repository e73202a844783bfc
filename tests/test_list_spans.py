"""POST /api/request-logs/list/ (spec §1.3, §1.4, §2.3, §13.9): pages, sorts, windows, environments,
organizations, include_fields, and the list row's shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spanbase.settings import Settings
from tests.conftest import Tenant, make_tenant

LIST = "/api/request-logs/list/"
BASE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WINDOW = f"start_time={(BASE - timedelta(days=1)).isoformat()}&end_time={(BASE + timedelta(days=1)).isoformat()}"


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _spans(n: int, **extra: Any) -> list[dict[str, Any]]:
    """n spans a minute apart from BASE, with costs, latencies and tokens in different orders."""
    return [
        {
            "model": "gpt-4o" if i % 2 else "gpt-4o-mini",
            "timestamp": _iso(BASE + timedelta(minutes=i)),
            "latency": float((i * 7) % 11),
            "cost": None if i % 5 == 0 else round(0.001 * ((i * 3) % 7), 6),
            "usage": {"prompt_tokens": (i * 13) % 17, "completion_tokens": i},
            "customer_identifier": f"c{i % 3}",
            "input": [{"role": "user", "content": f"question {i}"}],
            "output": {"role": "assistant", "content": f"answer {i}"},
            "custom_identifier": f"n{i:03d}",
            **extra,
        }
        for i in range(n)
    ]


def _load(client: TestClient, logs: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
    for i in range(0, len(logs), 500):
        r = client.post("/api/request-logs/bulk/", json={"logs": logs[i : i + 500]}, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["error_count"] == 0


def _list(client: TestClient, query: str = "", body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    r = client.post(f"{LIST}?{WINDOW}&{query}", json=body or {}, **kw)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _names(page: dict[str, Any]) -> list[str]:
    return [row["custom_identifier"] for row in page["results"]]


def test_pages_cover_every_span_once_with_exact_counts_and_links(client: TestClient) -> None:
    _load(client, _spans(23))
    seen: list[str] = []
    for number in range(1, 5):
        page = _list(client, f"page={number}&page_size=7")
        assert page["count"] == page["total_count"] == 23
        seen += _names(page)
        assert (page["previous"] is None) == (number == 1)
        assert (page["next"] is None) == (number >= 4)
        if page["next"]:
            assert f"page={number + 1}" in page["next"] and "page_size=7" in page["next"]
            assert page["next"].startswith("http")
    assert sorted(seen) == sorted(f"n{i:03d}" for i in range(23))
    assert seen == [f"n{i:03d}" for i in reversed(range(23))]  # newest first by default


def test_a_page_past_the_end_is_empty_not_an_error(client: TestClient) -> None:
    _load(client, _spans(3))
    page = _list(client, "page=9&page_size=2")
    assert page["results"] == []
    assert page["total_count"] == 3
    assert page["next"] is None


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page_size=1001", "page_size"),
        ("page_size=0", "page_size"),
        ("sort_by=-input", "sort_by"),
        ("sort_by=metadata__x", "sort_by"),
        ("environment=staging", "environment"),
        ("start_time=yesterday", "start_time"),
        ("start_time=2026-11-21T00:00:00Z&end_time=2026-11-20T00:00:00Z", "start_time"),
    ],
)
def test_bad_parameters_are_400_naming_them(client: TestClient, query: str, name: str) -> None:
    r = client.post(f"{LIST}?{query}", json={})
    assert r.status_code == 400, r.text
    assert name in r.json()["detail"]


def test_page_size_1000_is_allowed(client: TestClient) -> None:
    assert _list(client, "page_size=1000")["results"] == []


def _key(row: dict[str, Any], field: str) -> Any:
    return row[field]


@pytest.mark.parametrize("field", ["cost", "latency", "prompt_tokens", "completion_tokens", "timestamp", "model"])
@pytest.mark.parametrize("descending", [True, False])
def test_sorts_order_every_page_with_missing_values_smallest(client: TestClient, field: str, descending: bool) -> None:
    logs = _spans(17)
    _load(client, logs)
    sort = ("-" if descending else "") + field
    rows: list[dict[str, Any]] = []
    for number in (1, 2, 3):
        rows += _list(client, f"sort_by={sort}&page={number}&page_size=6")["results"]
    assert len(rows) == 17
    values = [r[field] for r in rows]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=descending)
    missing_at = [i for i, v in enumerate(values) if v is None]
    if missing_at:  # only cost has missing values here
        expected = list(range(17 - len(missing_at), 17)) if descending else list(range(len(missing_at)))
        assert missing_at == expected


def test_ties_break_by_time_then_row_so_pages_never_repeat(client: TestClient) -> None:
    _load(client, [{"model": "same", "timestamp": _iso(BASE), "cost": 1.0} for _ in range(9)])
    ids: list[str] = []
    for number in (1, 2, 3):
        ids += [r["unique_id"] for r in _list(client, f"sort_by=-cost&page={number}&page_size=4")["results"]]
    assert len(ids) == len(set(ids)) == 9


def test_the_default_window_is_the_last_hour(client: TestClient) -> None:
    now = datetime.now(UTC)
    _load(
        client,
        [
            {"model": "recent", "timestamp": _iso(now - timedelta(minutes=20))},
            {"model": "old", "timestamp": _iso(now - timedelta(hours=3))},
        ],
    )
    r = client.post(LIST, json={})
    assert [row["model"] for row in r.json()["results"]] == ["recent"]
    start = _iso(now - timedelta(hours=4))
    r = client.post(f"{LIST}?start_time={start}", json={})  # end_time defaults to now
    assert sorted(row["model"] for row in r.json()["results"]) == ["old", "recent"]


def test_the_window_bounds_are_inclusive(client: TestClient) -> None:
    _load(client, [{"model": "edge", "timestamp": _iso(BASE)}])
    edge = _iso(BASE)
    r = client.post(f"{LIST}?start_time={edge}&end_time={edge}", json={})
    assert r.json()["total_count"] == 1


def test_rows_carry_input_and_output_as_text_and_include_fields_cuts_them(client: TestClient) -> None:
    _load(client, _spans(2))
    row = _list(client, "sort_by=timestamp")["results"][0]
    assert row["input"] == '[{"role":"user","content":"question 0"}]'
    assert row["output"] == '{"role":"assistant","content":"answer 0"}'
    assert row["id"] == row["unique_id"]
    assert row["customer_identifier"] == "c0"
    cut = _list(client, "sort_by=timestamp&include_fields=model,cost")["results"][0]
    assert set(cut) == {"id", "unique_id", "model", "cost"}


def test_log_type_query_parameter_filters(client: TestClient) -> None:
    _load(client, _spans(2, log_type="workflow") + _spans(3, log_type="chat"))
    assert _list(client, "log_type=workflow")["total_count"] == 2
    body = {"filters": {"model": {"operator": "", "value": ["gpt-4o"]}}}
    assert _list(client, "log_type=chat", body)["total_count"] == 1


def test_reads_stay_in_the_key_environment_unless_one_is_named(
    settings: Settings, client: TestClient, tenant: Tenant
) -> None:
    test_key = make_tenant(settings, organization=tenant.organization, environment="test")
    _load(client, _spans(2))
    _load(client, _spans(3), headers=test_key.headers)
    assert _list(client)["total_count"] == 2
    assert _list(client, headers=test_key.headers)["total_count"] == 3
    assert _list(client, "environment=test")["total_count"] == 3
    assert _list(client, "environment=prod", headers=test_key.headers)["total_count"] == 2
    assert _list(client, "all_envs=true")["total_count"] == 5
    assert _list(client, "is_test=true")["total_count"] == 3
    body = {"filters": {"environment": {"operator": "", "value": ["test"]}}}
    assert _list(client, "all_envs=true", body)["total_count"] == 3
    # Summaries and single spans follow the same rule.
    one = _list(client, headers=test_key.headers)["results"][0]["unique_id"]
    assert client.get(f"/api/request-logs/{one}/").status_code == 404
    assert client.get(f"/api/request-logs/{one}/?environment=test").status_code == 200
    summary = client.post(f"/api/request-logs/summary/?{WINDOW}", json={}).json()
    assert summary["number_of_requests"] == 2


def test_no_filter_id_or_sort_reaches_another_organization(settings: Settings, client: TestClient) -> None:
    other = make_tenant(settings)
    _load(client, _spans(4, metadata={"team": "mine"}, trace_unique_id="shared-trace"))
    _load(client, _spans(5, metadata={"team": "theirs"}, trace_unique_id="shared-trace"), headers=other.headers)
    mine = _list(client, "sort_by=-cost")
    assert mine["total_count"] == 4
    theirs = _list(client, headers=other.headers)
    their_ids = [r["unique_id"] for r in theirs["results"]]
    for body in (
        {"filters": {"unique_id": {"operator": "in", "value": their_ids}}},
        {"filters": {"metadata__team": {"operator": "", "value": ["theirs"]}}},
        {"filters": {"trace_unique_id": {"operator": "", "value": ["shared-trace"]}}},
        {"filters": {"customer_identifier": {"operator": "not", "value": ["nobody"]}}},
    ):
        rows = _list(client, "all_envs=true", body)["results"]
        assert all(r["unique_id"] not in their_ids for r in rows), body
    for uid in their_ids:
        assert client.get(f"/api/request-logs/{uid}/?all_envs=true").status_code == 404
    summary = client.post(f"/api/request-logs/summary/?{WINDOW}", json={}).json()
    assert summary["number_of_requests"] == 4


def _all_pages(client: TestClient, window: str, body: dict[str, Any]) -> tuple[int, set[str]]:
    total, number = 0, 1
    seen: set[str] = set()
    while True:
        r = client.post(f"{LIST}?{window}&page={number}&page_size=100", json=body)
        assert r.status_code == 200, r.text
        page = r.json()
        total = page["total_count"]
        if not page["results"]:
            return total, seen
        seen |= {row["unique_id"] for row in page["results"]}
        number += 1


def test_metadata_counts_over_whole_hours_stay_exact_after_deletes_and_patches(client: TestClient) -> None:
    """A metadata equality is counted from per-hour counts of its pair for the window's whole hours: they
    must follow every span written, deleted (by trace) and re-tagged (PATCH)."""
    logs = [
        {
            "model": "m",
            "timestamp": _iso(BASE + timedelta(minutes=37 * i)),
            "trace_unique_id": f"t{i % 9}",
            "span_unique_id": f"s{i}",
            "metadata": {"plan": "pro" if i % 3 else "free", "n": str(i)},
        }
        for i in range(240)
    ]
    _load(client, logs)
    windows = [
        f"start_time={_iso(BASE - timedelta(hours=1))}&end_time={_iso(BASE + timedelta(days=7))}",
        f"start_time={_iso(BASE + timedelta(minutes=50))}&end_time={_iso(BASE + timedelta(hours=70, minutes=10))}",
    ]
    pro = {"filters": {"metadata__plan": {"operator": "", "value": ["pro"]}}}

    def check() -> None:
        for window in windows:
            total, seen = _all_pages(client, window, pro)
            assert total == len(seen), window
            # The same condition through a shape that cannot use the counts: a scan of the window.
            scanned = {"filters": {"metadata__plan": [{"operator": "", "value": ["pro"]}], "model": "m"}}
            assert _all_pages(client, window, scanned) == (total, seen)

    check()
    assert client.delete("/api/traces/t4/").json()["deleted_count"] == 1
    check()
    some = _all_pages(client, windows[0], pro)[1]
    for uid in sorted(some)[:10]:
        assert client.patch(f"/api/request-logs/{uid}/", json={"metadata": {"plan": "free"}}).status_code == 200
    check()
    assert _all_pages(client, windows[0], pro)[0] == len(some) - 10
