"""Span ingestion end to end: raw body -> validated spans -> normalised records -> the writer.

Bodies are validated straight from their bytes with one pydantic TypeAdapter call. Only when a bulk body
has bad rows do we parse it a second time, to validate the good rows one by one and keep them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from spanbase.api.payloads.spans import SpanIn, bulk_adapter, raw_bulk_adapter, span_adapter
from spanbase.domain.errors import FieldError, SpanbaseError, TooLarge
from spanbase.domain.keys import Principal
from spanbase.domain.spans import SpanRecord
from spanbase.ingest.normalize import IngestContext, normalize
from spanbase.ingest.pricing import PriceBook
from spanbase.ingest.writer import SpanWriter

if TYPE_CHECKING:
    from spanbase.ingest.parsers import BodyParser, Parser

_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "datetime"})


class MalformedJSON(SpanbaseError):
    """The body is not JSON at all (400)."""


class InvalidBody(SpanbaseError):
    """The body is JSON but not the expected shape (422), with messages per field."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("Validation error")
        self.errors = errors

    def __reduce__(self) -> tuple[type[InvalidBody], tuple[dict[str, list[str]]]]:
        return InvalidBody, (self.errors,)  # raised in a parse worker, re-raised here


@dataclass
class BulkResult:
    success_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    records: list[SpanRecord] = field(default_factory=list)
    # Values that were kept aside rather than refused (OTLP: an attribute of the wrong type).
    warnings: list[str] = field(default_factory=list)
    # What the store derives from `records`, when a parse worker made it (see parsers.Prepare).
    prepared: object | None = None


def field_name(loc: Sequence[int | str]) -> str:
    """('logs', 3, 'usage', 'prompt_tokens') -> 'usage.prompt_tokens'; the row index is reported apart."""
    parts = [str(p) for p in loc]
    return ".".join(parts) if parts else "body"


def _message(error: ErrorDetails) -> str:
    if error["type"] == "dict_type" and not error["loc"]:
        return "the body must be a JSON object"
    return str(error["msg"])


def errors_by_field(errors: list[ErrorDetails], skip: int = 0) -> dict[str, list[str]]:
    by_field: dict[str, list[str]] = defaultdict(list)
    for e in errors:
        loc = e["loc"][skip:]
        # pydantic names union members in the path ("str", "list[...]"); they mean nothing to a client.
        clean = [p for p in loc if isinstance(p, int) or (not any(c in p for c in "[]") and p not in ("str",))]
        by_field[field_name(clean)].append(_message(e))
    return dict(by_field)


def describe(errors: list[ErrorDetails], skip: int = 0) -> str:
    """A span's validation errors in one line: "field: message; field: message"."""
    return "; ".join(f"{name}: {'; '.join(messages)}" for name, messages in errors_by_field(errors, skip).items())


def normalize_fields(fields: Any, ctx: IngestContext) -> SpanRecord:
    """Fields built from another format (OTLP, a legacy ingest row) -> a record, as a REST span is."""
    return normalize(span_adapter.validate_python(fields), ctx)


def _check_json(error: ValidationError) -> None:
    for e in error.errors():
        if e["type"] == "json_invalid":
            raise MalformedJSON(f"Malformed JSON: {e['msg']}")


@dataclass(frozen=True, slots=True)
class Who:
    """Who writes, through which endpoint, and when: plain values, sent to a parse worker as they are."""

    org_id: int
    environment: str
    key_id: int
    log_method: str
    received_us: int
    max_span_bytes: int

    def context(self, prices: PriceBook) -> IngestContext:
        return IngestContext(
            org_id=self.org_id,
            environment=self.environment,
            log_method=self.log_method,
            prices=prices,
            received_us=self.received_us,
            max_span_bytes=self.max_span_bytes,
            key_id=self.key_id,
        )


def parse_create(body: bytes, who: Who, prices: PriceBook) -> SpanRecord:
    try:
        span = span_adapter.validate_json(body)
    except ValidationError as e:
        _check_json(e)
        raise InvalidBody(errors_by_field(e.errors())) from None
    try:
        return normalize(span, who.context(prices))
    except FieldError as e:
        raise InvalidBody({e.field: [e.message]}) from None


def parse_bulk(body: bytes, who: Who, prices: PriceBook) -> BulkResult:
    """The spans of a bulk body ready to store (in `records`), and the errors of the rows that are not."""
    result = BulkResult()
    try:
        spans: list[tuple[int, SpanIn]] = list(enumerate(bulk_adapter.validate_json(body)["logs"]))
    except ValidationError as e:
        _check_json(e)
        spans = _valid_rows(body, e, result)
    ctx = who.context(prices)
    too_large = False
    for index, span in spans:
        try:
            result.records.append(normalize(span, ctx))
        except FieldError as e:
            result.errors.append({"index": index, "error": str(e)})
        except TooLarge as e:
            # A row error like any other, so the rest of the batch is kept (spec §2.2).
            too_large = True
            result.errors.append({"index": index, "error": str(e)})
    if not result.records and too_large:
        raise TooLarge("no span was stored: " + "; ".join(f"row {e['index']}: {e['error']}" for e in result.errors))
    result.success_count = len(result.records)
    result.errors.sort(key=lambda e: e["index"])
    return result


def _valid_rows(body: bytes, error: ValidationError, result: BulkResult) -> list[tuple[int, SpanIn]]:
    """Sort the errors into whole-body ones (raised) and row ones; validate the other rows alone."""
    row_errors: dict[int, list[ErrorDetails]] = defaultdict(list)
    whole: list[ErrorDetails] = []
    for e in error.errors():
        loc = e["loc"]
        if len(loc) >= 2 and loc[0] == "logs" and isinstance(loc[1], int):
            row_errors[loc[1]].append(e)
        else:
            whole.append(e)
    if whole:
        raise InvalidBody(errors_by_field(whole))
    for index, errors in row_errors.items():
        result.errors.append({"index": index, "error": describe(errors, skip=2)})
    logs = raw_bulk_adapter.validate_json(body)["logs"]
    return [(i, span_adapter.validate_python(raw)) for i, raw in enumerate(logs) if i not in row_errors]


class SpanIngestor:
    """Parses request bodies into spans (in parse worker processes when there are some) and hands them
    to the writer; answers once they are committed."""

    def __init__(
        self,
        writer: SpanWriter,
        parser: Parser,
        max_span_bytes: int,
        now_us: Callable[[], int],
    ) -> None:
        self._writer = writer
        self.parser = parser
        self._max_span_bytes = max_span_bytes
        self._now_us = now_us

    def _who(self, principal: Principal, log_method: str) -> Who:
        return Who(
            principal.org_id,
            principal.environment,
            principal.key_id,
            log_method,
            self._now_us(),
            self._max_span_bytes,
        )

    async def create(self, body: bytes, principal: Principal) -> SpanRecord:
        record = parse_create(body, self._who(principal, "logging_api"), self.parser.prices)
        await self._writer.write([record])
        return record

    async def bulk(self, body: bytes, principal: Principal) -> BulkResult:
        return await self.many(parse_bulk, body, principal, "batch")

    async def many(self, parse: BodyParser, body: bytes, principal: Principal, log_method: str) -> BulkResult:
        """A body of many spans (bulk, OTLP, the legacy trace ingest), parsed by `parse`, then written."""
        result = await self.parser.parse(parse, body, self._who(principal, log_method))
        await self._writer.write(result.records, result.prepared)
        return result
