"""Errors the domain raises; the API layer renders them (api/errors.py)."""

from __future__ import annotations


class SpanbaseError(Exception):
    """Base of the errors that reach a client as a 4xx answer."""


class FieldError(SpanbaseError):
    """A value that cannot be stored; names the field so the client can fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TooLarge(SpanbaseError):
    """A body or a span over its size limit (413)."""


class NotFound(SpanbaseError):
    pass


class Overloaded(SpanbaseError):
    """The write queue is past its bound: retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the write queue is full; retry later")
        self.retry_after = retry_after


class Unauthorized(SpanbaseError):
    pass


class StoreUnavailable(SpanbaseError):
    """The store failed to commit a batch (a lost connection, a full disk): nothing was acknowledged,
    the client should retry (503 with Retry-After)."""


class UnsupportedMediaType(SpanbaseError):
    """A body in an encoding the endpoint does not read (415)."""


class BadRequest(SpanbaseError):
    """A request that cannot be answered as asked (400): a bad query parameter, filter or body."""
