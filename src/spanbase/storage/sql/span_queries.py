"""Reading spans: list pages with exact counts, one span, the spans of a trace or a thread."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Select, select, union_all

from spanbase.domain.filters import Op, conditions, only_and
from spanbase.domain.queries import ListQuery, Page, Scope, Window
from spanbase.domain.rollups import DAY_US
from spanbase.domain.spans import row_id_of, trace_key
from spanbase.storage.sql.filters import Dialect, Target, compile_filter
from spanbase.storage.sql.reads import LIGHT_COLUMNS, days, in_window, on_days, order_by, scoped, with_payloads
from spanbase.storage.sql.summaries import Summaries
from spanbase.storage.sql.tables import span_payloads, spans
from spanbase.storage.sql.targets import span_columns, span_target

# Filters on one value of these columns have an index that leads with the day, then the column, then
# the time: one ordered index scan a day gives the newest spans of that customer or thread.
_BY_DAY_AND = {"customer_identifier": "ix_spans_customer", "thread_identifier": "ix_spans_thread"}


# A list page's total is counted on a connection of its own while the page is read: the count waits on
# the database (the GIL released) as the page's rows are fetched and decoded. A busy customer's 7-day
# page on PostgreSQL (1M spans) spent ~4 ms in the count after ~7 ms reading the page.
_COUNTS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spanbase-count")


def _per_day_index(q: ListQuery) -> str | None:
    """The day-led index that gives a page in order, day by day, or None when the planner should judge.

    Sorting by cost there is one (ix_spans_cost). Sorting by time, the time index serves a busy
    customer well but reads the whole window for a rare one (SQLite's planner, with no statistics of
    single values, took it either way); the customer's index serves both.
    """
    if q.sort.field == "cost":
        return "ix_spans_cost"
    if q.sort.field not in ("timestamp", "timestamp_us") or q.filter is None or not only_and(q.filter):
        return None
    for c in conditions(q.filter):
        if c.field in _BY_DAY_AND and c.op in (Op.EQ, Op.IN) and len(c.values) == 1:
            return _BY_DAY_AND[c.field]
    return None


def _page_target(dialect: Dialect, scope: Scope) -> Target:
    """Filters of a list page: metadata is looked up span by span as the page is walked in order, which
    stops after a page of hits. Left free, PostgreSQL joined all of a tag's spans in the window to the
    window's spans (152k each) and sorted them: 340 ms where the walk takes 2 ms."""
    return replace(span_target(dialect, scope), tags_per_row=True)


