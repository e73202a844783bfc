"""A real `python -m spanbase serve` process on a test store, and the other tools its tests share.

    with ServerProcess(settings, env_extra={"SPANBASE_INIT_API_KEY": key}) as server:
        httpx.post(f"{server.url}/api/request-logs/", ...)

The process gets the store of `settings` through the environment (every Settings field becomes its
SPANBASE_* variable; `env_extra` wins), listens on a free 127.0.0.1 port, and is ready once GET /health
answers 200. Leaving the block stops it for sure (SIGTERM, then SIGKILL). Its stdout and stderr go to
files next to the data dir (kept by pytest's tmp_path for debugging) and are printed when the block
exits with an exception, so a failing test shows what the server said.

Also here: `spanbase_env` (the environment of any spanbase subprocess), `run_cli` (the `spanbase`
command as a subprocess), `query` / `spans_per_trace` / `org_id` (read the store's database directly),
and `Load` (client threads sending bulk requests in a loop, recording which ones were acknowledged).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import orjson
import psycopg

from spanbase.settings import SETTINGS, Settings

SPANBASE = [sys.executable, "-m", "spanbase"]
BULK = "/api/request-logs/bulk/"
# An API key anywhere in a text (what the server and `keys create` print).
KEY_PATTERN = re.compile(r"\bsb_(?:live|test)_[A-Za-z0-9_-]{20,}")
# Variables of the test runner's terminal that would change what rich prints (width, colours).
_TERMINAL_VARS = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TERM")
_ENV_NAMES = {s.env for s in SETTINGS}
_log_numbers = itertools.count(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spanbase_env(settings: Settings, env_extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a spanbase subprocess on the store of `settings`.

    Every SPANBASE_* variable of the test runner is dropped, every Settings field is set from
    `settings`, then `env_extra` is applied; output is unbuffered so a log file is current.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPANBASE_") and k not in _TERMINAL_VARS}
    for f in dataclasses.fields(settings):
        name = f"SPANBASE_{f.name.upper()}"
        assert name in _ENV_NAMES, f"Settings.{f.name} has no documented variable {name}"
        env[name] = str(getattr(settings, f.name))
    env["SPANBASE_HOST"] = "127.0.0.1"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(env_extra or {})
    return env


def run_cli(
    settings: Settings, *args: str, env_extra: Mapping[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`spanbase ARGS...` as a subprocess on the store of `settings`; never raises on a non-zero exit."""
    return subprocess.run(
        [*SPANBASE, *args],
        env=spanbase_env(settings, env_extra),
        capture_output=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def query(settings: Settings, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the store's database with a connection of our own; `?` placeholders."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
    with contextlib.closing(sqlite3.connect(settings.sqlite_path, timeout=30.0)) as conn:
        return list(conn.execute(sql, params).fetchall())


def spans_per_trace(settings: Settings) -> dict[str, int]:
    """trace_unique_id -> number of stored spans, read straight from the database."""
    rows = query(settings, "SELECT trace_unique_id, count(*) FROM spans GROUP BY trace_unique_id")
    return {str(trace): int(n) for trace, n in rows}


class ServerStartError(RuntimeError):
    pass


class ServerProcess:
    def __init__(
        self,
        settings: Settings,
        env_extra: Mapping[str, str] | None = None,
        *,
        startup_timeout: float = 20.0,
        log_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.env_extra = dict(env_extra or {})
        self.startup_timeout = startup_timeout
        self.log_dir = log_dir or settings.data_dir.parent
        self.port = 0
        self.stdout_path = self.log_dir / "server.stdout"
        self.stderr_path = self.log_dir / "server.stderr"
        self._proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []

    # -- the context manager ------------------------------------------------------------------------

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if exc is not None:
            print(self.describe())

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process and wait for GET /health; a port taken meanwhile is retried on another."""
        assert self._proc is None, "already started"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            self._spawn()
            try:
                self._wait_healthy()
                return
            except ServerStartError:
                self.stop()
                if "address already in use" not in self.stderr().lower():
                    raise
        raise ServerStartError(f"no free port after 3 attempts\n{self.describe()}")

    def _spawn(self) -> None:
        n = next(_log_numbers)
        self.port = free_port()
        self.stdout_path = self.log_dir / f"server-{n}.stdout"
        self.stderr_path = self.log_dir / f"server-{n}.stderr"
        self._files = [self.stdout_path.open("wb"), self.stderr_path.open("wb")]
        self._proc = subprocess.Popen(
            [*SPANBASE, "serve", "--port", str(self.port)],
            env=spanbase_env(self.settings, self.env_extra),
            stdin=subprocess.DEVNULL,
            stdout=self._files[0],
            stderr=self._files[1],
            start_new_session=True,  # a Ctrl+C of pytest reaches only pytest, which then stops us
        )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.returncode is not None:
                    raise ServerStartError(f"the server exited with {self.returncode}\n{self.describe()}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise ServerStartError(f"no 200 from /health within {self.startup_timeout} s\n{self.describe()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, and SIGKILL if it is still running after `timeout`; the exit status."""
        if self._proc is None:
            return None
        try:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(10.0)
        finally:
            for f in self._files:
                f.close()
            self._files = []
        return self._proc.returncode

    def terminate(self) -> None:
        """SIGTERM: a graceful stop."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash or an OOM kill."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None, "not started"
        if self._proc.poll() is None:
            self._proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        """The exit status (negative: killed by that signal); raises subprocess.TimeoutExpired."""
        assert self._proc is not None, "not started"
        return self._proc.wait(timeout)

    # -- what it is and what it said ----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def describe(self, tail: int = 4000) -> str:
        return (
            f"--- spanbase server {self.url} (exit status {self.returncode}) ---\n"
            f"--- stdout ({self.stdout_path}) ---\n{self.stdout()[-tail:]}\n"
            f"--- stderr ({self.stderr_path}) ---\n{self.stderr()[-tail:]}"
        )

    def client(self, key: str | None = None, timeout: float = 30.0) -> httpx.Client:
        """An httpx client on this server, sending `key` as a bearer token if given."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


# -- spans and load ---------------------------------------------------------------------------------


def init_env(key: str, organization: str = "acme", **extra: str) -> dict[str, str]:
    """env_extra of a server that creates `key` (prod, in `organization`) at start."""
    return {"SPANBASE_INIT_API_KEY": key, "SPANBASE_INIT_ORGANIZATION": organization, **extra}


def bulk_body(trace: str, n: int) -> bytes:
    """`n` spans of one trace; span i has span_unique_id "s{i}", so its row id is known in advance."""
    logs = [
        {
            "model": "gpt-4o-mini",
            "trace_unique_id": trace,
            "span_unique_id": f"s{i}",
            "span_name": "step",
            "custom_identifier": f"{trace}/{i}",
            "prompt_messages": [{"role": "user", "content": f"question {i}"}],
            "completion_message": {"role": "assistant", "content": "answer"},
            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        }
        for i in range(n)
    ]
    return orjson.dumps({"logs": logs})


def post_bulk(client: httpx.Client, trace: str, n: int) -> httpx.Response:
    return client.post(BULK, content=bulk_body(trace, n), headers={"Content-Type": "application/json"})


def org_id(settings: Settings, organization: str) -> int:
    """The row id of an organization."""
    rows = query(settings, "SELECT id FROM organizations WHERE name = ?", [organization])
    assert len(rows) == 1, rows
    return int(rows[0][0])


def unique_id_of(settings: Settings, organization: str, trace: str, span: str) -> str:
    """The unique_id the server gave the span with these client ids (exactly one must be stored)."""
    rows = query(
        settings,
        "SELECT unique_id FROM spans WHERE org_id = ? AND trace_unique_id = ? AND span_unique_id = ?",
        [org_id(settings, organization), trace, span],
    )
    assert len(rows) == 1, rows
    return str(rows[0][0])


@dataclass
class Outcome:
    trace: str
    status: int | None  # None: no HTTP answer (connection refused, reset, closed)
    answered_at: float  # time.monotonic() when the answer (or the error) came
    error: str = ""


class Load:
    """`clients` threads, each posting bulk requests of `spans` spans one after another until stopped,
    until the first transport error, or after `max_requests` requests (every loop is bounded); `pause`
    seconds between two requests of a client make a lighter load."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        clients: int = 4,
        spans: int = 500,
        max_requests: int = 200,
        pause: float = 0.0,
    ) -> None:
        self.url = url
        self.key = key
        self.spans = spans
        self.max_requests = max_requests
        self.pause = pause
        self.stop = threading.Event()
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._run = uuid.uuid4().hex[:8]
        self._threads = [threading.Thread(target=self._client, args=(c,), daemon=True) for c in range(clients)]

    def _client(self, c: int) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=20.0) as client:
            for i in range(self.max_requests):
                if self.stop.is_set():
                    return
                trace = f"load-{self._run}-c{c}-r{i}"
                try:
                    status: int | None = post_bulk(client, trace, self.spans).status_code
                    error = ""
                except httpx.TransportError as e:
                    status, error = None, repr(e)
                with self._lock:
                    self.outcomes.append(Outcome(trace, status, time.monotonic(), error))
                if status is None:
                    return
                if self.pause:
                    self.stop.wait(self.pause)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30.0)
        if exc_type is None:
            assert not any(t.is_alive() for t in self._threads), "a load client did not finish"

    def acknowledged(self) -> list[str]:
        return [o.trace for o in self.outcomes if o.status == 201]
