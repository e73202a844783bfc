"""The SQL schema as SQLAlchemy Core tables: what queries are written against.

Migrations (storage/sql/migrations) declare their own column types and create the same tables, so an
old migration never changes when this file does. A naming convention fixes constraint and index names,
so one migration tree gives the same names on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
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
    # Tenant and time lead every list index (DESIGN.md: every read is bounded by a time window).
    Index(None, "org_id", "environment", "timestamp_us"),
    # The trace key alone: a query that names trace keys can use no other index, whatever the planner's
    # statistics say about organizations (stale ones after a bulk load made PostgreSQL scan them).
    Index(None, "trace_key"),
)

# The heavy part of a span, fetched by key for the rows a response returns. Keyed by the span's integer
# id: on SQLite that is the table's rowid, so the table needs no index of its own.
span_payloads = Table(
    "span_payloads",
    metadata,
    Column("span_id", BigId, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
)
