"""The read path: more light span columns and indexes, metadata tags, traces, threads, customers, rollups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = 254
_DAY_US = 86_400_000_000


def _aggregates() -> list[sa.Column[object]]:
    """Aggregate columns shared by threads and customers (domain/rollups.py has the full set)."""
    return [
        sa.Column("first_us", sa.BigInteger, nullable=False),
        sa.Column("last_us", sa.BigInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("error_n", sa.BigInteger, nullable=False),
        sa.Column("cost_sum", sa.Float, nullable=False),
        sa.Column("cost_n", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("total_tokens", sa.BigInteger, nullable=False),
        sa.Column("latency_sum", sa.Float, nullable=False),
        sa.Column("latency_n", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("spans", recreate="never") as batch:
        batch.add_column(sa.Column("day", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("organization_key_id", sa.String(32)))
        batch.add_column(sa.Column("error_code", sa.String(_ID)))
        batch.add_column(sa.Column("prompt_version_number", sa.Integer))
        batch.add_column(sa.Column("deployment_name", sa.String(_ID)))
        batch.add_column(sa.Column("routing_time", sa.Float))
    # Floor division written out: both databases truncate integer division towards zero (spans before 1970).
    op.execute(
        sa.text(
            f"UPDATE spans SET day = (timestamp_us - ((timestamp_us % {_DAY_US}) + {_DAY_US}) % {_DAY_US}) / {_DAY_US}"
        )
    )
    # Every secondary index of spans leads with the span's day, so that the rows of one commit (spans of
    # the same hours) land in a few index pages. Keyed by a random trace id, customer or cost instead,
    # each commit rewrote pages all over every such index: 11 KB of WAL a span at 200k spans, growing.
    op.drop_index("ix_spans_trace_key", "spans")

    # Trace lookups name the day and the trace key only: given the organization too, PostgreSQL's planner
    # (with the statistics of a table that grew fast) chose other indexes that lead with it, and scanned.
    # Each of them is partial: it holds only the spans that have its key, so that only a query naming
    # that key can use it. Spans arrive in time order, so the newest day is always past the statistics
    # of the last ANALYZE; PostgreSQL then took a day's spans for one row, and read a customer's day
    # through the cost index (20 ms for a customer with one span) or a trace's through the customer's.
    def partial(column: str) -> dict[str, Any]:
        where = sa.text(f"{column} IS NOT NULL")
        return {"sqlite_where": where, "postgresql_where": where}

    op.create_index("ix_spans_trace", "spans", ["day", "trace_key"], **partial("trace_key"))
    # Lists sort by (column, timestamp_us, id). SQLite keeps the row id at the end of every index; on
    # PostgreSQL an index without it made the planner sort a whole window (233k spans) to break ties.
    tail = ["timestamp_us", "id"] if postgres else ["timestamp_us"]
    if postgres:
        op.drop_index("ix_spans_org_id_environment_timestamp_us", "spans")
        op.create_index("ix_spans_org_id_environment_timestamp_us", "spans", ["org_id", "environment", *tail])
    op.create_index(
        "ix_spans_customer",
        "spans",
        ["org_id", "environment", "day", "customer_identifier", *tail],
        **partial("customer_identifier"),
    )
    op.create_index(
        "ix_spans_thread",
        "spans",
        ["org_id", "environment", "day", "thread_identifier", *tail],
        **partial("thread_identifier"),
    )
    # Sorting by cost: the spans without one are read apart (storage/sql/span_queries.py). PostgreSQL
    # matches an index to a sort's NULLS clause: NULLS FIRST serves ascending (missing costs first) and,
    # read backwards, descending (missing costs last).
    cost = ["org_id", "environment", "day", "cost NULLS FIRST" if postgres else "cost", *tail]
    op.create_index("ix_spans_cost", "spans", [sa.text(c) for c in cost], **partial("cost"))

    op.create_table(
        "span_tags",
        sa.Column("tag", sa.BigInteger, nullable=False),
        sa.Column("timestamp_us", sa.BigInteger, nullable=False),
        sa.Column("span_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tag", "timestamp_us", "span_id", name="pk_span_tags"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "tag_counts",
        sa.Column("tag", sa.BigInteger, nullable=False),
        sa.Column("bucket_us", sa.BigInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tag", "bucket_us", name="pk_tag_counts"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "traces",
        sa.Column("id", big_id, nullable=False, autoincrement=True),
        sa.Column("org_id", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(8), nullable=False),
        sa.Column("trace_unique_id", sa.String(_ID), nullable=False),
        sa.Column("trace_key", sa.BigInteger, nullable=False),
        sa.Column("start_us", sa.BigInteger, nullable=False),
        sa.Column("end_us", sa.BigInteger, nullable=False),
        sa.Column("first_day", sa.Integer, nullable=False),
        sa.Column("last_day", sa.Integer, nullable=False),
        sa.Column("span_count", sa.BigInteger, nullable=False),
        sa.Column("llm_call_count", sa.BigInteger, nullable=False),
        sa.Column("error_count", sa.BigInteger, nullable=False),
        sa.Column("cost_sum", sa.Float, nullable=False),
        sa.Column("cost_n", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("total_tokens", sa.BigInteger, nullable=False),
        sa.Column("root_span_id", sa.BigInteger),
        sa.Column("root_span_unique_id", sa.String(_ID)),
        sa.Column("name", sa.String(255)),
        sa.Column("customer_identifier", sa.String(_ID)),
        sa.Column("thread_identifier", sa.String(_ID)),
        sa.Column("session_identifier", sa.String(_ID)),
        sa.Column("model", sa.String(_ID)),
        sa.Column("organization_key_id", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_traces"),
    )
    # The one index of the read path keyed by something random: a trace is looked up by its id. An
    # 8-byte hash of the id keeps it small (fewer pages for each commit to rewrite); the id is compared
    # after the index.
    op.create_index("ix_traces_trace_key", "traces", ["trace_key"])
    op.create_index("ix_traces_org_id_environment_start_us", "traces", ["org_id", "environment", "start_us"])

    op.create_table(
        "threads",
        sa.Column("id", big_id, nullable=False, autoincrement=True),
        sa.Column("org_id", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(8), nullable=False),
        sa.Column("thread_identifier", sa.String(_ID), nullable=False),
        *_aggregates(),
        sa.Column("customer_identifier", sa.String(_ID)),
        sa.Column("organization_key_id", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_threads"),
    )
    op.create_index(
        "ix_threads_org_id_environment_thread_identifier",
        "threads",
        ["org_id", "environment", "thread_identifier"],
        unique=True,
    )
    op.create_index("ix_threads_org_id_environment_last_us", "threads", ["org_id", "environment", "last_us"])

    op.create_table(
        "customers",
        sa.Column("id", big_id, nullable=False, autoincrement=True),
        sa.Column("org_id", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(8), nullable=False),
        sa.Column("customer_identifier", sa.String(_ID), nullable=False),
        *_aggregates(),
        sa.Column("ttft_sum", sa.Float, nullable=False),
        sa.Column("ttft_n", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(_ID)),
        sa.Column("email", sa.String(_ID)),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_index(
        "ix_customers_org_id_environment_customer_identifier",
        "customers",
        ["org_id", "environment", "customer_identifier"],
        unique=True,
    )
    op.create_index("ix_customers_org_id_environment_last_us", "customers", ["org_id", "environment", "last_us"])

    op.create_table(
        "rollups",
        sa.Column("org_id", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(8), nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("bucket_us", sa.BigInteger, nullable=False),
        sa.Column("d1", sa.String(_ID), nullable=False),
        sa.Column("d2", sa.String(64), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("error_n", sa.BigInteger, nullable=False),
        sa.Column("cache_hit_n", sa.BigInteger, nullable=False),
        sa.Column("cost_sum", sa.Float, nullable=False),
        sa.Column("cost_n", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("total_tokens", sa.BigInteger, nullable=False),
        sa.Column("latency_sum", sa.Float, nullable=False),
        sa.Column("latency_n", sa.BigInteger, nullable=False),
        sa.Column("ttft_sum", sa.Float, nullable=False),
        sa.Column("ttft_n", sa.BigInteger, nullable=False),
        sa.Column("tps_sum", sa.Float, nullable=False),
        sa.Column("tps_n", sa.BigInteger, nullable=False),
        sa.Column("hist", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "environment", "level", "bucket_us", "d1", "d2", name="pk_rollups"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_rollups_org_id_environment_level_d1_bucket_us",
        "rollups",
        ["org_id", "environment", "level", "d1", "bucket_us"],
    )
    if postgres:
        # A ~5 KB payload compressed by lz4 fits its row: kept there (STORAGE MAIN, toast_tuple_target)
        # rather than cut into the TOAST table, COPY measured 33 -> 27 us a row, 3.4 -> 3.6 KB. Only
        # where 0001 could choose lz4: pglz inline would cost 100 us a row.
        op.execute(
            "DO $$ BEGIN "
            "IF (SELECT attcompression FROM pg_attribute WHERE attrelid = 'span_payloads'::regclass "
            "AND attname = 'body') = 'l' THEN "
            "ALTER TABLE span_payloads ALTER COLUMN body SET STORAGE MAIN; "
            "ALTER TABLE span_payloads SET (toast_tuple_target = 2048); "
            "END IF; END $$"
        )
    # Spans stored before this revision get their rows in the new tables, from the writer's own code:
    # the one place that says what a span adds to them.
    from spanbase.storage.sql.spans import rebuild_derived

    rebuild_derived(op.get_bind().connection.dbapi_connection, op.get_bind().dialect.name)


def downgrade() -> None:
    for table in ("rollups", "customers", "threads", "traces", "tag_counts", "span_tags"):
        op.drop_table(table)
    for index in ("ix_spans_cost", "ix_spans_thread", "ix_spans_customer", "ix_spans_trace"):
        op.drop_index(index, "spans")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_spans_org_id_environment_timestamp_us", "spans")
        op.create_index("ix_spans_org_id_environment_timestamp_us", "spans", ["org_id", "environment", "timestamp_us"])
    op.create_index("ix_spans_trace_key", "spans", ["trace_key"])
    with op.batch_alter_table("spans") as batch:
        for name in ("routing_time", "deployment_name", "prompt_version_number", "error_code", "organization_key_id"):
            batch.drop_column(name)
        batch.drop_column("day")
