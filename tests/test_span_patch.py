"""PATCH /api/request-logs/{unique_id}/ (spec §2.5): is_pinned, positive_feedback (null clears it), note,
metadata merged into the stored one; anything else refused by name; never another tenant's span.
After a PATCH, every read that filters on the changed fields sees the new values and not the old."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from spanbase.settings import Settings
from tests.conftest import Tenant, make_tenant
from tests.test_traces import WINDOW, bulk, eq, get_trace, list_spans, list_traces, op, span, summary

Json = dict[str, Any]


def create(client: TestClient, body: Json, headers: dict[str, str] | None = None) -> Json:
    r = client.post("/api/request-logs/", json=body, headers=headers)
    assert r.status_code == 200, r.text
    created: Json = r.json()
    return created


def retrieve(client: TestClient, unique_id: str, headers: dict[str, str] | None = None) -> Json:
    r = client.get(f"/api/request-logs/{unique_id}/", headers=headers)
    assert r.status_code == 200, r.text
    found: Json = r.json()
    return found


def patch(client: TestClient, unique_id: str, body: Any, headers: dict[str, str] | None = None) -> Json:
    r = client.patch(f"/api/request-logs/{unique_id}/", json=body, headers=headers)
    assert r.status_code == 200, r.text
    patched: Json = r.json()
    return patched


def assert_only_changed(before: Json, after: Json, changed: Json) -> None:
    """`after` is `before` with exactly the `changed` fields set."""
    for key, value in changed.items():
        assert after[key] == value, (key, after[key], value)
    assert {k: v for k, v in after.items() if k not in changed} == {k: v for k, v in before.items() if k not in changed}


def ids_where(client: TestClient, filters: Any) -> set[str]:
    return {s["unique_id"] for s in list_spans(client, filters)["results"]}


@pytest.fixture
def two_spans(client: TestClient) -> tuple[Json, Json]:
    """The root and a child of one trace, at fixed times inside WINDOW."""
    root = create(
        client,
        span(
            "t",
            "root",
            None,
            start=0,
            cost=0.25,
            prompt=10,
            completion=5,
            customer_identifier="cu",
            metadata={"a": "1", "b": "2", "_hidden": "h"},
        ),
    )
    child = create(client, span("t", "kid", "root", start=1, cost=0.5, metadata={"b": "2"}))
    return root, child


def test_pin_feedback_and_note(client: TestClient, two_spans: tuple[Json, Json]) -> None:
    root, child = two_spans
    uid = root["unique_id"]
    state = retrieve(client, uid)
    assert state["is_pinned"] is False and state["positive_feedback"] is None and state["note"] is None
    steps: list[Json] = [
        {"is_pinned": True},
        {"positive_feedback": True},
        {"positive_feedback": False},
        {"note": "looks right"},
        {"positive_feedback": None},  # null clears the feedback
        {"note": "second thoughts", "is_pinned": False, "positive_feedback": True},
        {},  # nothing to change: nothing changes
    ]
    for body in steps:
        answer = patch(client, uid, body)
        stored = retrieve(client, uid)
        assert answer == stored  # the answer is the stored span
        assert_only_changed(state, stored, body)
        state = stored
    # The child was never touched.
    kid = retrieve(client, child["unique_id"])
    assert kid["is_pinned"] is False and kid["positive_feedback"] is None and kid["note"] is None


def test_patched_fields_are_what_filters_see(client: TestClient, two_spans: tuple[Json, Json]) -> None:
    root, child = two_spans
    uid = root["unique_id"]
    patch(client, uid, {"positive_feedback": True, "is_pinned": True, "note": "a needle here"})
    assert ids_where(client, {"positive_feedback": eq(True)}) == {uid}
    assert ids_where(client, {"is_pinned": eq(True)}) == {uid}
    assert ids_where(client, {"is_pinned": eq(False)}) == {child["unique_id"]}
    assert ids_where(client, {"note": op("contains", "needle")}) == {uid}
    patch(client, uid, {"positive_feedback": None, "note": "nothing"})
    assert ids_where(client, {"positive_feedback": eq(True)}) == set()
    assert ids_where(client, {"positive_feedback": eq(False)}) == set()  # cleared is neither
    assert ids_where(client, {"note": op("contains", "needle")}) == set()


def test_metadata_is_merged_not_replaced(client: TestClient, two_spans: tuple[Json, Json]) -> None:
    root, child = two_spans
    uid = root["unique_id"]
    before = retrieve(client, uid)
    assert before["metadata"] == {"a": "1", "b": "2"}
    trace_before = get_trace(client, "t")

    answer = patch(client, uid, {"metadata": {"b": "3", "c": 4}})
    merged = {"a": "1", "b": "3", "c": "4"}  # values are strings (spec §13.10); "_hidden" stays hidden
    assert answer["metadata"] == merged
    assert_only_changed(before, retrieve(client, uid), {"metadata": merged})
    assert retrieve(client, child["unique_id"])["metadata"] == {"b": "2"}

    # The span list's metadata filters see the new value and not the old, by every operator.
    assert ids_where(client, {"metadata__b": eq("3")}) == {uid}
    assert ids_where(client, {"metadata__b": eq("2")}) == {child["unique_id"]}
    assert ids_where(client, {"metadata__b": {"operator": "in", "value": ["2", "3"]}}) == {uid, child["unique_id"]}
    assert ids_where(client, {"metadata__b": op("contains", "3")}) == {uid}
    assert ids_where(client, {"metadata__b": op("not", "2")}) == {uid}
    assert ids_where(client, {"metadata__a": eq("1")}) == {uid}
    assert ids_where(client, {"metadata__c": eq("4")}) == {uid}
    assert ids_where(client, {"metadata__c": op("has_key", True)}) == {uid}
    # So do summaries and the traces list (a trace matches when one of its spans does).
    assert summary(client, {"metadata__b": eq("3")})["number_of_requests"] == 1
    assert summary(client, {"metadata__b": eq("3")})["total_cost"] == pytest.approx(0.25)
    assert summary(client, {"metadata__c": eq("4")})["number_of_requests"] == 1
    assert [t["trace_unique_id"] for t in list_traces(client, {"metadata__c": eq("4")})["results"]] == ["t"]
    assert list_traces(client, {"metadata__a": eq("2")})["count"] == 0

    # A second merge over the first; an empty one changes nothing.
    patch(client, uid, {"metadata": {"a": "9"}})
    patch(client, uid, {"metadata": {}})
    merged = {"a": "9", "b": "3", "c": "4"}
    assert retrieve(client, uid)["metadata"] == merged
    assert ids_where(client, {"metadata__a": eq("1")}) == set()
    assert ids_where(client, {"metadata__a": eq("9")}) == {uid}
    assert ids_where(client, {"metadata__a": op("startswith", "1")}) == set()

    # The trace shows its root's new metadata; nothing else of it moved.
    trace_after = get_trace(client, "t")
    assert trace_after["metadata"] == merged
    assert trace_after["span_tree"][0]["metadata"] == merged
    unchanged = ("span_count", "total_cost", "total_tokens", "start_time", "end_time", "name", "error_count")
    assert {k: trace_after[k] for k in unchanged} == {k: trace_before[k] for k in unchanged}
    assert summary(client)["number_of_requests"] == 2


def test_a_metadata_patch_on_a_span_without_metadata(client: TestClient) -> None:
    bare = create(client, span("t2", "r", None, start=5))
    assert bare["metadata"] == {}
    patch(client, bare["unique_id"], {"metadata": {"new": "yes"}})
    assert retrieve(client, bare["unique_id"])["metadata"] == {"new": "yes"}
    assert ids_where(client, {"metadata__new": eq("yes")}) == {bare["unique_id"]}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"note": "fine", "model": "gpt-5", "cost": 1.0}, {"model", "cost"}),
        ({"is_pinned": "yes"}, {"is_pinned"}),
        ({"is_pinned": None}, {"is_pinned"}),
        ({"positive_feedback": 1}, {"positive_feedback"}),
        ({"note": 5}, {"note"}),
        ({"metadata": [1, 2]}, {"metadata"}),
        ({"metadata": "not json"}, {"metadata"}),
        ({"trace_unique_id": "other", "customer_identifier": "someone"}, {"trace_unique_id", "customer_identifier"}),
    ],
)
def test_what_cannot_change_is_refused_by_name(
    client: TestClient, two_spans: tuple[Json, Json], body: Json, named: set[str]
) -> None:
    uid = two_spans[0]["unique_id"]
    before = retrieve(client, uid)
    r = client.patch(f"/api/request-logs/{uid}/", json=body)
    assert r.status_code == 422, r.text
    assert set(r.json()["errors"]) == named
    assert retrieve(client, uid) == before  # nothing of a refused body is applied


def test_bodies_that_are_not_objects(client: TestClient, two_spans: tuple[Json, Json]) -> None:
    uid = two_spans[0]["unique_id"]
    before = retrieve(client, uid)
    assert client.patch(f"/api/request-logs/{uid}/", json=[{"note": "x"}]).status_code == 422
    r = client.patch(f"/api/request-logs/{uid}/", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert retrieve(client, uid) == before


def test_unknown_ids_are_404(client: TestClient, two_spans: tuple[Json, Json]) -> None:
    real = two_spans[0]["unique_id"]
    other_tag = real[:16] + ("0" if real[16] != "0" else "1") + real[17:]
    other_row = ("f" if real[0] != "f" else "e") + real[1:]
    for uid in ("0123456789abcdef0123456789abcdef", other_tag, other_row, real.upper(), real[:-1], "nope"):
        r = client.patch(f"/api/request-logs/{uid}/", json={"note": "x"})
        assert r.status_code == 404, uid
        assert isinstance(r.json()["detail"], str)
    assert retrieve(client, real)["note"] is None


def test_another_organizations_span_is_never_patched(
    settings: Settings, client: TestClient, two_spans: tuple[Json, Json]
) -> None:
    uid = two_spans[0]["unique_id"]
    before = retrieve(client, uid)
    other = make_tenant(settings)
    for query in ("", "?environment=prod", "?all_envs=true"):
        r = client.patch(
            f"/api/request-logs/{uid}/{query}", json={"note": "mine now", "metadata": {"a": "x"}}, headers=other.headers
        )
        assert r.status_code == 404, query
    assert retrieve(client, uid) == before
    assert ids_where(client, {"metadata__a": eq("x")}) == set()
    # Their own span of the same trace and span ids is theirs to patch, and only theirs changes.
    theirs = create(client, span("t", "root", None, start=0), headers=other.headers)
    assert theirs["unique_id"] != uid
    assert patch(client, theirs["unique_id"], {"note": "theirs"}, headers=other.headers)["note"] == "theirs"
    assert retrieve(client, uid) == before


def test_a_test_key_does_not_patch_prod_spans(
    settings: Settings, client: TestClient, tenant: Tenant, two_spans: tuple[Json, Json]
) -> None:
    uid = two_spans[0]["unique_id"]
    before = retrieve(client, uid)
    test_key = make_tenant(settings, organization=tenant.organization, environment="test").headers
    r = client.patch(f"/api/request-logs/{uid}/", json={"is_pinned": True}, headers=test_key)
    assert r.status_code == 404
    assert retrieve(client, uid) == before
    # A prod key does not patch a test span either.
    bulk(client, [span("tt", "r", None, start=0)], headers=test_key)
    r = client.post("/api/request-logs/list/", params={**WINDOW, "environment": "test"}, json={}, headers=test_key)
    (test_span,) = r.json()["results"]
    assert client.patch(f"/api/request-logs/{test_span['unique_id']}/", json={"note": "x"}).status_code == 404
    assert patch(client, test_span["unique_id"], {"note": "x"}, headers=test_key)["note"] == "x"
