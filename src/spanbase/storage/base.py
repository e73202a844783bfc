"""What the rest of spanbase needs from a span store; storage/sql implements it for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from spanbase.domain.filters import Node
from spanbase.domain.queries import AggregateQuery, GroupKey, ListQuery, Page, Scope, Window
from spanbase.domain.rollups import Aggregate
from spanbase.domain.spans import SpanRecord


class SpanBatchWriter(Protocol):
    """Owned by the single writer thread of a store: one call, one transaction, durable on return."""

    def write(self, records: Sequence[SpanRecord], prepared: Sequence[object] = ()) -> None:
        """Store new spans. `prepared` holds the store's own prepare() of each request's records, in
        order, when `records` are exactly those requests' records; it may be left out."""
        ...

    def delete_traces(self, org_id: int, environments: Sequence[str], trace_ids: Sequence[str]) -> int: ...

    def patch_span(
        self,
        org_id: int,
        environments: Sequence[str],
        unique_id: str,
        columns: dict[str, Any],
        metadata: dict[str, str] | None,
    ) -> bool: ...

    def close(self) -> None: ...


class SpanStore(Protocol):
    def open_writer(self) -> SpanBatchWriter: ...

    def prepare(self, records: Sequence[SpanRecord]) -> object:
        """Work on new spans that can be done before the writer takes them (off its thread)."""
        ...


class SpanReads(Protocol):
    def list_spans(self, q: ListQuery, *, content: bool) -> Page[dict[str, Any]]: ...

    def get_span(self, scope: Scope, unique_id: str) -> dict[str, Any] | None: ...


class SummaryReads(Protocol):
    def summary(self, q: AggregateQuery) -> Aggregate: ...

    def groups(self, q: AggregateQuery) -> dict[GroupKey, Aggregate]: ...


class TraceReads(Protocol):
    def list_traces(self, q: ListQuery) -> Page[dict[str, Any]]: ...

    def get_trace(self, scope: Scope, trace_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None: ...

    def matching_ids(self, scope: Scope, window: Window | None, filter: Node | None, limit: int) -> list[str]: ...


class EntityReads(Protocol):
    def list_threads(self, q: ListQuery) -> Page[dict[str, Any]]: ...

    def get_thread(self, scope: Scope, thread_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None: ...

    def list_customers(self, q: ListQuery) -> Page[dict[str, Any]]: ...

    def get_customer(self, scope: Scope, customer_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Reads:
    """Everything the read endpoints ask of a store (storage/sql builds one in make_reads)."""

    spans: SpanReads
    summaries: SummaryReads
    traces: TraceReads
    entities: EntityReads
