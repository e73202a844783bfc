"""The SQL schema as SQLAlchemy Core tables: what queries are written against.

Migrations (storage/sql/migrations) declare their own column types and create the same tables, so an
old migration never changes when this file does. A naming convention fixes constraint and index names,
so one migration tree gives the same names on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# JSON text on SQLite, JSONB (indexable, containment operators) on PostgreSQL.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")

organizations = Table(
    "organizations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(32), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prefix", String(32), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("org_id", Integer, nullable=False),
    Column("environment", String(8), nullable=False),
    Column("name", String(255)),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger),
)


def _partial(column: str) -> dict[str, Any]:
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


# SQLite makes an INTEGER PRIMARY KEY the rowid itself (no separate index): it must say INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")

spans = Table(
    "spans",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("unique_id", String(32), nullable=False),  # holds the id: looked up through it, not indexed
    Column("org_id", Integer, nullable=False),
    Column("environment", String(8), nullable=False),
    Column("timestamp_us", BigInteger, nullable=False),
    Column("start_time_us", BigInteger, nullable=False),
    Column("latency", Float),
    Column("trace_unique_id", String(254)),
    Column("trace_key", BigInteger),  # domain.spans.trace_key: what the trace index holds
    Column("span_unique_id", String(254)),
    Column("span_parent_id", String(254)),
    Column("span_name", String(255)),
    Column("span_workflow_name", String(254)),
    Column("thread_identifier", String(254)),
    Column("session_identifier", String(254)),
    Column("customer_identifier", String(254)),
    Column("customer_email", String(254)),
    Column("customer_name", String(254)),
    Column("custom_identifier", String(254)),
    Column("group_identifier", String(254)),
    Column("evaluation_identifier", String(254)),
    Column("prompt_id", String(254)),
    Column("prompt_name", String(254)),
    Column("model", String(254), nullable=False),
    Column("provider_id", String(254)),
    Column("log_type", String(64), nullable=False),
    Column("log_method", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("error_message", Text),
    Column("stream", Boolean, nullable=False),
    Column("has_tool_calls", Boolean, nullable=False),
    Column("positive_feedback", Boolean),
    Column("is_pinned", Boolean, nullable=False),
    Column("note", Text),
    Column("cost", Float),
    Column("time_to_first_token", Float),
    Column("tokens_per_second", Float),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_request_tokens", BigInteger, nullable=False),
    Column("prompt_cache_hit_tokens", BigInteger, nullable=False),
    Column("prompt_cache_creation_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("metadata", JsonDoc, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("organization_key_id", String(32)),
    Column("error_code", String(254)),
    Column("prompt_version_number", Integer),
    Column("deployment_name", String(254)),
    Column("routing_time", Float),
    Column("day", Integer, nullable=False),  # days since the epoch of timestamp_us (UTC)
    # Tenant and time lead every list index (DESIGN.md: every read is bounded by a time window).
    Index(None, "org_id", "environment", "timestamp_us"),
    # The other indexes lead with the day, so that one commit's spans (of the same hours) land in a few
    # index pages: keyed by a random trace id, customer or cost alone, every commit rewrote pages all
    # over each such index, and the bytes written per span grew with the table (migration 0002).
    # A trace's spans, found from its row in traces (which gives its days). Looked up by day and trace key
    # alone, with organization and environment checked after: no other index leads with the day, so no
    # planner can prefer one (PostgreSQL did, given the organization, with stale statistics).
    Index("ix_spans_trace", "day", "trace_key", **_partial("trace_key")),
    # Each is partial, holding only the spans that have its key, so that only a query naming that key
    # can use it (migration 0002 says why).
    Index(
        "ix_spans_customer",
        "org_id",
        "environment",
        "day",
        "customer_identifier",
        "timestamp_us",
        **_partial("customer_identifier"),
    ),
    Index(
        "ix_spans_thread",
        "org_id",
        "environment",
        "day",
        "thread_identifier",
        "timestamp_us",
        **_partial("thread_identifier"),
    ),
    # Sorting by cost (PostgreSQL's copy of the day-led indexes also ends in id, see 0002).
    Index("ix_spans_cost", "org_id", "environment", "day", "cost", "timestamp_us", **_partial("cost")),
)

# The heavy part of a span, fetched by key for the rows a response returns. Keyed by the span's integer
# id: on SQLite that is the table's rowid, so the table needs no index of its own.
span_payloads = Table(
    "span_payloads",
    metadata,
    Column("span_id", BigId, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
)


# Metadata equality filters: one row per (span, metadata key), keyed by a hash of (organization,
# environment, key, value) and the span's time, so "metadata__plan = pro over 7 days" is one index range,
# counted without reading a span (domain.spans.tag_of). On SQLite the primary key is the table itself.
span_tags = Table(
    "span_tags",
    metadata,
    Column("tag", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp_us", BigInteger, primary_key=True, autoincrement=False),
    Column("span_id", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

# How many spans of each hour have each metadata pair: a list filtered on one pair counts its whole
# hours here and only the minutes at the window's ends in span_tags (152k index entries for a week of
# "plan = enterprise" took 31 ms to count on PostgreSQL, 9 on SQLite).
tag_counts = Table(
    "tag_counts",
    metadata,
    Column("tag", BigInteger, primary_key=True, autoincrement=False),
    Column("bucket_us", BigInteger, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# One row per trace, kept by the span writer: aggregates of its spans and the fields of its root.
traces = Table(
    "traces",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", Integer, nullable=False),
    Column("environment", String(8), nullable=False),
    Column("trace_unique_id", String(254), nullable=False),
    Column("trace_key", BigInteger, nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("first_day", Integer, nullable=False),  # the days of its spans' timestamp_us
    Column("last_day", Integer, nullable=False),
    Column("span_count", BigInteger, nullable=False),
    Column("llm_call_count", BigInteger, nullable=False),
    Column("error_count", BigInteger, nullable=False),
    Column("cost_sum", Float, nullable=False),
    Column("cost_n", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("root_span_id", BigInteger),  # the span with no parent, once it has arrived
    Column("root_span_unique_id", String(254)),
    Column("name", String(255)),
    Column("customer_identifier", String(254)),
    Column("thread_identifier", String(254)),
    Column("session_identifier", String(254)),
    Column("model", String(254)),
    Column("organization_key_id", String(32)),
    # Looked up by an 8-byte hash of the trace id (the id is compared after): the one random key of the
    # read path, kept small.
    Index("ix_traces_trace_key", "trace_key"),
    Index(None, "org_id", "environment", "start_us"),
)

# Threads and customers: one row each, aggregates of their spans over all time, kept by the writer.
threads = Table(
    "threads",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", Integer, nullable=False),
    Column("environment", String(8), nullable=False),
    Column("thread_identifier", String(254), nullable=False),
    Column("first_us", BigInteger, nullable=False),
    Column("last_us", BigInteger, nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("error_n", BigInteger, nullable=False),
    Column("cost_sum", Float, nullable=False),
    Column("cost_n", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_n", BigInteger, nullable=False),
    Column("customer_identifier", String(254)),
    Column("organization_key_id", String(32)),
    Index(None, "org_id", "environment", "thread_identifier", unique=True),
    Index(None, "org_id", "environment", "last_us"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", Integer, nullable=False),
    Column("environment", String(8), nullable=False),
    Column("customer_identifier", String(254), nullable=False),
    Column("first_us", BigInteger, nullable=False),
    Column("last_us", BigInteger, nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("error_n", BigInteger, nullable=False),
    Column("cost_sum", Float, nullable=False),
    Column("cost_n", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_n", BigInteger, nullable=False),
    Column("ttft_sum", Float, nullable=False),
    Column("ttft_n", BigInteger, nullable=False),
    Column("name", String(254)),
    Column("email", String(254)),
    Index(None, "org_id", "environment", "customer_identifier", unique=True),
    Index(None, "org_id", "environment", "last_us"),
)

# Per-hour and per-day aggregates of spans (domain/rollups.py LEVELS), kept in the span writer's
# transaction: d1 and d2 hold the level's dimensions ("" for none), hist the latency histogram.
rollups = Table(
    "rollups",
    metadata,
    Column("org_id", Integer, primary_key=True, autoincrement=False),
    Column("environment", String(8), primary_key=True),
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("bucket_us", BigInteger, primary_key=True, autoincrement=False),
    Column("d1", String(254), primary_key=True),
    Column("d2", String(64), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("error_n", BigInteger, nullable=False),
    Column("cache_hit_n", BigInteger, nullable=False),
    Column("cost_sum", Float, nullable=False),
    Column("cost_n", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_n", BigInteger, nullable=False),
    Column("ttft_sum", Float, nullable=False),
    Column("ttft_n", BigInteger, nullable=False),
    Column("tps_sum", Float, nullable=False),
    Column("tps_n", BigInteger, nullable=False),
    Column("hist", LargeBinary, nullable=False),
    # One customer's days (level 2), without reading every other customer's.
    Index(None, "org_id", "environment", "level", "d1", "bucket_us"),
    sqlite_with_rowid=False,
)
