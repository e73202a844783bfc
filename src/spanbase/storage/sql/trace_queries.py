"""Reading traces: lists with their aggregates (the traces table), one trace with its spans."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, select

from spanbase.domain.filters import Node
from spanbase.domain.queries import ListQuery, Page, Scope, Window
from spanbase.domain.spans import trace_key
from spanbase.storage.sql.filters import Dialect, compile_filter
from spanbase.storage.sql.reads import order_by, payloads, scoped
from spanbase.storage.sql.span_queries import SpanQueries
from spanbase.storage.sql.tables import spans, traces
from spanbase.storage.sql.targets import trace_target


class TraceQueries:
    def __init__(self, engine: Engine, dialect: Dialect, spans: SpanQueries) -> None:
        self._engine = engine
        self._dialect = dialect
        self._spans = spans

    def _where(self, scope: Scope, window: Window | None, filter: Node | None) -> list[Any]:
        where = [scoped(traces, scope), compile_filter(filter, trace_target(self._dialect, scope))]
        if window is not None:
            where.append(traces.c.start_us.between(window.start_us, window.end_us))
        return where

    def list_traces(self, q: ListQuery) -> Page[dict[str, Any]]:
        """A page of trace rows (each with its root span's payload as "root_payload") and the total."""
        target = trace_target(self._dialect, q.scope)
        where = self._where(q.scope, q.window, q.filter)
        column = target.columns[q.sort.field]
        query = (
            select(traces)
            .where(*where)
            .order_by(*order_by(self._dialect, column, q.sort, traces.c.start_us, traces.c.id))
            .limit(q.page.size)
            .offset(q.page.offset)
        )
        with self._engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
            total = int(conn.execute(select(func.count()).select_from(traces).where(*where)).scalar_one())
            self._add_roots(conn, rows)
        return Page(total, rows)

    def _add_roots(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Each trace's root span payload and metadata (a trace shows its root's input and output)."""
        ids = [r["root_span_id"] for r in rows if r["root_span_id"] is not None]
        found = payloads(conn, ids)
        metadata = dict(conn.execute(select(spans.c.id, spans.c.metadata).where(spans.c.id.in_(ids))).all())
        for r in rows:
            r["root_payload"] = found.get(r["root_span_id"], {})
            r["root_metadata"] = metadata.get(r["root_span_id"], {})

    def matching_ids(self, scope: Scope, window: Window | None, filter: Node | None, limit: int) -> list[str]:
        """Ids of the traces a filter matches, at most `limit` (plus one, to tell there were more)."""
        query = select(traces.c.trace_unique_id).where(*self._where(scope, window, filter)).limit(limit + 1)
        with self._engine.connect() as conn:
            return [str(t) for t in conn.execute(query).scalars()]

    def get_trace(self, scope: Scope, trace_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """One trace row and all its spans (with payloads), or None."""
        query = (
            select(traces)
            .where(
                traces.c.trace_key == trace_key(trace_id), traces.c.trace_unique_id == trace_id, scoped(traces, scope)
            )
            .order_by(traces.c.environment)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            trace = dict(row)
            found = self._spans.trace_spans(
                conn, trace["org_id"], trace["environment"], trace_id, trace["first_day"], trace["last_day"]
            )
            root = next((s for s in found if s["id"] == trace["root_span_id"]), None)
            trace["root_payload"] = root["payload"] if root is not None else {}
            trace["root_metadata"] = root["metadata"] if root is not None else {}
        return trace, found
