"""Every setting spanbase reads, in one table, read from the environment in one place.

`SETTINGS` is the documented table: the CLI help, the README and a test read it, so a setting cannot be
added without being documented. Precedence: an explicit argument (CLI flag) > the environment > the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SPANBASE_DATA_DIR", "~/.spanbase", "Directory of the embedded SQLite database."),
    Setting(
        "SPANBASE_DATABASE_URL",
        "",
        "A postgresql:// URL switches the store to PostgreSQL (psycopg 3 is used whatever the driver part "
        "says); empty means SQLite in SPANBASE_DATA_DIR.",
    ),
    Setting("SPANBASE_HOST", "127.0.0.1", "Address `spanbase serve` listens on."),
    Setting("SPANBASE_PORT", "8000", "Port `spanbase serve` listens on."),
    Setting("SPANBASE_INIT_API_KEY", "", "An API key created at start if it is missing (headless set-up)."),
    Setting("SPANBASE_INIT_ORGANIZATION", "default", "Organization of SPANBASE_INIT_API_KEY."),
    Setting(
        "SPANBASE_WRITE_QUEUE_MAX_SPANS",
        "50000",
        "Spans waiting for the writer before new writes get 429 (503 on OTLP) with Retry-After.",
    ),
    Setting("SPANBASE_WRITE_BATCH_MAX_SPANS", "10000", "Most spans the writer commits in one transaction."),
    Setting(
        "SPANBASE_SQLITE_SYNCHRONOUS",
        "FULL",
        "SQLite `synchronous` pragma: FULL survives power loss, NORMAL only a crash of the process.",
    ),
    Setting("SPANBASE_MAX_BODY_BYTES", str(100 * 1024 * 1024), "Largest request body accepted (413 above)."),
    Setting("SPANBASE_MAX_SPAN_BYTES", str(20 * 1024 * 1024), "Largest single span accepted (413 above)."),
    Setting("SPANBASE_KEY_CACHE_SECONDS", "1.0", "How long an API key lookup is cached (revocation delay)."),
    Setting(
        "SPANBASE_PARSE_WORKERS",
        "auto",
        "Processes that parse bulk and OTLP request bodies beside the server's own (0: parse in the server "
        "process; auto: one per CPU core, at most 4).",
    ),
    Setting(
        "SPANBASE_PARSE_WORKER_NICE",
        "10",
        "Niceness added to the parse workers (0 to 19), so that on a busy machine the server process, with "
        "the one span writer, is given the CPU first.",
    ),
    Setting("SPANBASE_LOG_LEVEL", "info", "Log level of the server."),
)


def _read(env: Mapping[str, str], name: str) -> str:
    for s in SETTINGS:
        if s.env == name:
            return env.get(name, s.default)
    raise KeyError(name)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("~/.spanbase").expanduser())
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    init_api_key: str = ""
    init_organization: str = "default"
    write_queue_max_spans: int = 50_000
    write_batch_max_spans: int = 10_000
    sqlite_synchronous: str = "FULL"
    max_body_bytes: int = 100 * 1024 * 1024
    max_span_bytes: int = 20 * 1024 * 1024
    key_cache_seconds: float = 1.0
    parse_workers: int = field(default_factory=lambda: _workers("auto"))
    parse_worker_nice: int = 10
    log_level: str = "info"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        e = os.environ if env is None else env
        s = cls(
            data_dir=Path(_read(e, "SPANBASE_DATA_DIR")).expanduser(),
            database_url=_read(e, "SPANBASE_DATABASE_URL"),
            host=_read(e, "SPANBASE_HOST"),
            port=int(_read(e, "SPANBASE_PORT")),
            init_api_key=_read(e, "SPANBASE_INIT_API_KEY"),
            init_organization=_read(e, "SPANBASE_INIT_ORGANIZATION"),
            write_queue_max_spans=int(_read(e, "SPANBASE_WRITE_QUEUE_MAX_SPANS")),
            write_batch_max_spans=int(_read(e, "SPANBASE_WRITE_BATCH_MAX_SPANS")),
            sqlite_synchronous=_read(e, "SPANBASE_SQLITE_SYNCHRONOUS").upper(),
            max_body_bytes=int(_read(e, "SPANBASE_MAX_BODY_BYTES")),
            max_span_bytes=int(_read(e, "SPANBASE_MAX_SPAN_BYTES")),
            key_cache_seconds=float(_read(e, "SPANBASE_KEY_CACHE_SECONDS")),
            parse_workers=_workers(_read(e, "SPANBASE_PARSE_WORKERS")),
            parse_worker_nice=_nice(_read(e, "SPANBASE_PARSE_WORKER_NICE")),
            log_level=_read(e, "SPANBASE_LOG_LEVEL"),
        )
        return replace(s, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "spanbase.db"


# Parsing a 500-span body takes a worker ~50 ms; the writer takes the spans from every worker. On two
# cores one worker was the bottleneck of OTLP ingest (9,500 spans/s), two reached 10,000-11,700.
_MAX_AUTO_WORKERS = 4


def _workers(value: str) -> int:
    if value.strip().lower() == "auto":
        return max(1, min(_MAX_AUTO_WORKERS, len(os.sched_getaffinity(0))))
    return int(value)


def _nice(value: str) -> int:
    n = int(value)
    if not 0 <= n <= 19:
        raise ValueError(f"SPANBASE_PARSE_WORKER_NICE: must be from 0 to 19, not {n}")
    return n
