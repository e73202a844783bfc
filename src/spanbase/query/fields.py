"""Which fields each view filters and sorts on, with their types and aliases (spec §2.3, §3.1, §3.5,
§4, §5, §12.5). One table per view; the filter parser reads it, and the SQL layer maps each field's
`column` to an expression of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from spanbase.domain.filters import FieldType

S, N, INT, B, T = FieldType.STRING, FieldType.NUMBER, FieldType.INTEGER, FieldType.BOOLEAN, FieldType.TIME


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType
    column: str  # key of the SQL layer's column map for this view
    # On traces, "span" fields match a trace when any of its spans matches (spec §3.1).
    level: str = "row"


@dataclass(frozen=True)
class View:
    name: str
    fields: Mapping[str, FieldSpec]
    aliases: Mapping[str, str] = field(default_factory=dict)
    metadata: bool = False  # metadata__<key> accepted
    metadata_refusal: str = ""  # why not, when it is not
    sorts: Mapping[str, str] = field(default_factory=dict)  # sort_by name -> column key
    default_sort: str = "-timestamp"

    def resolve(self, name: str) -> FieldSpec | None:
        return self.fields.get(self.aliases.get(name, name))

    def sort_column(self, name: str) -> str | None:
        return self.sorts.get(self.aliases.get(name, name))


def _table(*groups: tuple[FieldType, Iterable[str]], level: str = "row") -> dict[str, FieldSpec]:
    return {name: FieldSpec(name, t, name, level) for t, names in groups for name in names}


# Span columns (the light ones), plus a few derived: is_root_span (no parent), cache_hit (prompt cache
# tokens read). Fields Respan fills from its gateway (error_class, cache_key, ...) exist here too, and
# are always empty: a logging server never produces them, so a filter on them is answered, not refused.
SPAN_STRINGS = (
    "unique_id",
    "trace_unique_id",
    "span_unique_id",
    "span_parent_id",
    "span_name",
    "span_workflow_name",
    "thread_identifier",
    "session_identifier",
    "customer_identifier",
    "customer_email",
    "customer_name",
    "custom_identifier",
    "group_identifier",
    "evaluation_identifier",
    "organization_key_id",
    "prompt_id",
    "prompt_name",
    "model",
    "provider_id",
    "deployment_name",
    "log_type",
    "log_method",
    "status",
    "environment",
    "error_code",
    "error_message",
    "note",
)
SPAN_GATEWAY_STRINGS = ("error_class", "error_fingerprint", "cache_key", "fault_domain", "behaviors", "deployment_id")
SPAN_INTEGERS = (
    "status_code",
    "prompt_version_number",
    "prompt_tokens",
    "completion_tokens",
    "total_request_tokens",
    "prompt_cache_hit_tokens",
    "prompt_cache_creation_tokens",
    "reasoning_tokens",
)
SPAN_NUMBERS = ("cost", "latency", "time_to_first_token", "tokens_per_second", "routing_time")
SPAN_BOOLEANS = ("stream", "has_tool_calls", "positive_feedback", "is_pinned")
SPAN_DERIVED_BOOLEANS = ("is_root_span", "cache_hit", "cache_bit", "used_custom_credential")
SPAN_TIMES = ("timestamp", "start_time")

SPAN_ALIASES = {
    "id": "unique_id",
    "trace_id": "trace_unique_id",
    "total_cost": "cost",
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "total_tokens": "total_request_tokens",
    "generation_time": "latency",
    "ttft": "time_to_first_token",
    "end_time": "timestamp",
}

_span_fields = _table(
    (S, SPAN_STRINGS + SPAN_GATEWAY_STRINGS),
    (INT, SPAN_INTEGERS),
    (N, SPAN_NUMBERS),
    (B, SPAN_BOOLEANS + SPAN_DERIVED_BOOLEANS),
    (T, SPAN_TIMES),
)
_span_sorts = {
    name: name
    for name in (
        *SPAN_STRINGS,
        *SPAN_INTEGERS,
        *SPAN_NUMBERS,
        *SPAN_BOOLEANS,
        *SPAN_TIMES,
    )
}

SPANS = View("spans", _span_fields, SPAN_ALIASES, metadata=True, sorts=_span_sorts)

# Traces: their own aggregate columns, and span fields that match when any span of the trace does.
TRACE_STRINGS = (
    "trace_unique_id",
    "name",
    "customer_identifier",
    "environment",
    "organization_key_id",
    "trace_group_identifier",
    "session_identifier",
    "thread_identifier",
    "root_span_unique_id",
)
TRACE_INTEGERS = (
    "span_count",
    "llm_call_count",
    "error_count",
    "total_prompt_tokens",
    "total_completion_tokens",
    "total_request_tokens",
)
TRACE_NUMBERS = ("total_cost", "duration")
TRACE_TIMES = ("start_time", "end_time")
TRACE_SPAN_FIELDS = (
    "span_unique_id",
    "span_name",
    "span_workflow_name",
    "span_parent_id",
    "model",
    "provider_id",
    "deployment_name",
    "prompt_id",
    "prompt_name",
    "prompt_version_number",
    "log_type",
    "log_method",
    "status",
    "status_code",
    "error_class",
    "error_fingerprint",
    "cost",
    "latency",
    "time_to_first_token",
    "tokens_per_second",
    "routing_time",
    "prompt_tokens",
    "completion_tokens",
    "prompt_cache_hit_tokens",
    "prompt_cache_creation_tokens",
)
_trace_fields = _table((S, TRACE_STRINGS), (INT, TRACE_INTEGERS), (N, TRACE_NUMBERS), (T, TRACE_TIMES))
_trace_fields.update(
    {name: FieldSpec(name, _span_fields[name].type, name, "span") for name in TRACE_SPAN_FIELDS},
)
_trace_sorts = {name: name for name in (*TRACE_STRINGS, *TRACE_INTEGERS, *TRACE_NUMBERS, *TRACE_TIMES)}
_trace_sorts["total_tokens"] = "total_request_tokens"
_trace_sorts["timestamp"] = "start_time"

# `total_tokens` is refused as a trace filter (spec §3.1: use total_request_tokens), though it sorts.
TRACES = View(
    "traces",
    _trace_fields,
    {"trace_id": "trace_unique_id", "id": "trace_unique_id", "timestamp": "start_time"},
    metadata=True,
    sorts=_trace_sorts,
    default_sort="-start_time",
)

# Bulk delete takes trace-level fields only, total_tokens included (spec §3.5).
_bulk_delete_names = (
    "trace_unique_id",
    "customer_identifier",
    "environment",
    "start_time",
    "end_time",
    "span_count",
    "llm_call_count",
    "error_count",
    "total_cost",
    "total_prompt_tokens",
    "total_completion_tokens",
    "total_request_tokens",
)
TRACE_BULK_DELETE = View(
    "traces (bulk delete)",
    {name: _trace_fields[name] for name in _bulk_delete_names},
    {"trace_id": "trace_unique_id", "total_tokens": "total_request_tokens"},
    metadata=True,
)

_thread_fields = _table(
    (S, ("thread_identifier", "customer_identifier", "environment", "organization_key_id")),
    (INT, ("number_of_requests", "total_tokens", "total_prompt_tokens", "total_completion_tokens", "error_count")),
    (N, ("total_cost", "average_latency")),
    (T, ("first_seen", "last_seen")),
)
_thread_aliases = {
    "log_count": "number_of_requests",
    "cost": "total_cost",
    "tokens": "total_tokens",
    "prompt_tokens": "total_prompt_tokens",
    "completion_tokens": "total_completion_tokens",
    "latency": "average_latency",
    "created_at": "first_seen",
    "start_time": "first_seen",
    "timestamp": "last_seen",
    "updated_at": "last_seen",
    "end_time": "last_seen",
}
THREADS = View(
    "threads",
    _thread_fields,
    _thread_aliases,
    metadata_refusal="threads are not filtered by metadata; filter their spans instead",
    sorts={name: name for name in _thread_fields},
    default_sort="-last_seen",
)

_customer_fields = _table(
    (S, ("customer_identifier", "name", "email", "environment")),
    (
        INT,
        (
            "number_of_requests",
            "total_tokens",
            "total_prompt_tokens",
            "total_completion_tokens",
            "error_count",
            "active_days",
        ),
    ),
    (N, ("total_cost", "average_latency", "average_ttft")),
    (T, ("first_seen", "last_active")),
)
_customer_aliases = {
    "total_requests": "number_of_requests",
    "cost": "total_cost",
    "tokens": "total_tokens",
    "last_seen": "last_active",
    "last_active_timeframe": "last_active",
}
CUSTOMERS = View(
    "customers",
    _customer_fields,
    _customer_aliases,
    metadata_refusal="metadata__ filters are not supported on customers (spec §5)",
    sorts={name: name for name in _customer_fields},
    default_sort="-last_active",
)
