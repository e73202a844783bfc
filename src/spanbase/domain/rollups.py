"""Span aggregates and the rollups that keep them per hour and per day (DESIGN.md, "Rollups").

An Aggregate is what every summary, group and rollup row holds: exact counts and sums, plus a latency
histogram for percentiles. Aggregates add and subtract, so a rollup row is the sum of its spans', and
deleting a trace subtracts its spans'.

Three rollup levels, each a time grain and the span columns it keeps apart (its dimensions):
  0: per hour, by model and status
  1: per day (UTC), by model and status
  2: per day (UTC), by customer
A summary whose filters name only a level's dimensions (and environment) reads that level for the whole
hours or days inside its window and the raw spans for the ragged ends; any other filter scans spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

from spanbase.domain import histogram
from spanbase.domain.histogram import Histogram
from spanbase.domain.pickling import by_fields
from spanbase.domain.spans import SpanRecord

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US

Grain = Literal["hour", "day"]
GRAIN_US: dict[Grain, int] = {"hour": HOUR_US, "day": DAY_US}


@dataclass(frozen=True, slots=True)
class Level:
    id: int
    grain: Grain
    dims: tuple[str, ...]  # span fields kept apart, stored in the rollup's d1, d2 columns


LEVELS: tuple[Level, ...] = (
    Level(0, "hour", ("model", "status")),
    Level(1, "day", ("model", "status")),
    Level(2, "day", ("customer_identifier",)),
)
HOURLY, DAILY, DAILY_BY_CUSTOMER = LEVELS


def floor_to(us: int, grain_us: int) -> int:
    return us - us % grain_us


def ceil_to(us: int, grain_us: int) -> int:
    return -((-us) // grain_us) * grain_us


@by_fields
@dataclass(slots=True)
class Aggregate:
    """Sums over a set of spans. Averages divide by the count of spans that had the value (`*_n`)."""

    n: int = 0
    error_n: int = 0
    cache_hit_n: int = 0
    cost_sum: float = 0.0
    cost_n: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_sum: float = 0.0
    latency_n: int = 0
    ttft_sum: float = 0.0
    ttft_n: int = 0
    tps_sum: float = 0.0
    tps_n: int = 0
    hist: Histogram = field(default_factory=dict)

    def add_span(
        self,
        status: str,
        cost: float | None,
        prompt_tokens: int,
        completion_tokens: int,
        total_tokens: int,
        cache_hit_tokens: int,
        latency: float | None,
        ttft: float | None,
        tps: float | None,
        sign: int = 1,
    ) -> None:
        self.n += sign
        if status == "failed":
            self.error_n += sign
        if cache_hit_tokens > 0:
            self.cache_hit_n += sign
        if cost is not None:
            self.cost_sum += sign * cost
            self.cost_n += sign
        self.prompt_tokens += sign * prompt_tokens
        self.completion_tokens += sign * completion_tokens
        self.total_tokens += sign * total_tokens
        if latency is not None:
            self.latency_sum += sign * latency
            self.latency_n += sign
            b = histogram.bucket_of(latency)
            c = self.hist.get(b, 0) + sign
            if c:
                self.hist[b] = c
            else:
                del self.hist[b]
        if ttft is not None:
            self.ttft_sum += sign * ttft
            self.ttft_n += sign
        if tps is not None:
            self.tps_sum += sign * tps
            self.tps_n += sign

    def add_record(self, r: SpanRecord, bucket: int | None) -> None:
        """add_span for one stored span, its latency bucket computed once by the caller (hot path)."""
        self.n += 1
        if r.status == "failed":
            self.error_n += 1
        if r.prompt_cache_hit_tokens > 0:
            self.cache_hit_n += 1
        if r.cost is not None:
            self.cost_sum += r.cost
            self.cost_n += 1
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.total_tokens += r.total_request_tokens
        if bucket is not None:
            self.latency_sum += r.latency  # type: ignore[operator]  # bucket is None when latency is
            self.latency_n += 1
            self.hist[bucket] = self.hist.get(bucket, 0) + 1
        if r.time_to_first_token is not None:
            self.ttft_sum += r.time_to_first_token
            self.ttft_n += 1
        if r.tokens_per_second is not None:
            self.tps_sum += r.tokens_per_second
            self.tps_n += 1

    def merge(self, other: Aggregate, sign: int = 1) -> None:
        for name in _SCALARS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))
        histogram.add_into(self.hist, other.hist, sign)

    def scalars(self) -> tuple[int | float, ...]:
        return tuple(getattr(self, name) for name in _SCALARS)

    @classmethod
    def from_scalars(cls, values: tuple[int | float, ...], hist: Histogram | None = None) -> Aggregate:
        agg = cls(**dict(zip(_SCALARS, values, strict=True)))  # type: ignore[arg-type]
        if hist:
            agg.hist = hist
        return agg

    # What the API reports (spec §2.7, §2.8), each in one place.

    @property
    def average_latency(self) -> float | None:
        return self.latency_sum / self.latency_n if self.latency_n else None

    @property
    def average_ttft(self) -> float | None:
        return self.ttft_sum / self.ttft_n if self.ttft_n else None

    @property
    def average_tps(self) -> float | None:
        return self.tps_sum / self.tps_n if self.tps_n else None

    def latency_quantile(self, q: float) -> float | None:
        return histogram.quantile(self.hist, q)


# Scalar columns of an aggregate, in order: the rollup table has a column of each name.
_SCALARS: tuple[str, ...] = tuple(f.name for f in fields(Aggregate) if f.name != "hist")
AGGREGATE_COLUMNS = _SCALARS
INTEGER_COLUMNS = frozenset(
    {"n", "error_n", "cache_hit_n", "cost_n", "prompt_tokens", "completion_tokens", "total_tokens"}
    | {"latency_n", "ttft_n", "tps_n"}
)
