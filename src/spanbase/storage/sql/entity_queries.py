"""Reading threads and customers: their rows (aggregates kept by the writer), lists and one of each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select

from spanbase.domain.queries import ListQuery, Page, Scope, Window
from spanbase.domain.rollups import DAILY_BY_CUSTOMER
from spanbase.storage.sql.filters import Dialect, Target, compile_filter
from spanbase.storage.sql.reads import order_by, scoped
from spanbase.storage.sql.span_queries import SpanQueries
from spanbase.storage.sql.tables import customers, rollups, threads
from spanbase.storage.sql.targets import customer_target, thread_target


def active_days() -> ColumnElement[Any]:
    """Days on which a customer sent spans: its rows in the daily rollup by customer."""
    r = rollups.c
    return (
        select(func.count())
        .where(
            r.org_id == customers.c.org_id,
            r.environment == customers.c.environment,
            r.level == DAILY_BY_CUSTOMER.id,
            r.d1 == customers.c.customer_identifier,
        )
        .scalar_subquery()
    )


class EntityQueries:
    def __init__(self, engine: Engine, dialect: Dialect, spans: SpanQueries) -> None:
        self._engine = engine
        self._dialect = dialect
        self._spans = spans

    def _list(self, table: Any, target: Target, q: ListQuery, extra: list[Any]) -> Page[dict[str, Any]]:
        where = [scoped(table, q.scope), compile_filter(q.filter, target)]
        column = target.columns[q.sort.field]
        query = (
            select(table, *extra)
            .where(*where)
            .order_by(*order_by(self._dialect, column, q.sort, table.c.id))
            .limit(q.page.size)
            .offset(q.page.offset)
        )
        with self._engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
            total = int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
        return Page(total, rows)

    def list_threads(self, q: ListQuery) -> Page[dict[str, Any]]:
        return self._list(threads, thread_target(self._dialect), q, [])

    def list_customers(self, q: ListQuery) -> Page[dict[str, Any]]:
        days = active_days()
        return self._list(customers, customer_target(self._dialect, days), q, [days.label("active_days")])

    def get_thread(self, scope: Scope, thread_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """One thread row and its spans (with payloads) in time order, or None."""
        query = (
            select(threads)
            .where(scoped(threads, scope), threads.c.thread_identifier == thread_id)
            .order_by(threads.c.environment)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            thread = dict(row)
            window = Window(thread["first_us"], thread["last_us"])
            found = self._spans.thread_spans(conn, scope, thread["environment"], thread_id, window)
        return thread, found

    def get_customer(self, scope: Scope, customer_id: str) -> dict[str, Any] | None:
        days = active_days()
        query = (
            select(customers, days.label("active_days"))
            .where(scoped(customers, scope), customers.c.customer_identifier == customer_id)
            .order_by(customers.c.environment)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else dict(row)
