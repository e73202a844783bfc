"""One suite, every store: the `store` fixture runs each test on a SQLite file and on PostgreSQL.

PostgreSQL is this machine's server (127.0.0.1:5432, or SPANBASE_TEST_PG_URL); each test run makes a
fresh database and drops it at the end. No mocks of either database.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient

from spanbase.app import create_app
from spanbase.domain.keys import new_key
from spanbase.settings import Settings
from spanbase.storage.sql import migrate
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.keys import KeyStore

PG_ADMIN_URL = os.environ.get("SPANBASE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run; its URL."""
    name = f"spanbase_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_pg(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        tables = [t for t in tables if t != "alembic_version"]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of an empty store of each kind."""
    # Bodies are parsed in the test's own process (parse workers have tests of their own).
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "data", sqlite_synchronous="NORMAL", parse_workers=0)
    url: str = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return Settings(data_dir=tmp_path / "data", database_url=url, parse_workers=0)


@dataclass
class Tenant:
    organization: str
    key: str
    environment: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(settings: Settings, organization: str | None = None, environment: str = "prod") -> Tenant:
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
        key = new_key(environment)
        org = organization or f"org-{uuid.uuid4().hex[:8]}"
        KeyStore(engine).add(key, org, environment)
    finally:
        engine.dispose()
    return Tenant(org, key, environment)


@pytest.fixture
def tenant(settings: Settings) -> Tenant:
    return make_tenant(settings)


@pytest.fixture
def client(settings: Settings, tenant: Tenant) -> Iterator[TestClient]:
    """The HTTP app on the store, with its writer running; requests carry the tenant's key."""
    app = create_app(settings, say=lambda _: None)
    with TestClient(app, headers=tenant.headers) as c:
        yield c


@pytest.fixture
def base_url(settings: Settings, tenant: Tenant) -> Iterator[str]:
    """The root URL of a uvicorn server serving create_app(settings) in a thread of this process, for the
    real clients to talk to over a socket; stopped (and its writer drained) after."""
    app = create_app(settings, say=lambda _: None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn exited before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
