"""What each view's filter fields mean in SQL: column maps for spans, traces, threads, customers and
rollups (query/fields.py names the fields; storage/sql/filters.py compiles conditions on them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, exists, false, func, literal_column, or_, select

from spanbase.domain.filters import Condition, Op
from spanbase.domain.queries import Scope
from spanbase.domain.rollups import LEVELS, Level
from spanbase.domain.spans import row_id_of, tags_for, trace_key
from spanbase.query.fields import SPAN_GATEWAY_STRINGS, TRACE_SPAN_FIELDS
from spanbase.storage.sql.filters import Dialect, Pred, Target, no_value
from spanbase.storage.sql.tables import customers, rollups, span_tags, spans, threads, traces

Expr = ColumnElement[Any]
_SECONDS = 1e6

# Light columns of spans that are not filter fields of their own name (times are stored as micros).
_SPAN_RENAMES: dict[str, Expr] = {"timestamp": spans.c.timestamp_us, "start_time": spans.c.start_time_us}


@cache  # built once, not three times a list page
def span_columns() -> Mapping[str, Expr]:
    columns: dict[str, Expr] = {c.name: c for c in spans.c}
    columns.update(_SPAN_RENAMES)
    columns["is_root_span"] = or_(spans.c.span_parent_id.is_(None), spans.c.span_parent_id == "")
    columns["cache_hit"] = columns["cache_bit"] = spans.c.prompt_cache_hit_tokens > 0
    columns["used_custom_credential"] = false()
    for name in SPAN_GATEWAY_STRINGS:
        columns[name] = no_value()
    return columns


def _unique_ids(dialect: Dialect) -> Callable[[Condition], Pred]:
    def by_row_ids(c: Condition) -> Pred:
        """unique_id has no index, but holds the row id: look the rows up by it."""
        ids = [str(v) for v in c.values]
        row_ids = sorted({r for r in (row_id_of(u) for u in ids) if r is not None})
        if not row_ids:
            return false()
        return and_(dialect.one_of(spans.c.id, row_ids), dialect.one_of(spans.c.unique_id, ids))

    return by_row_ids


def _trace_ids(dialect: Dialect) -> Callable[[Condition], Pred | None]:
    def by_trace_keys(c: Condition) -> Pred | None:
        """trace_unique_id has no index of its own: the trace index (day, trace_key) finds the spans of a
        trace id, which respan-tracing's read-back and respan-api's list_spans filter by (a count over
        150k spans in an hour: 140 ms by the time index, about a millisecond by this one)."""
        ids = [str(v) for v in c.values]
        if "" in ids:  # "" also finds the spans without a trace id, which have no trace key
            return None
        keyed = dialect.one_of(spans.c.trace_key, sorted({trace_key(t) for t in ids}))
        if dialect.name == "sqlite":
            # Its sampled statistics (ANALYZE with analysis_limit) rate a window's time range as selective
            # as a trace's key and it took the time index; likelihood() says how rare a trace's spans are.
            keyed = func.likelihood(keyed, literal_column("0.0001"))
        return and_(keyed, dialect.one_of(spans.c.trace_unique_id, ids))

    return by_trace_keys


def metadata_tags(scope: Scope, key: str, values: Sequence[str]) -> list[int]:
    """The tags of "key = any of values" in the scope's environments (a tag names its environment)."""
    return sorted({tag for env in scope.environments for v in values for tag in tags_for(scope.org_id, env, {key: v})})


def span_target(dialect: Dialect, scope: Scope) -> Target:
    def tagged(key: str, values: Sequence[str], per_row: bool) -> Pred:
        # One primary-key probe of span_tags per span looked at: a list page stops after a page of hits.
        probe = select(span_tags.c.span_id).where(
            dialect.one_of(span_tags.c.tag, metadata_tags(scope, key, values)),
            span_tags.c.timestamp_us == spans.c.timestamp_us,
            span_tags.c.span_id == spans.c.id,
        )
        # An OFFSET keeps PostgreSQL from making the EXISTS a semi-join (storage/sql/filters.py says when).
        return exists(probe.offset(0) if per_row else probe)

    return Target(
        dialect,
        span_columns(),
        metadata=spans.c.metadata,
        metadata_tags=tagged,
        special={
            **{("unique_id", op): _unique_ids(dialect) for op in (Op.EQ, Op.IN)},
            **{("trace_unique_id", op): _trace_ids(dialect) for op in (Op.EQ, Op.IN)},
        },
    )


def trace_target(dialect: Dialect, scope: Scope) -> Target:
    t = traces.c
    columns: dict[str, Expr] = {c.name: c for c in traces.c}
    columns.update(
        {
            "start_time": t.start_us,
            "end_time": t.end_us,
            "total_cost": t.cost_sum,
            "total_prompt_tokens": t.prompt_tokens,
            "total_completion_tokens": t.completion_tokens,
            "total_request_tokens": t.total_tokens,
            "duration": (t.end_us - t.start_us) / _SECONDS,
            "trace_group_identifier": t.session_identifier,
        }
    )

    def some_span(pred: Pred) -> Pred:
        return exists(
            select(spans.c.id).where(
                spans.c.day.between(t.first_day, t.last_day),
                spans.c.trace_key == t.trace_key,
                spans.c.org_id == t.org_id,
                spans.c.environment == t.environment,
                spans.c.trace_unique_id == t.trace_unique_id,
                pred,
            )
        )

    return Target(
        dialect,
        columns,
        metadata=spans.c.metadata,
        span_level=frozenset(TRACE_SPAN_FIELDS),
        spans_match=some_span,
        span_target=span_target(dialect, scope),
    )


def _entity_columns(table: Table) -> dict[str, Expr]:
    c = table.c
    columns: dict[str, Expr] = {col.name: col for col in table.c}
    columns.update(
        {
            "number_of_requests": c.n,
            "total_cost": c.cost_sum,
            "total_tokens": c.total_tokens,
            "total_prompt_tokens": c.prompt_tokens,
            "total_completion_tokens": c.completion_tokens,
            "error_count": c.error_n,
            "average_latency": c.latency_sum / func.nullif(c.latency_n, 0),
            "first_seen": c.first_us,
        }
    )
    return columns


def thread_target(dialect: Dialect) -> Target:
    columns = _entity_columns(threads)
    columns["last_seen"] = threads.c.last_us
    return Target(dialect, columns)


def customer_target(dialect: Dialect, active_days: Expr) -> Target:
    columns = _entity_columns(customers)
    columns["last_active"] = customers.c.last_us
    columns["average_ttft"] = customers.c.ttft_sum / func.nullif(customers.c.ttft_n, 0)
    columns["active_days"] = active_days
    return Target(dialect, columns)


def rollup_target(dialect: Dialect, level: Level) -> Target:
    """A level's dimensions, as the fields they hold; a filter naming only these runs on its rows."""
    # "" stands for "no customer" in a rollup (a key column cannot be NULL); string conditions treat
    # a missing value as "" anyway (storage/sql/filters.py), so the raw column serves, index and all.
    columns: dict[str, Expr] = {"environment": rollups.c.environment}
    columns.update(zip(level.dims, (rollups.c.d1, rollups.c.d2), strict=False))
    return Target(dialect, columns)


ROLLUP_LEVEL_FIELDS = {level.id: frozenset((*level.dims, "environment")) for level in LEVELS}
