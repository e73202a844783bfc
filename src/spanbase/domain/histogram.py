"""Latency histograms with log-scale buckets: percentiles within 1% relative error, mergeable by addition.

The DDSketch construction: a value x > 0 goes to bucket i = ceil(log(x) / log(GAMMA)) with
GAMMA = (1 + a) / (1 - a), and bucket i reports 2 * GAMMA**i / (GAMMA + 1), which is within a relative
error `a` (1%) of every value in it. Counts per bucket add up, so an hour's histogram plus another's is
the histogram of both, which is what lets rollups answer percentiles over any set of hours or days.

The same bucket function runs in SQL on raw spans (storage/sql/summaries.py: `ceil(ln(x) * INV_LOG_GAMMA)`)
and in Python here, so a percentile read from rollups and one scanned from spans agree.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
INV_LOG_GAMMA = 1.0 / math.log(GAMMA)
# Latencies at or below a microsecond are all "0": no span is timed that finely.
MIN_VALUE = 1e-6
ZERO_BUCKET = -100_000

Histogram = dict[int, int]  # bucket -> count


def bucket_of(x: float) -> int:
    if x <= MIN_VALUE:
        return ZERO_BUCKET
    return math.ceil(math.log(x) * INV_LOG_GAMMA)


def value_of(bucket: int) -> float:
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2.0 * GAMMA**bucket / (GAMMA + 1.0)


def add_into(target: Histogram, other: Mapping[int, int], sign: int = 1) -> None:
    """target += sign * other; buckets that reach 0 are dropped."""
    for b, c in other.items():
        n = target.get(b, 0) + sign * c
        if n:
            target[b] = n
        else:
            target.pop(b, None)


def quantile(h: Mapping[int, int], q: float) -> float | None:
    """The value at rank floor(q * (n - 1)) of the sorted values (nearest rank, lower), within 1%."""
    n = sum(h.values())
    if n <= 0:
        return None
    rank = math.floor(q * (n - 1))
    seen = 0
    for b in sorted(h):
        seen += h[b]
        if seen > rank:
            return value_of(b)
    return value_of(max(h))  # pragma: no cover - counts are positive, the loop always returns


def quantiles(h: Mapping[int, int], qs: Iterable[float]) -> list[float | None]:
    return [quantile(h, q) for q in qs]


def encode(h: Mapping[int, int]) -> bytes:
    """Sorted (bucket, count) pairs as 64-bit integers: a few hundred bytes for a busy day of one model."""
    flat = array("q")
    for b in sorted(h):
        flat.append(b)
        flat.append(h[b])
    return flat.tobytes()


def decode(blob: bytes | memoryview | None) -> Histogram:
    if not blob:
        return {}
    flat = array("q")
    flat.frombytes(bytes(blob))
    return dict(zip(flat[0::2], flat[1::2], strict=True))
