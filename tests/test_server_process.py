"""What only a real server process shows: crashes, graceful stops, back-pressure, metrics, first start.

Each test starts `python -m spanbase serve` (tests/server_process.py) on both stores and checks what was
acknowledged against what the database holds, read with a connection of our own. Tests of behaviour
that does not depend on the store run on SQLite only.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from spanbase.domain.keys import new_key
from spanbase.settings import Settings
from tests.server_process import (
    BULK,
    KEY_PATTERN,
    Load,
    ServerProcess,
    bulk_body,
    init_env,
    post_bulk,
    query,
    spans_per_trace,
    unique_id_of,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """One store only, for the bugs that do not depend on it (the suite's `settings` runs both)."""
    return Settings(data_dir=tmp_path / "data", sqlite_synchronous="NORMAL")


def assert_acknowledged_stored(settings: Settings, load: Load, acknowledged: list[str]) -> None:
    """Every span of every acknowledged request is in the database; no request is stored in part."""
    stored = spans_per_trace(settings)
    missing = {t: stored.get(t, 0) for t in acknowledged if stored.get(t, 0) != load.spans}
    assert not missing, f"acknowledged requests not (fully) stored: {missing}"
    partial = {t: n for t, n in stored.items() if n != load.spans}
    assert not partial, f"requests stored in part: {partial}"
    sent = {o.trace for o in load.outcomes}
    assert set(stored) <= sent, set(stored) - sent


# -- 1. SIGKILL ------------------------------------------------------------------------------------


def test_sigkill_loses_no_acknowledged_span(settings: Settings) -> None:
    key = new_key("prod")
    with ServerProcess(settings, init_env(key)) as server:
        with Load(server.url, key) as load:
            time.sleep(1.5)
            server.kill()
            assert server.wait(10) == -9
        acknowledged = load.acknowledged()
    assert {o.status for o in load.outcomes} <= {201, None}, [o for o in load.outcomes if o.status not in (201, None)]
    assert len(acknowledged) > 0, "no request was acknowledged before the kill: the test proves nothing"
    assert any(o.status is None for o in load.outcomes), "the kill interrupted no client"

    with ServerProcess(settings, init_env(key)) as server, server.client(key) as client:
        assert_acknowledged_stored(settings, load, acknowledged)
        # And through the API: the first and the last span of every acknowledged request.
        for trace in acknowledged:
            for span in ("s0", f"s{load.spans - 1}"):
                r = client.get(f"/api/request-logs/{unique_id_of(settings, 'acme', trace, span)}/")
                assert r.status_code == 200, (trace, span, r.text)
                assert (r.json()["trace_unique_id"], r.json()["span_unique_id"]) == (trace, span)
        # The restarted server takes writes as before.
        assert post_bulk(client, f"after-restart-{uuid.uuid4().hex}", 10).status_code == 201


# -- 2. SIGTERM ------------------------------------------------------------------------------------


def test_sigterm_answers_in_flight_requests_then_stops(settings: Settings) -> None:
    key = new_key("prod")
    with ServerProcess(settings, init_env(key)) as server:
        with Load(server.url, key) as load:
            time.sleep(1.0)
            terminated_at = time.monotonic()
            server.terminate()
            status = server.wait(20)
        acknowledged = load.acknowledged()
        # A graceful stop: the app's shutdown (which commits what the writer still holds) ran to the end.
        assert "Application shutdown complete" in server.stderr(), server.describe()
        assert status == 0, server.describe()

        # No 5xx, ever: each request got its 201 or, once the server was going, a connection error.
        assert {o.status for o in load.outcomes} <= {201, None}, [o for o in load.outcomes if o.status != 201]
        assert len(acknowledged) > 0
        # The requests in flight at the SIGTERM were answered, not dropped.
        assert any(o.status == 201 and o.answered_at > terminated_at for o in load.outcomes), load.outcomes
        assert_acknowledged_stored(settings, load, acknowledged)

        with pytest.raises(httpx.ConnectError), server.client(key, timeout=5.0) as client:
            post_bulk(client, "after-stop", 1)


def test_sigterm_exit_status_is_zero(sqlite_settings: Settings) -> None:
    with ServerProcess(sqlite_settings, init_env(new_key("prod"))) as server:
        server.terminate()
        assert server.wait(20) == 0


# -- 3. The write queue bound ----------------------------------------------------------------------


@contextmanager
def writer_blocked(settings: Settings) -> Iterator[None]:
    """Hold the store's write lock from another connection, so the server's writer waits on it."""
    if settings.database_url:
        with psycopg.connect(settings.database_url) as pg:
            pg.execute("LOCK TABLE spans IN ACCESS EXCLUSIVE MODE")  # in the transaction psycopg opened
            try:
                yield
            finally:
                pg.rollback()
        return
    lite = sqlite3.connect(settings.sqlite_path, isolation_level=None, timeout=10.0)
    try:
        lite.execute("BEGIN IMMEDIATE")
        yield
        lite.execute("ROLLBACK")
    finally:
        lite.close()


def metric_samples(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def otlp_body(n: int) -> bytes:
    """An OTLP protobuf request of `n` spans of one new trace."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    trace = os.urandom(16)
    for i in range(n):
        spans.add(trace_id=trace, span_id=os.urandom(8), name=f"s{i}", start_time_unix_nano=time.time_ns())
    return request.SerializeToString()


def queued(client: httpx.Client) -> float:
    return metric_samples(client)[("spanbase_write_queue_spans", frozenset())]


def test_full_write_queue_answers_429_and_the_queued_requests_complete(settings: Settings) -> None:
    key = new_key("prod")
    env = init_env(key, SPANBASE_WRITE_QUEUE_MAX_SPANS="600")
    with (
        ServerProcess(settings, env) as server,
        server.client(key) as client,
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        run = uuid.uuid4().hex[:8]

        def send(trace: str, n: int) -> Future[httpx.Response]:
            return pool.submit(post_bulk, client, f"{run}-{trace}", n)

        with writer_blocked(settings):
            a = send("a", 500)  # taken by the writer, which now waits for the lock
            wait_for(lambda: queued(client) == 500, "request a in the write queue")
            b = send("b", 100)  # 500 + 100 <= 600: queued behind it
            wait_for(lambda: queued(client) == 600, "request b in the write queue")
            # Beyond the bound, bulk and single creates are refused at once, while the writer is blocked.
            refused = [send("c", 500), send("d", 1), send("e", 500)]
            single = pool.submit(
                client.post, "/api/request-logs/", json={"model": "gpt-4o", "trace_unique_id": f"{run}-f"}
            )
            # OTLP exporters retry a 503 (not a 429) after Retry-After.
            otlp = pool.submit(
                client.post, "/v1/traces", content=otlp_body(200), headers={"Content-Type": "application/x-protobuf"}
            )
            for r, status in [(f.result(timeout=15), 429) for f in [*refused, single]] + [(otlp.result(15), 503)]:
                assert r.status_code == status, r.text
                retry_after = r.headers["Retry-After"]
                assert retry_after.isdigit() and int(retry_after) >= 1
                body = r.json()
                assert isinstance(body["detail"], str) and body["detail"]
                assert body["retry_after"] == int(retry_after)
            assert not a.done() and not b.done(), "the queued requests must wait for their commit"
            assert queued(client) == 600

        ra, rb = a.result(timeout=30), b.result(timeout=30)
        assert (ra.status_code, ra.json()["success_count"]) == (201, 500), ra.text
        assert (rb.status_code, rb.json()["success_count"]) == (201, 100), rb.text
        wait_for(lambda: queued(client) == 0, "an empty write queue")
        assert post_bulk(client, f"{run}-g", 500).status_code == 201  # room again

        stored = {t.removeprefix(f"{run}-"): n for t, n in spans_per_trace(settings).items()}
        assert stored == {"a": 500, "b": 100, "g": 500}
        statuses = {
            dict(labels)["status"] for name, labels in metric_samples(client) if name == "spanbase_http_requests_total"
        }
        assert statuses == {"200", "201", "429", "503"}, statuses  # 503 only for the refused OTLP request


# -- 4. /metrics -----------------------------------------------------------------------------------


def test_metrics_count_requests_spans_and_commits(settings: Settings) -> None:
    key = new_key("prod")
    with ServerProcess(settings, init_env(key)) as server, server.client(key) as client:
        for i, n in enumerate((100, 200, 300)):
            assert post_bulk(client, f"m{i}", n).status_code == 201
        assert client.post("/api/request-logs/", json={"model": "gpt-4o"}).status_code == 200
        denied = client.post(BULK, content=bulk_body("denied", 5), headers={"Authorization": "Bearer sb_live_nope"})
        assert denied.status_code == 401

        r = httpx.get(f"{server.url}/metrics", timeout=10.0)  # no key
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        for name in (
            "spanbase_http_requests_total",
            "spanbase_spans_written_total",
            "spanbase_write_queue_spans",
            "spanbase_commit_seconds",
        ):
            assert name in r.text, name
        samples = metric_samples(client)

        def sample(name: str, **labels: str) -> float:
            return samples[(name, frozenset(labels.items()))]

        requests = "spanbase_http_requests_total"
        assert sample(requests, method="POST", route="/api/request-logs/bulk", status="201") == 3
        assert sample(requests, method="POST", route="/api/request-logs/bulk", status="401") == 1
        assert sample(requests, method="POST", route="/api/request-logs", status="200") == 1
        assert sample("spanbase_spans_written_total") == 601 == sum(spans_per_trace(settings).values())
        assert sample("spanbase_write_queue_spans") == 0
        commits = sample("spanbase_commit_seconds_count")
        assert commits == 4  # one transaction per request: each was sent after the previous one's answer
        assert sample("spanbase_commit_seconds_bucket", le="+Inf") == commits
        assert sample("spanbase_commit_seconds_sum") > 0


# -- 5. The first start ----------------------------------------------------------------------------


def test_first_start_without_a_key_prints_one_that_works(settings: Settings) -> None:
    env = {"SPANBASE_INIT_API_KEY": ""}
    with ServerProcess(settings, env) as server:
        printed = KEY_PATTERN.findall(server.stdout())
        assert len(printed) == 1, server.describe()
        key = printed[0]
        assert key not in server.stderr()
        with server.client(key) as client:
            r = client.post("/api/request-logs/", json={"model": "gpt-4o", "custom_identifier": "first"})
            assert r.status_code == 200, r.text
            assert r.json()["custom_identifier"] == "first"

    with ServerProcess(settings, env) as server:
        assert KEY_PATTERN.findall(server.stdout()) == [], server.describe()
        with server.client(key) as client:
            assert client.post("/api/request-logs/", json={"model": "gpt-4o"}).status_code == 200
    assert query(settings, "SELECT count(*) FROM api_keys") == [(1,)]


def test_first_start_prints_the_key_whatever_the_organization_name(sqlite_settings: Settings) -> None:
    env = {"SPANBASE_INIT_API_KEY": "", "SPANBASE_INIT_ORGANIZATION": "r&d [/] team"}
    with ServerProcess(sqlite_settings, env) as server:
        assert len(KEY_PATTERN.findall(server.stdout())) == 1


def test_a_rotated_init_key_with_the_same_first_characters_starts(sqlite_settings: Settings) -> None:
    with ServerProcess(sqlite_settings, init_env("spanbase-dev-key-1")):
        pass
    with (
        ServerProcess(sqlite_settings, init_env("spanbase-dev-key-2")) as server,
        server.client("spanbase-dev-key-2") as c,
    ):
        assert c.post("/api/request-logs/", json={"model": "gpt-4o"}).status_code == 200
