"""Cost of a span from its model and token usage, with the genai-prices package's bundled price table.

genai-prices' own `calc_price` takes about 100 microseconds a call, which alone would eat a core at
10,000 spans/s. A price is linear in each token count within a tier (genai-prices' tiers are "cliffs":
past a threshold of total input tokens, one rate applies to all tokens), so for each model price and
tier we ask genai-prices once per kind of token for its rate, cache the rates, and multiply. The bundled
snapshot is used as shipped: prices are never fetched over the network.
"""

from __future__ import annotations

import warnings
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelPrice, TieredPrices

from spanbase.domain.spans import from_micros

_MTOK = 1_000_000
_DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Token counts in the OpenAI convention: `prompt` includes cached and cache-write tokens,
    `completion` includes reasoning tokens."""

    prompt: int = 0
    completion: int = 0
    cache_hit: int = 0
    cache_creation: int = 0
    reasoning: int = 0


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per token for each kind of token."""

    uncached_input: float
    cache_read: float
    cache_write: float
    output: float
    reasoning: float


def _usage(tokens: TokenCounts) -> Usage:
    kwargs: dict[str, int] = {"input_tokens": tokens.prompt, "output_tokens": tokens.completion}
    if tokens.cache_hit:
        kwargs["cache_read_tokens"] = tokens.cache_hit
    if tokens.cache_creation:
        kwargs["cache_write_tokens"] = tokens.cache_creation
    if tokens.reasoning:
        kwargs["output_reasoning_tokens"] = tokens.reasoning
    return Usage(**kwargs)


def _total(price: ModelPrice, tokens: TokenCounts) -> Decimal:
    result: Decimal = price.calc_price(_usage(tokens))["total_price"]
    return result


def _tier_starts(price: ModelPrice) -> tuple[int, ...]:
    starts = {int(t.start) for v in vars(price).values() if isinstance(v, TieredPrices) for t in v.tiers}
    return tuple(sorted(starts))


def _rates_at(price: ModelPrice, total_input: int) -> _Rates:
    """Per-token rates for spans whose total input tokens fall in the same tier as `total_input`."""
    x = total_input
    base = _total(price, TokenCounts(prompt=x))
    out = _total(price, TokenCounts(prompt=x, completion=_MTOK))
    return _Rates(
        uncached_input=float(base) / x,
        cache_read=float(_total(price, TokenCounts(prompt=x, cache_hit=x))) / x,
        cache_write=float(_total(price, TokenCounts(prompt=x, cache_creation=x))) / x,
        output=float(out - base) / _MTOK,
        reasoning=float(_total(price, TokenCounts(prompt=x, completion=_MTOK, reasoning=_MTOK)) - base) / _MTOK,
    )


class PriceBook:
    """Looks up prices by model name (and provider when known); caches per-token rates."""

    def __init__(self) -> None:
        self._snapshot: Any = data_snapshot.get_snapshot()
        self._models: dict[tuple[str, str | None], Any] = {}
        self._rates: dict[tuple[int, int], tuple[ModelPrice, _Rates]] = {}
        self._tiers: dict[int, tuple[ModelPrice, tuple[int, ...]]] = {}
        self._days: dict[int, datetime] = {}

    def cost(self, model: str, tokens: TokenCounts, when_us: int, provider_id: str | None = None) -> float | None:
        """USD cost at the time `when_us` (microseconds since the epoch), or None when the model has no
        known price (never a made-up 0)."""
        if not model:
            return None
        info = self._model(model, provider_id)
        if info is None:
            return None
        rates = self._rates_for(info.get_prices(self._day(when_us)), tokens.prompt)
        uncached = max(tokens.prompt - tokens.cache_hit - tokens.cache_creation, 0)
        plain_output = max(tokens.completion - tokens.reasoning, 0)
        # Rounded to 1e-12 USD so float rates do not print as 3.5000000000000004e-05.
        return round(
            uncached * rates.uncached_input
            + tokens.cache_hit * rates.cache_read
            + tokens.cache_creation * rates.cache_write
            + plain_output * rates.output
            + tokens.reasoning * rates.reasoning,
            12,
        )

    def _day(self, when_us: int) -> datetime:
        """The start of the UTC day: prices change by the day at most, and one datetime serves them all."""
        day = when_us // _DAY_US
        found = self._days.get(day)
        if found is None:
            if len(self._days) > 10_000:
                self._days.clear()
            found = self._days[day] = from_micros(day * _DAY_US)
        return found

    def _model(self, model: str, provider_id: str | None) -> Any:
        key = (model, provider_id)
        if key in self._models:
            return self._models[key]
        try:
            _, info = self._snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            # An unknown provider name ("azure-eu", "my-proxy") should not hide a known model.
            info = self._model(model, None) if provider_id is not None else None
        if len(self._models) > 100_000:  # bounded: model names come from clients
            self._models.clear()
        self._models[key] = info
        return info

    def _rates_for(self, price: ModelPrice, total_input: int) -> _Rates:
        # Cached objects are kept alive with their entries, so an id() cannot be reused by another price.
        tiers = self._tiers.get(id(price))
        if tiers is None or tiers[0] is not price:
            tiers = self._tiers[id(price)] = (price, _tier_starts(price))
        starts = tiers[1]
        region = bisect_left(starts, total_input)
        cached = self._rates.get((id(price), region))
        if cached is not None and cached[0] is price:
            return cached[1]
        # A probe inside the tier: a tier applies when total input tokens exceed its start.
        probe = _MTOK if not starts else (starts[0] if region == 0 else starts[region - 1] + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rates = _rates_at(price, max(probe, 1))
        self._rates[(id(price), region)] = (price, rates)
        return rates


def unit_price_cost(tokens: TokenCounts, prompt_unit_price: float | None, completion_unit_price: float | None) -> float:
    """Cost from per-request prices in USD per 1M tokens (self-hosted or fine-tuned models)."""
    cost = tokens.prompt * (prompt_unit_price or 0.0) + tokens.completion * (completion_unit_price or 0.0)
    return round(cost / _MTOK, 12)
