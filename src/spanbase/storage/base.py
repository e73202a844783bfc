"""What the rest of spanbase needs from a span store; storage/sql implements it for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from spanbase.domain.spans import SpanRecord


class SpanBatchWriter(Protocol):
    """Owned by the single writer thread of a store: one call, one transaction, durable on return."""

    def write(self, records: Sequence[SpanRecord]) -> None: ...

    def close(self) -> None: ...


class SpanStore(Protocol):
    def open_writer(self) -> SpanBatchWriter: ...

    def get_span(self, org_id: int, unique_id: str) -> dict[str, Any] | None:
        """The light columns and the decoded payload (under "payload") of one span, or None."""
        ...
