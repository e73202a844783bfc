"""Shared pieces of the SQL read path: scopes, windows as days, sorting, payloads by key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Table, and_, select, true

from spanbase.domain.queries import Scope, Sort, Window
from spanbase.domain.rollups import DAY_US
from spanbase.storage.sql.filters import Dialect
from spanbase.storage.sql.tables import span_payloads, spans

# Columns a span row carries out of the light table (all of them: they are what filters read anyway).
LIGHT_COLUMNS = tuple(c for c in spans.c)


def scoped(table: Table, scope: Scope) -> ColumnElement[bool]:
    env = table.c.environment
    same_env = env == scope.environments[0] if len(scope.environments) == 1 else env.in_(scope.environments)
    return and_(table.c.org_id == scope.org_id, same_env)


# Up to this many days a window is searched day by day (one index seek each); past it, as one range of
# days (a bound parameter a day would pass SQLite's limit of 32,766 for a window of a century).
MAX_LISTED_DAYS = 400


def days(start_us: int, end_us: int) -> list[int]:
    """The days (since the epoch) a closed window touches: what the day-led indexes are searched by."""
    return list(range(start_us // DAY_US, end_us // DAY_US + 1))


def on_days(start_us: int, end_us: int) -> ColumnElement[bool]:
    """The days of a closed window as a condition: what lets the indexes that lead with the day (trace,
    customer, thread, cost) serve the other conditions of a query."""
    first, last = start_us // DAY_US, end_us // DAY_US
    if last - first >= MAX_LISTED_DAYS:
        return spans.c.day.between(first, last)
    return spans.c.day.in_(range(first, last + 1))


def in_window(window: Window | None) -> ColumnElement[bool]:
    if window is None:
        return true()
    return and_(spans.c.timestamp_us.between(window.start_us, window.end_us), on_days(window.start_us, window.end_us))


def order_by(dialect: Dialect, column: ColumnElement[Any], sort: Sort, *ties: ColumnElement[Any]) -> list[Any]:
    """The column, then the tie-breakers, all in the sort's direction; a missing value sorts as the
    smallest (SQLite's own order; PostgreSQL is told so, which its indexes say too, see 0002)."""
    out: list[Any] = []
    for col in (column, *ties):
        ordered = col.desc() if sort.descending else col.asc()
        # Only where a NULL can be: PostgreSQL matches an index's order to the query's NULLS clause even
        # on a NOT NULL column, and sorted a whole window by time when told "DESC NULLS LAST".
        if dialect.name == "postgresql" and getattr(col, "nullable", True):
            ordered = ordered.nulls_last() if sort.descending else ordered.nulls_first()
        out.append(ordered)
    return out


def payloads(conn: Connection, span_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The heavy part of some spans, by their row ids."""
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(span_ids), 500):
        chunk = span_ids[i : i + 500]
        query = select(span_payloads.c.span_id, span_payloads.c.body).where(span_payloads.c.span_id.in_(chunk))
        for span_id, body in conn.execute(query):
            out[int(span_id)] = orjson.loads(body) if body else {}
    return out


def with_payloads(conn: Connection, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = list(rows)
    found = payloads(conn, [r["id"] for r in rows])
    for r in rows:
        r["payload"] = found.get(r["id"], {})
    return rows
