"""The `spanbase keys` command, run as a real process on both stores, also while a server runs on them.

Tests of behaviour that does not depend on the store run on SQLite only.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from spanbase.domain.keys import key_prefix, new_key
from spanbase.settings import Settings
from spanbase.storage.sql import migrate
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.keys import KeyStore
from tests.conftest import make_tenant
from tests.server_process import KEY_PATTERN, Load, ServerProcess, init_env, query, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """One store only, for the bugs that do not depend on it (the suite's `settings` runs both)."""
    return Settings(data_dir=tmp_path / "data", sqlite_synchronous="NORMAL")


WIDE = {"COLUMNS": "200"}  # a wide terminal, so no table cell is cut
LIVE_KEY = re.compile(r"sb_live_[A-Za-z0-9_-]{43}")
TEST_KEY = re.compile(r"sb_test_[A-Za-z0-9_-]{43}")
PREFIX = re.compile(r"sb_(?:live|test)_[A-Za-z0-9_-]{8}")  # a key's first 16 characters (key_prefix)


def create_key(settings: Settings, *args: str) -> tuple[str, str]:
    """`spanbase keys create ARGS`: the key (its last line of output) and the whole output."""
    r = run_cli(settings, "keys", "create", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines, r.stderr
    return lines[-1], r.stdout


def key_rows(output: str) -> dict[str, list[str]]:
    """prefix -> [organization, environment, name, created, revoked]: the rows of `keys list`."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line)][1:-1]
        if len(cells) == 6 and PREFIX.fullmatch(cells[0]):
            rows[cells[0]] = cells[1:]
    return rows


def list_keys(settings: Settings) -> dict[str, list[str]]:
    r = run_cli(settings, "keys", "list", env_extra=WIDE)
    assert r.returncode == 0, r.stdout + r.stderr
    return key_rows(r.stdout)


def test_keys_made_by_the_cli_work_at_once_on_the_running_server(settings: Settings) -> None:
    admin = new_key("prod")
    with ServerProcess(settings, init_env(admin, organization="ops")) as server:
        # The server keeps writing while the CLI writes keys to the same store.
        with Load(server.url, admin, clients=1, spans=100, max_requests=300, pause=0.05) as load:
            prod, out = create_key(settings, "--organization", "acme")
            assert LIVE_KEY.fullmatch(prod), out
            assert "'acme'" in out and "'prod'" in out
            with server.client(prod) as client:
                r = client.post("/api/request-logs/", json={"model": "gpt-4o", "custom_identifier": "by-prod"})
                assert r.status_code == 200, r.text
                prod_span = r.json()
            assert prod_span["environment"] == "prod"

            test, out = create_key(settings, "--organization", "acme", "--environment", "test")
            assert TEST_KEY.fullmatch(test), out
            with server.client(test) as client:
                r = client.post("/api/request-logs/", json={"model": "gpt-4o", "environment": "prod"})
                assert r.status_code == 200, r.text
                test_span = r.json()
                assert test_span["environment"] == "test"  # the key's environment, whatever the body says
                again = client.get(f"/api/request-logs/{test_span['unique_id']}/")
                assert again.status_code == 200 and again.json()["environment"] == "test"
            rows = list_keys(settings)
        assert load.outcomes and {o.status for o in load.outcomes} == {201}, load.outcomes

    stored = query(settings, "SELECT environment FROM spans WHERE unique_id = ?", [test_span["unique_id"]])
    assert stored == [("test",)]
    # One organization "acme" for both keys (created by the first, found by the second), not "ops".
    assert prod_span["organization_id"] == test_span["organization_id"]
    assert query(settings, "SELECT count(*) FROM organizations WHERE name = 'acme'") == [(1,)]
    assert rows[key_prefix(prod)][:2] == ["acme", "prod"]
    assert rows[key_prefix(test)][:2] == ["acme", "test"]
    assert rows[key_prefix(admin)][:3] == ["ops", "prod", "SPANBASE_INIT_API_KEY"]
    assert all(row[3] and not row[4] for row in rows.values())  # created, not revoked
    assert len(rows) == 3


def test_a_revoked_key_is_refused_by_the_running_server(settings: Settings) -> None:
    admin = new_key("prod")
    env = init_env(admin, SPANBASE_KEY_CACHE_SECONDS="0")
    with ServerProcess(settings, env) as server:
        key, _ = create_key(settings, "--organization", "acme")
        with server.client(key) as client:
            assert client.post("/api/request-logs/", json={"model": "gpt-4o"}).status_code == 200

            r = run_cli(settings, "keys", "revoke", key_prefix(key))
            assert r.returncode == 0, r.stdout + r.stderr
            assert key_prefix(key) in r.stdout

            refused = client.post("/api/request-logs/", json={"model": "gpt-4o"})
            assert refused.status_code == 401, refused.text
            assert isinstance(refused.json()["detail"], str)
        with server.client(admin) as client:  # the other key is untouched
            assert client.post("/api/request-logs/", json={"model": "gpt-4o"}).status_code == 200

        again = run_cli(settings, "keys", "revoke", key_prefix(key))  # no active key has it any more
        assert again.returncode != 0, again.stdout
    revoked = query(settings, "SELECT prefix FROM api_keys WHERE revoked_us IS NOT NULL")
    assert revoked == [(key_prefix(key),)]


def test_revoking_an_unknown_prefix_fails(settings: Settings) -> None:
    tenant = make_tenant(settings)
    r = run_cli(settings, "keys", "revoke", "sb_live_nope")
    assert r.returncode != 0
    assert "sb_live_nope" in r.stdout + r.stderr
    assert query(settings, "SELECT prefix FROM api_keys WHERE revoked_us IS NULL") == [(key_prefix(tenant.key),)]


def test_create_refuses_an_unknown_environment(settings: Settings) -> None:
    make_tenant(settings)
    r = run_cli(settings, "keys", "create", "--organization", "acme", "--environment", "staging")
    assert r.returncode != 0
    assert "prod or test" in r.stdout + r.stderr
    assert not KEY_PATTERN.search(r.stdout)
    assert query(settings, "SELECT count(*) FROM api_keys") == [(1,)]


def test_keys_list_shows_whole_prefixes_when_piped(sqlite_settings: Settings) -> None:
    # What a first start leaves: one key, named "first start", of the organization "default".
    key = new_key("prod")
    engine = make_engine(sqlite_settings)
    try:
        migrate.upgrade(engine)
        KeyStore(engine).add(key, "default", "prod", name="first start")
    finally:
        engine.dispose()
    r = run_cli(sqlite_settings, "keys", "list")  # no COLUMNS: what a pipe or a script gets
    assert r.returncode == 0, r.stderr
    assert key_prefix(key) in r.stdout, r.stdout


def test_keys_create_shows_any_organization_name_verbatim(sqlite_settings: Settings) -> None:
    organization = "r&d [/] [bold]team"
    r = run_cli(sqlite_settings, "keys", "create", "--organization", organization)
    assert r.returncode == 0, r.stdout + r.stderr
    assert organization in r.stdout
    assert LIVE_KEY.fullmatch(r.stdout.strip().splitlines()[-1])


def test_keys_for_a_new_organization_can_be_made_at_the_same_time(
    settings: Settings,
) -> None:
    """What `keys create --organization X` does (KeyStore.add), from 8 processes' worth of engines at once.

    Real CLI processes start too unevenly (~2 s of imports each) to meet in the few milliseconds between
    the SELECT and the INSERT of a new organization, so threads with their own engines stand in for them.
    """
    engines = [make_engine(settings) for _ in range(8)]
    try:
        migrate.upgrade(engines[0])
        errors: list[BaseException] = []

        def create(engine: Engine, organization: str, barrier: threading.Barrier) -> None:
            barrier.wait()
            try:
                KeyStore(engine).add(new_key("prod"), organization, "prod")
            except Exception as error:
                errors.append(error)

        for trial in range(3):
            barrier = threading.Barrier(len(engines), timeout=30)
            threads = [
                threading.Thread(target=create, args=(engine, f"new-org-{trial}", barrier)) for engine in engines
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert not errors, errors[:3]
        assert query(settings, "SELECT count(*) FROM organizations") == [(3,)]
        assert query(settings, "SELECT count(*) FROM api_keys") == [(3 * len(engines),)]
    finally:
        for engine in engines:
            engine.dispose()
