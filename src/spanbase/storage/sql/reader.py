"""The SQL read side, built in one place: what app.py hands to the read endpoints."""

from __future__ import annotations

from sqlalchemy import Engine

from spanbase.storage.base import Reads
from spanbase.storage.sql.entity_queries import EntityQueries
from spanbase.storage.sql.filters import Dialect
from spanbase.storage.sql.span_queries import SpanQueries
from spanbase.storage.sql.summaries import Summaries
from spanbase.storage.sql.trace_queries import TraceQueries


def make_reads(engine: Engine) -> Reads:
    dialect = Dialect(engine.dialect.name)
    summaries = Summaries(engine, dialect)
    spans = SpanQueries(engine, dialect, summaries)
    return Reads(
        spans=spans,
        summaries=summaries,
        traces=TraceQueries(engine, dialect, spans),
        entities=EntityQueries(engine, dialect, spans),
    )
