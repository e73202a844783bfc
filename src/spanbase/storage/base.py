"""What the rest of spanbase needs from a span store; storage/sql implements it for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

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

    def get_span(self, org_id: int, unique_id: str) -> dict[str, Any] | None:
        """The light columns and the decoded payload (under "payload") of one span, or None."""
        ...
