"""The span as spanbase stores it: light, filterable columns plus one heavy JSON payload.

Light columns are what filters, sorts, counts and aggregates read; the payload (input, output, raw
provider bodies, tools, LLM parameters, ...) is fetched by key only for the rows a response returns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
_EPOCH_ORDINAL = EPOCH.toordinal()

# Identifiers longer than this are truncated, never refused (the Respan create-span contract).
MAX_IDENTIFIER_LEN = 254
MAX_SPAN_NAME_LEN = 255

ENVIRONMENTS = ("prod", "test")

# Respan's response status enum; a request's "error" is stored as "failed".
STATUSES = ("success", "warning", "failed", "pending", "running")

# Log types of calls to a model: what a trace's llm_call_count counts (spec §13.6).
LLM_LOG_TYPES = frozenset(
    {"chat", "completion", "text", "response", "embedding", "generation", "transcription", "speech"}
)


def to_micros(dt: datetime) -> int:
    """Exact microseconds since the epoch; a naive datetime is UTC.

    Integer arithmetic on the fields: exact (a float timestamp * 1e6 can lose the last digit) and
    several times faster than timedelta arithmetic, on the ingest hot path.
    """
    seconds = (dt.toordinal() - _EPOCH_ORDINAL) * 86_400 + dt.hour * 3_600 + dt.minute * 60 + dt.second
    offset = dt.utcoffset()
    if offset:
        seconds -= offset.days * 86_400 + offset.seconds
    return seconds * 1_000_000 + dt.microsecond


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def iso_from_micros(us: int | None) -> str | None:
    if us is None:
        return None
    return from_micros(us).isoformat().replace("+00:00", "Z")


def make_unique_id(span_id: int, tag: int) -> str:
    """A span's public id: its row id and a random tag, as 32 lowercase hex characters.

    The row id inside lets a lookup by unique_id go straight to the row (no index on unique_id, whose
    random keys made every commit rewrite pages all over that index); the tag keeps the ids unguessable.
    """
    return f"{span_id:016x}{tag & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def row_id_of(unique_id: str) -> int | None:
    """The row id inside a unique_id, or None when the string cannot be one."""
    if len(unique_id) != 32:
        return None
    try:
        row_id = int(unique_id[:16], 16)
    except ValueError:
        return None
    return row_id if row_id < 2**63 else None


def trace_key(trace_id: str) -> int:
    """A 63-bit number for a trace id, what the trace index holds instead of the id itself.

    Trace ids are random, so every new span lands somewhere random in the trace index, and each commit
    rewrites index pages all over it; an 8-byte key instead of a ~40-byte id makes that index (and the
    pages a commit rewrites) several times smaller. Lookups compare the full id after the index.
    """
    return int.from_bytes(hashlib.blake2b(trace_id.encode(), digest_size=8).digest()) >> 1


def tag_of(org_id: int, environment: str, key: str, value: str) -> int:
    """A 63-bit number for one metadata pair of one tenant: what the metadata index (span_tags) holds.

    Two different pairs share a number with a chance of about 2**-63 per pair of pairs, far below any
    other source of error; a filter on metadata equality reads these numbers and nothing else.
    """
    text = f"{org_id}\x00{environment}\x00{key}\x00{value}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest()) >> 1


_TAG_CACHE: dict[tuple[int, str, str, str], int] = {}
_TAG_CACHE_MAX = 100_000


def tags_for(org_id: int, environment: str, metadata: dict[str, str]) -> tuple[int, ...]:
    """The tags of a span's metadata. Metadata values repeat (plans, regions, versions): the numbers are
    cached, which took hashing from a third of the derived rows' cost to almost nothing.

    Reserved keys (a leading "_", never returned) have none: respan-tracing puts _tracing_sdk_version
    on every span, a tag row each for a key no one reads back. A filter on one reads the metadata itself.
    """
    cache = _TAG_CACHE
    out = []
    for k, v in metadata.items():
        if k[:1] == "_":
            continue
        key = (org_id, environment, k, v)
        tag = cache.get(key)
        if tag is None:
            if len(cache) >= _TAG_CACHE_MAX:
                cache.clear()
            tag = cache[key] = tag_of(org_id, environment, k, v)
        out.append(tag)
    return tuple(set(out)) if len(out) > 1 else tuple(out)


def is_root(span_parent_id: str | None) -> bool:
    return not span_parent_id


@dataclass(slots=True)
class SpanRecord:
    """One normalised span, ready to store. Field order is the light-column order of the spans table.

    `unique_id` is "" until the writer numbers the span; a resend gets the unique_id of the stored span.
    """

    unique_id: str
    org_id: int
    environment: str
    timestamp_us: int
    start_time_us: int
    latency: float | None
    trace_unique_id: str | None
    trace_key: int | None
    span_unique_id: str | None
    span_parent_id: str | None
    span_name: str | None
    span_workflow_name: str | None
    thread_identifier: str | None
    session_identifier: str | None
    customer_identifier: str | None
    customer_email: str | None
    customer_name: str | None
    custom_identifier: str | None
    group_identifier: str | None
    evaluation_identifier: str | None
    prompt_id: str | None
    prompt_name: str | None
    model: str
    provider_id: str | None
    log_type: str
    log_method: str
    status: str
    status_code: int
    error_message: str | None
    stream: bool
    has_tool_calls: bool
    positive_feedback: bool | None
    is_pinned: bool
    note: str | None
    cost: float | None
    time_to_first_token: float | None
    tokens_per_second: float | None
    prompt_tokens: int
    completion_tokens: int
    total_request_tokens: int
    prompt_cache_hit_tokens: int
    prompt_cache_creation_tokens: int
    reasoning_tokens: int
    metadata_json: str
    created_us: int
    organization_key_id: str | None
    error_code: str | None
    prompt_version_number: int | None
    deployment_name: str | None
    routing_time: float | None
    day: int  # timestamp_us // DAY_US: what the secondary indexes lead with
    # Not a light column: the JSON of everything else, stored apart.
    payload_json: str
    # Not a column: the metadata tags (tags_for), when normalising computed them.
    tags: tuple[int, ...] | None = None
