"""Auth on every /api call; spans stored under the key's organization and environment, and kept there."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from spanbase.domain.keys import key_prefix
from spanbase.settings import Settings
from spanbase.storage.sql import migrate
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.keys import KeyStore
from tests.conftest import Tenant, make_tenant
from tests.test_create_span import create

API_CALLS = [
    ("POST", "/api/request-logs/"),
    ("POST", "/api/request-logs/create/"),
    ("POST", "/api/logs/create/"),
    ("POST", "/api/request-logs/bulk/"),
    ("GET", "/api/request-logs/0123456789abcdef0123456789abcdef/"),
]


@pytest.mark.parametrize(("method", "path"), API_CALLS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_missing_or_unknown_key_is_401(client: TestClient, method: str, path: str, headers: dict[str, str]) -> None:
    client.headers.pop("Authorization")
    r = client.request(method, path, json={"model": "m"}, headers=headers)
    assert r.status_code == 401
    assert isinstance(r.json()["detail"], str)


def test_revoked_key_is_401(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    assert client.post("/api/request-logs/", json={"model": "m"}).status_code == 200
    engine = make_engine(settings)
    assert KeyStore(engine).revoke(key_prefix(tenant.key)) == 1
    engine.dispose()
    client.app.state.key_cache._cache.clear()  # type: ignore[attr-defined]  # skip the 1 s cache
    assert client.post("/api/request-logs/", json={"model": "m"}).status_code == 401


def test_health_needs_no_key(client: TestClient) -> None:
    client.headers.pop("Authorization")
    assert client.get("/health").json() == {"status": "ok"}


def test_another_organization_never_sees_a_span(settings: Settings, client: TestClient) -> None:
    mine = create(client, {"model": "m", "trace_unique_id": "t", "span_unique_id": "s", "customer_identifier": "a"})
    other = make_tenant(settings)
    r = client.get(f"/api/request-logs/{mine['unique_id']}/", headers=other.headers)
    assert r.status_code == 404
    # The same client ids in the other organization make a different span; neither overwrites the other.
    theirs = client.post(
        "/api/request-logs/",
        json={"model": "m", "trace_unique_id": "t", "span_unique_id": "s", "customer_identifier": "b"},
        headers=other.headers,
    ).json()
    assert theirs["unique_id"] != mine["unique_id"]
    assert theirs["customer_identifier"] == "b"
    assert client.get(f"/api/request-logs/{mine['unique_id']}/").json()["customer_identifier"] == "a"
    assert theirs["organization_id"] != mine["organization_id"]


def test_spans_take_the_environment_of_the_key(settings: Settings, client: TestClient, tenant: Tenant) -> None:
    test_key = make_tenant(settings, organization=tenant.organization, environment="test")
    created = client.post("/api/request-logs/", json={"model": "m"}, headers=test_key.headers).json()
    assert created["environment"] == "test"
    # Reads are scoped to the key's environment unless the request names the other one (spec §13.9).
    assert client.get(f"/api/request-logs/{created['unique_id']}/").status_code == 404
    named = client.get(f"/api/request-logs/{created['unique_id']}/?environment=test")
    assert named.json()["environment"] == "test"


def test_a_shared_prefix_revokes_nothing_and_the_whole_key_revokes_one(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        keys = KeyStore(engine)
        first, second = "spanbase-dev-key-1", "spanbase-dev-key-2"  # chosen keys: same first 16 characters
        assert keys.add(first, "acme", "prod") and keys.add(second, "acme", "prod")
        assert not keys.add(first, "acme", "prod")  # the same key twice is stored once
        assert keys.revoke(key_prefix(first)) == 2  # ambiguous: nothing revoked
        assert keys.principal(first) is not None and keys.principal(second) is not None
        assert keys.revoke(second) == 1
        assert keys.principal(second) is None
        assert keys.principal(first) is not None
        assert keys.revoke(key_prefix(first)) == 1  # now only one active key has that prefix
        assert keys.principal(first) is None
    finally:
        engine.dispose()