class SpanQueries:
    def __init__(self, engine: Engine, dialect: Dialect, summaries: Summaries) -> None:
        self._engine = engine
        self._dialect = dialect
        self._summaries = summaries

    def list_spans(self, q: ListQuery, *, content: bool) -> Page[dict[str, Any]]:
        """A page of spans (light columns, plus each span's payload when `content`), and the total."""
        assert q.window is not None, "every span list has a time window (spec §1.4)"
        total = _COUNTS.submit(self._count, q)
        try:
            with self._engine.connect() as conn:
                ids = self._page_ids(conn, q)
                rows = self._rows(conn, ids, content=content)
        except BaseException:
            wait([total])  # a failed page does not return while its count still holds a connection
            raise
        return Page(total.result(), rows)

    def _count(self, q: ListQuery) -> int:
        assert q.window is not None
        with self._engine.connect() as conn:
            return self._summaries.count(conn, q.scope, q.window, q.filter)

    def _where(self, q: ListQuery) -> Any:
        return (
            scoped(spans, q.scope),
            in_window(q.window),
            compile_filter(q.filter, _page_target(self._dialect, q.scope)),
        )

    def _page_ids(self, conn: Connection, q: ListQuery) -> list[int]:
        column = span_columns()[q.sort.field]
        ties = (spans.c.timestamp_us, spans.c.id)
        limit, offset = q.page.size, q.page.offset
        per_day = _per_day_index(q)
        if per_day is not None and q.window is not None and len(days(q.window.start_us, q.window.end_us)) <= 62:
            # Ordered across days, an index that leads with the day gives nothing: so each day gives its
            # best offset + limit rows in that index's order, and the page is cut from those.
            branches: list[Select[Any]] = []
            # Built once and shared by the branches, not once a day.
            in_scope = scoped(spans, q.scope)
            matching = compile_filter(q.filter, _page_target(self._dialect, q.scope))
            start, end = q.window.start_us, q.window.end_us
            for day in days(start, end):
                where = [in_scope, spans.c.day == day, matching]
                if per_day == "ix_spans_cost":
                    where.append(spans.c.cost.is_not(None))  # the index holds the spans that have a cost
                if start > day * DAY_US or end < (day + 1) * DAY_US - 1:
                    # A day the window cuts: sorting by cost, its bound is checked on each row rather than
                    # used to search ("+ 0"): or SQLite's planner takes the time index and sorts the day.
                    ts = spans.c.timestamp_us + 0 if per_day == "ix_spans_cost" else spans.c.timestamp_us
                    where.append(ts.between(start, end))
                branch = (
                    select(spans.c.id, column.label("s"), spans.c.timestamp_us.label("t"))
                    .where(*where)
                    .order_by(*order_by(self._dialect, column, q.sort, *ties))
                    .limit(offset + limit)
                )
                branches.append(branch)
            if per_day == "ix_spans_cost":
                # The spans without a cost, which sort as the smallest: newest first, from the time index.
                missing = (
                    select(spans.c.id, column.label("s"), spans.c.timestamp_us.label("t"))
                    .where(*self._where(q), spans.c.cost.is_(None))
                    .order_by(*order_by(self._dialect, spans.c.timestamp_us, q.sort, spans.c.id))
                    .limit(offset + limit)
                )
                branches.append(missing)
            # SQLite takes no ORDER BY or LIMIT in a member of a UNION, unless wrapped in a subquery;
            # PostgreSQL takes the members in parentheses, without the wrapping (~1.5 ms to build).
            members = branches if self._dialect.name == "postgresql" else [b.subquery().select() for b in branches]
            best = union_all(*members).subquery()
            query = (
                select(best.c.id)
                .order_by(*order_by(self._dialect, best.c.s, q.sort, best.c.t, best.c.id))
                .limit(limit)
                .offset(offset)
            )
        else:
            query = (
                select(spans.c.id)
                .where(*self._where(q))
                .order_by(*order_by(self._dialect, column, q.sort, *ties))
                .limit(limit)
                .offset(offset)
            )
        return [int(i) for i in conn.execute(query).scalars()]

    def _rows(self, conn: Connection, ids: Sequence[int], *, content: bool) -> list[dict[str, Any]]:
        """The page's rows in the order of `ids`, with their payloads when `content`: one round trip."""
        if not ids:
            return []
        query = select(*LIGHT_COLUMNS).where(spans.c.id.in_(ids))
        if content:
            query = query.add_columns(span_payloads.c.body.label("payload_body")).outerjoin(
                span_payloads, span_payloads.c.span_id == spans.c.id
            )
        found: dict[int, dict[str, Any]] = {}
        result = conn.execute(query)
        names = list(result.keys())
        for values in result:  # plain rows zipped with their names: 2.4 -> 2.1 ms a 50-row page, over mappings
            row = dict(zip(names, values, strict=True))
            if content:
                body = row.pop("payload_body")
                row["payload"] = orjson.loads(body) if body else {}
            found[row["id"]] = row
        return [found[i] for i in ids if i in found]

    def get_span(self, scope: Scope, unique_id: str) -> dict[str, Any] | None:
        row_id = row_id_of(unique_id)
        if row_id is None:
            return None
        query = select(*LIGHT_COLUMNS).where(spans.c.id == row_id, spans.c.unique_id == unique_id, scoped(spans, scope))
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            return with_payloads(conn, [dict(row)])[0]

    def trace_spans(
        self, conn: Connection, org_id: int, environment: str, trace_id: str, first_day: int, last_day: int
    ) -> list[dict[str, Any]]:
        """Every span of one trace, with payloads, in start order (its days come from its trace row)."""
        # Day and trace key only, like the writer's lookups (tables.py, ix_spans_trace): named, the
        # organization made PostgreSQL's planner, with statistics behind the newest days, read the day
        # through another index that leads with it. The rest is checked on the rows found.
        query = select(spans.c.id, spans.c.org_id, spans.c.environment, spans.c.trace_unique_id).where(
            on_days(first_day * DAY_US, last_day * DAY_US), spans.c.trace_key == trace_key(trace_id)
        )
        ids = [i for i, org, env, t in conn.execute(query) if org == org_id and env == environment and t == trace_id]
        return sorted(self._rows(conn, ids, content=True), key=lambda r: (r["start_time_us"], r["id"]))

    def thread_spans(
        self, conn: Connection, scope: Scope, environment: str, thread_id: str, window: Window
    ) -> list[dict[str, Any]]:
        """Every span of one thread, with payloads, in time order (its days from its thread row)."""
        where = (
            spans.c.org_id == scope.org_id,
            spans.c.environment == environment,
            on_days(window.start_us, window.end_us),
            spans.c.thread_identifier == thread_id,
        )
        # Ordered by "timestamp_us + 0", which no index gives: ordered by the column, SQLite's planner
        # walked the organization's time index to skip the sort (a thread of 50 spans over 26 days, at
        # 1M spans: 390 ms) rather than sort the thread's few rows found through its own index.
        return self._found(conn, where, (spans.c.timestamp_us + 0, spans.c.id))

    def _found(self, conn: Connection, where: Sequence[Any], order: Sequence[Any]) -> list[dict[str, Any]]:
        """Spans by ids found first, then read: asked for every column at once, SQLite's planner walked
        the organization's time index in order (a thread of 50 spans: 550 ms at 1M spans); asked for ids,
        it searches the index that leads with the day (4 ms)."""
        ids = [int(i) for i in conn.execute(select(spans.c.id).where(*where).order_by(*order)).scalars()]
        return self._rows(conn, ids, content=True)
