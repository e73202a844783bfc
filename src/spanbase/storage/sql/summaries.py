"""Aggregates of spans over a time window, by group and date: from rollups where they can answer, from
the spans themselves where not (DESIGN.md, "Rollups").

A window is cut into pieces: whole days read from a daily rollup, whole hours at its ends from the
hourly one, and the minutes left at each end from the spans; counts and sums add up exactly, and the
latency histograms too (the same bucket function runs in SQL here and in Python in domain/histogram.py).
A filter that names anything but a level's dimensions scans the spans of the whole window instead;
bounds on `timestamp` that every match must meet narrow the window first (they are a window too).
Percentiles are read off the merged histograms.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, case, cast, func, literal, select
from sqlalchemy import Integer as SqlInteger

from spanbase.domain import histogram
from spanbase.domain.filters import Condition, FieldType, Node, Op, conditions, only_and, without
from spanbase.domain.queries import AggregateQuery, GroupKey, Scope, Window
from spanbase.domain.rollups import (
    AGGREGATE_COLUMNS,
    DAILY,
    DAILY_BY_CUSTOMER,
    DAY_US,
    HOUR_US,
    HOURLY,
    INTEGER_COLUMNS,
    Aggregate,
    Level,
    ceil_to,
)
from spanbase.domain.spans import from_micros, to_micros
from spanbase.storage.sql.filters import Dialect, compile_filter
from spanbase.storage.sql.reads import on_days
from spanbase.storage.sql.tables import rollups, span_tags, spans, tag_counts
from spanbase.storage.sql.targets import metadata_tags, rollup_target, span_columns, span_target

# ------------------------------------------------------------------------------------------ windows


@dataclass(frozen=True)
class _Piece:
    level: Level | None  # None: read the spans
    start: int  # half-open [start, end) in epoch microseconds
    end: int


def pieces(window: Window, levels: tuple[Level, ...]) -> list[_Piece]:
    """Cut a closed window into pieces read from each level (coarsest first) and from raw spans."""
    start, end = window.start_us, window.end_us + 1
    out: list[_Piece] = []

    def cut(a: int, b: int, remaining: tuple[Level, ...]) -> None:
        if a >= b:
            return
        if not remaining:
            out.append(_Piece(None, a, b))
            return
        level, rest = remaining[0], remaining[1:]
        grain = DAY_US if level.grain == "day" else HOUR_US
        first, last = ceil_to(a, grain), b - b % grain
        if first >= last:
            cut(a, b, rest)
            return
        cut(a, first, rest)
        out.append(_Piece(level, first, last))
        cut(last, b, rest)

    cut(start, end, levels)
    return out


# Bounds on a span's time that narrow a window: timestamp > t is the window from t + 1 (a microsecond).
_LOWER = {Op.GT: 1, Op.GTE: 0}
_UPPER = {Op.LT: -1, Op.LTE: 0}


def narrow(window: Window, filter: Node | None) -> tuple[Window, Node | None]:
    """The window cut down by the filter's bounds on `timestamp`, and the filter without them.

    A bound that every match must meet (a top-level AND) is a time window by another name; taken out of
    the filter, it no longer sends the query to the spans, which rollups could answer (no rollup holds
    `timestamp`). Other conditions on it, inside an OR or `not`, stay in the filter.
    """
    if filter is None or not only_and(filter):
        return window, filter
    start, end = window.start_us, window.end_us
    remaining: Node | None = filter
    for c in conditions(filter):
        bound = c.values[0] if c.field == "timestamp" and len(c.values) == 1 else None
        if isinstance(bound, int) and c.op in _LOWER:
            start = max(start, bound + _LOWER[c.op])
        elif isinstance(bound, int) and c.op in _UPPER:
            end = min(end, bound + _UPPER[c.op])
        else:
            continue
        remaining = without(remaining, c)
    # An empty window (start > end) is cut into no pieces and matches no span: it sums to nothing.
    return Window(start, end), remaining


# -------------------------------------------------------------------------------------- which levels

_MODEL_STATUS = (DAILY, HOURLY)
_BY_CUSTOMER = (DAILY_BY_CUSTOMER,)


def rollup_levels(filter: Node | None, group_by: str | None, date_group: str | None) -> tuple[Level, ...] | None:
    """The rollup levels that can answer, coarsest first; None when only the spans can."""
    fields = {c.field for c in conditions(filter)} | ({group_by} if group_by else set())
    if any(c.type is FieldType.METADATA for c in conditions(filter)):
        return None
    for levels in (_MODEL_STATUS, _BY_CUSTOMER):
        if fields <= {*levels[0].dims, "environment"}:
            if date_group == "hour":
                hourly = tuple(level for level in levels if level.grain == "hour")
                if not hourly:
                    continue
                return hourly
            return levels
    return None


# --------------------------------------------------------------------------------------- aggregating


def date_bucket(us: int, date_group: str | None) -> int | None:
    """The start of the UTC hour, day, ISO week (from Monday) or month that `us` falls in."""
    if date_group is None:
        return None
    if date_group == "hour":
        return us - us % HOUR_US
    day = us - us % DAY_US
    if date_group == "day":
        return day
    if date_group == "week":
        # 1970-01-01 was a Thursday: day n is a Monday when (n + 3) % 7 == 0.
        return day - ((day // DAY_US + 3) % 7) * DAY_US
    moment = from_micros(day)
    return to_micros(datetime(moment.year, moment.month, 1, tzinfo=UTC))


_INTEGERS = tuple(name in INTEGER_COLUMNS for name in AGGREGATE_COLUMNS)


def _scalars(values: Iterable[Any]) -> tuple[int | float, ...]:
    """Sums as Python numbers (PostgreSQL sums bigints as numeric, which comes back as Decimal)."""
    return tuple(int(v) if is_int else float(v) for v, is_int in zip(values, _INTEGERS, strict=True))


def _hist_bucket() -> Any:
    """domain.histogram.bucket_of, in SQL."""
    lat = spans.c.latency
    return case(
        (lat.is_(None), None),
        (lat <= histogram.MIN_VALUE, histogram.ZERO_BUCKET),
        else_=cast(func.ceil(func.ln(lat) * literal(histogram.INV_LOG_GAMMA)), SqlInteger),
    )


def _floor(us: Any, grain: int) -> Any:
    """floor_to in SQL. `%` truncates toward zero there: a time before 1970 (the API takes years from
    1900) has a negative remainder, and `us - us % grain` would round it up into the next hour or day."""
    return us - (us % grain + grain) % grain


# A window of more days than this is searched by its times alone: listing every day of a window of
# years bound tens of thousands of parameters (PostgreSQL took 0.6 s to plan 45,000 for an empty table;
# SQLite refuses more than 32,766 in its default build), where the day-led indexes gain little anyway.
def _span_sums() -> list[Any]:
    c = spans.c
    one = literal(1)
    return [
        func.count(),
        func.coalesce(func.sum(case((c.status == "failed", one), else_=0)), 0),
        func.coalesce(func.sum(case((c.prompt_cache_hit_tokens > 0, one), else_=0)), 0),
        func.coalesce(func.sum(c.cost), 0.0),
        func.count(c.cost),
        func.coalesce(func.sum(c.prompt_tokens), 0),
        func.coalesce(func.sum(c.completion_tokens), 0),
        func.coalesce(func.sum(c.total_request_tokens), 0),
        func.coalesce(func.sum(c.latency), 0.0),
        func.count(c.latency),
        func.coalesce(func.sum(c.time_to_first_token), 0.0),
        func.count(c.time_to_first_token),
        func.coalesce(func.sum(c.tokens_per_second), 0.0),
        func.count(c.tokens_per_second),
    ]


def _tag_driven(filter: Node | None) -> Condition | None:
    """A metadata equality that every match must meet (a top-level AND): the scan can start from the
    metadata index instead of every span of the window."""
    if filter is None or not only_and(filter):
        return None
    for c in conditions(filter):
        if c.type is FieldType.METADATA and c.op in (Op.EQ, Op.IN) and c.values:
            return c
    return None


class Summaries:
    def __init__(self, engine: Engine, dialect: Dialect) -> None:
        self._engine = engine
        self._dialect = dialect

    def summary(self, q: AggregateQuery) -> Aggregate:
        """One aggregate of every span the query matches (its group_by and date_group are ignored)."""
        plain = AggregateQuery(q.scope, q.window, q.filter)
        with self._engine.connect() as conn:
            found = self.aggregate(conn, plain)
        total = Aggregate()
        for agg in found.values():
            total.merge(agg)
        return total

    def groups(self, q: AggregateQuery) -> dict[GroupKey, Aggregate]:
        with self._engine.connect() as conn:
            return self.aggregate(conn, q)

    def aggregate(self, conn: Connection, q: AggregateQuery) -> dict[GroupKey, Aggregate]:
        window, filter = narrow(q.window, q.filter)
        q = AggregateQuery(q.scope, window, filter, q.group_by, q.date_group)
        levels = rollup_levels(q.filter, q.group_by, q.date_group)
        out: dict[GroupKey, Aggregate] = {}
        parts = pieces(q.window, levels) if levels else [_Piece(None, q.window.start_us, q.window.end_us + 1)]
        for part in parts:
            source = self._rollup_rows(conn, q, part) if part.level else self._span_rows(conn, q, part)
            for key, agg in source:
                have = out.get(key)
                if have is None:
                    out[key] = agg
                else:
                    have.merge(agg)
        return out

    def count(self, conn: Connection, scope: Scope, window: Window, filter: Node | None) -> int:
        """Spans in the window matching the filter, from rollups or the metadata index when they can tell.

        The pieces (whole hours or days from rollups, the minutes at the ends from the spans) are summed
        in one statement: each was a round trip, a millisecond or more of a PostgreSQL list page."""
        window, filter = narrow(window, filter)
        tag = _tag_driven(filter)
        if tag is not None and isinstance(filter, Condition):
            tags = metadata_tags(scope, tag.metadata_key or "", [str(v) for v in tag.values])
            return _sum(conn, self._tagged_counts(tags, window))
        levels = rollup_levels(filter, None, None)
        if levels is None:
            return _sum(conn, [self._span_count(scope, window.start_us, window.end_us + 1, filter)])
        parts: list[Select[Any]] = []
        for part in pieces(window, levels):
            if part.level is None:
                parts.append(self._span_count(scope, part.start, part.end, filter))
                continue
            r = rollups.c
            query = select(func.coalesce(func.sum(r.n), 0)).where(
                r.org_id == scope.org_id,
                r.environment.in_(scope.environments),
                r.level == part.level.id,
                r.bucket_us >= part.start,
                r.bucket_us < part.end,
                compile_filter(filter, rollup_target(self._dialect, part.level)),
            )
            parts.append(query)
        return _sum(conn, parts)

    def _tagged_counts(self, tags: list[int], window: Window) -> list[Select[Any]]:
        """Spans with one of these metadata tags: whole hours from their counts, the ends from the index."""
        start, end = window.start_us, window.end_us + 1
        first, last = ceil_to(start, HOUR_US), end - end % HOUR_US
        parts: list[Select[Any]] = []
        edges = [(start, end)] if first >= last else [(start, first), (last, end)]
        if first < last:
            parts.append(
                select(func.coalesce(func.sum(tag_counts.c.n), 0)).where(
                    tag_counts.c.tag.in_(tags), tag_counts.c.bucket_us >= first, tag_counts.c.bucket_us < last
                )
            )
        for a, b in edges:
            if a < b:
                parts.append(
                    select(func.count()).where(
                        span_tags.c.tag.in_(tags), span_tags.c.timestamp_us >= a, span_tags.c.timestamp_us < b
                    )
                )
        return parts

    def _span_count(self, scope: Scope, start: int, end: int, filter: Node | None) -> Select[Any]:
        return select(func.count()).select_from(spans).where(self._span_where(scope, start, end, filter))

    def _span_where(self, scope: Scope, start: int, end: int, filter: Node | None) -> Any:
        return and_(
            spans.c.org_id == scope.org_id,
            spans.c.environment.in_(scope.environments),
            spans.c.timestamp_us >= start,
            spans.c.timestamp_us < end,
            on_days(start, end - 1),
            compile_filter(filter, span_target(self._dialect, scope)),
        )

    def _span_rows(self, conn: Connection, q: AggregateQuery, part: _Piece) -> Iterator[tuple[GroupKey, Aggregate]]:
        columns = span_columns()
        group = columns[q.group_by] if q.group_by else literal(None)
        # SQL groups by hour or day; weeks and months are made of days in Python (date_bucket).
        grain = HOUR_US if q.date_group == "hour" else DAY_US
        date = _floor(spans.c.timestamp_us, grain) if q.date_group else literal(None)
        bucket = _hist_bucket()
        tag = _tag_driven(q.filter)
        rest = q.filter if tag is None else without(q.filter, tag)
        query = (
            select(group.label("g"), date.label("d"), bucket.label("b"), *_span_sums())
            .where(self._span_where(q.scope, part.start, part.end, rest))
            .group_by("g", "d", "b")
        )
        if tag is not None:
            # Start from the metadata index: only the spans that have the pair are read (that condition
            # is then met, and left out of the rest).
            tags = metadata_tags(q.scope, tag.metadata_key or "", [str(v) for v in tag.values])
            hits = select(span_tags.c.span_id).where(
                span_tags.c.tag.in_(tags), span_tags.c.timestamp_us >= part.start, span_tags.c.timestamp_us < part.end
            )
            query = query.where(spans.c.id.in_(hits))
        latency_n = AGGREGATE_COLUMNS.index("latency_n")
        for g, d, b, *sums in conn.execute(query):
            agg = Aggregate.from_scalars(_scalars(sums))
            if b is not None:
                agg.hist = {int(b): agg.scalars()[latency_n]}  # type: ignore[dict-item]  # an int count
            yield (g, date_bucket(d, q.date_group) if d is not None else None), agg

    def _rollup_rows(self, conn: Connection, q: AggregateQuery, part: _Piece) -> Iterator[tuple[GroupKey, Aggregate]]:
        level = part.level
        assert level is not None
        target = rollup_target(self._dialect, level)
        r = rollups.c
        group = target.columns[q.group_by] if q.group_by else literal(None)
        query = select(group, r.bucket_us, *(r[name] for name in AGGREGATE_COLUMNS), r.hist).where(
            r.org_id == q.scope.org_id,
            r.environment.in_(q.scope.environments),
            r.level == level.id,
            r.bucket_us >= part.start,
            r.bucket_us < part.end,
            compile_filter(q.filter, target),
        )
        blank_is_none = q.group_by == "customer_identifier"  # "" stands for no customer in a rollup
        for g, bucket_us, *rest in conn.execute(query):
            agg = Aggregate.from_scalars(_scalars(rest[:-1]), histogram.decode(rest[-1]))
            yield (None if blank_is_none and g == "" else g, date_bucket(bucket_us, q.date_group)), agg


def _sum(conn: Connection, parts: list[Select[Any]]) -> int:
    """The sum of some counting queries, in one round trip."""
    if not parts:
        return 0
    total: Any = parts[0].scalar_subquery()
    for part in parts[1:]:
        total = total + part.scalar_subquery()
    return int(conn.execute(select(total)).scalar_one())
