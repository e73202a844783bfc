"""Migrations on data: spans stored under revision 0001 are found by every read of the read path
once 0002 ran (it derives their tags, trace, thread, customer and rollup rows)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import text

from spanbase.app import create_app
from spanbase.domain.spans import trace_key
from spanbase.settings import Settings
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.migrate import MIGRATIONS
from tests.conftest import make_tenant

_TS = 1_796_032_800_000_000  # 2026-11-30T10:00:00Z


def _to(engine_settings: Settings, revision: str) -> None:
    """Up or down to `revision` (the PostgreSQL database of a test run is at head after other tests)."""
    engine = make_engine(engine_settings)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def test_spans_from_before_the_read_path_are_read_after_it(settings: Settings) -> None:
    _to(settings, "0001")
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organizations (uid, name, created_us) VALUES ('u1', 'old', 0)"))
        org_id = conn.execute(text("SELECT id FROM organizations WHERE name = 'old'")).scalar_one()
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO spans (id, unique_id, org_id, environment, timestamp_us, start_time_us, latency,"
                    " trace_unique_id, trace_key, span_unique_id, span_parent_id, customer_identifier,"
                    " thread_identifier, model, log_type, log_method, status, status_code, stream, has_tool_calls,"
                    " is_pinned, cost, prompt_tokens, completion_tokens, total_request_tokens,"
                    " prompt_cache_hit_tokens, prompt_cache_creation_tokens, reasoning_tokens, metadata, created_us)"
                    " VALUES (:id, :uid, :org, 'prod', :ts, :ts, 1.5, 'old-trace', :key, :sid, :parent, 'old-customer',"
                    " 'old-thread', 'gpt-4o', 'chat', 'batch', 'success', 200, false, false, false, 0.5, 10, 2, 12,"
                    " 0, 0, 0, :metadata, 0)"
                ),
                {
                    "id": i + 1,
                    "uid": f"{i + 1:016x}{'0' * 16}",
                    "org": org_id,
                    "ts": _TS + i,
                    "key": trace_key("old-trace"),
                    "sid": f"s{i}",
                    "parent": None if i == 0 else "s0",
                    "metadata": '{"plan": "pro"}',
                },
            )
            conn.execute(text("INSERT INTO span_payloads (span_id, body) VALUES (:id, '{}')"), {"id": i + 1})
    engine.dispose()
    tenant = make_tenant(settings, organization="old")
    window = "start_time=2026-11-30T00:00:00Z&end_time=2026-11-30T23:00:00Z"
    with TestClient(create_app(settings, say=lambda _: None), headers=tenant.headers) as client:
        summary = client.post(f"/api/request-logs/summary/?{window}", json={}).json()
        assert summary["number_of_requests"] == 3
        assert summary["total_cost"] == 1.5
        tagged = client.post(f"/api/request-logs/list/?{window}", json={"filters": {"metadata__plan": "pro"}})
        assert tagged.json()["total_count"] == 3
        tree = client.get("/api/traces/old-trace/").json()
        assert [n["span_unique_id"] for n in tree["span_tree"]] == ["s0"]
        assert len(tree["span_tree"][0]["children"]) == 2
        assert client.get("/api/users/old-customer/").json()["number_of_requests"] == 3
        assert client.get("/api/threads/old-thread/").json()["number_of_requests"] == 3
        # A resend of a span stored then is still recognised (its trace row and day were derived).
        resend = {"model": "gpt-4o", "trace_unique_id": "old-trace", "span_unique_id": "s1"}
        again = client.post("/api/request-logs/bulk/", json={"logs": [{**resend, "timestamp": "2026-11-30T10:00:00Z"}]})
        assert again.status_code == 201
        assert client.post(f"/api/request-logs/summary/?{window}", json={}).json()["number_of_requests"] == 3
