"""Cost of a span from its model and token usage, with the genai-prices package's bundled price table.

genai-prices' own `calc_price` takes about 100 microseconds a call, which alone would eat a core at
10,000 spans/s. Nearly every price is linear in each token count, so for a model's price we evaluate
genai-prices once per kind of token (its per-token rates) and cache those rates; tiered prices (a rate
that changes past a token threshold) still go through genai-prices itself for every span. The bundled
snapshot is used as shipped: prices are never fetched over the network.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelPrice, TieredPrices

_MTOK = 1_000_000


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


class PriceBook:
    """Looks up prices by model name (and provider when known); caches per-token rates."""

    def __init__(self) -> None:
        self._snapshot: Any = data_snapshot.get_snapshot()
        self._rates: dict[int, tuple[ModelPrice, _Rates | None]] = {}
        self._unknown: set[tuple[str, str | None]] = set()

    def cost(self, model: str, tokens: TokenCounts, when: datetime, provider_id: str | None = None) -> float | None:
        """USD cost, or None when the model has no known price (never a made-up 0)."""
        if not model:
            return None
        price = self._price(model, provider_id, when)
        if price is None:
            return None
        rates = self._rates_for(price)
        if rates is None:  # tiered price: exact computation by genai-prices
            return round(float(_total(price, tokens)), 12)
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

    def _price(self, model: str, provider_id: str | None, when: datetime) -> ModelPrice | None:
        key = (model, provider_id)
        if key in self._unknown:
            return None
        try:
            _, info = self._snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            if provider_id is None:
                self._unknown.add(key)
                return None
            # An unknown provider name ("azure-eu", "my-proxy") should not hide a known model.
            return self._price(model, None, when)
        price: ModelPrice = info.get_prices(when)
        return price

    def _rates_for(self, price: ModelPrice) -> _Rates | None:
        cached = self._rates.get(id(price))
        if cached is not None and cached[0] is price:
            return cached[1]
        rates = None
        if not any(isinstance(v, TieredPrices) for v in vars(price).values()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rates = _Rates(
                    uncached_input=float(_total(price, TokenCounts(prompt=_MTOK))) / _MTOK,
                    cache_read=float(_total(price, TokenCounts(prompt=_MTOK, cache_hit=_MTOK))) / _MTOK,
                    cache_write=float(_total(price, TokenCounts(prompt=_MTOK, cache_creation=_MTOK))) / _MTOK,
                    output=float(_total(price, TokenCounts(completion=_MTOK))) / _MTOK,
                    reasoning=float(_total(price, TokenCounts(completion=_MTOK, reasoning=_MTOK))) / _MTOK,
                )
        # Keep the price object alive with its rates so its id() cannot be reused by another one.
        self._rates[id(price)] = (price, rates)
        return rates


def unit_price_cost(tokens: TokenCounts, prompt_unit_price: float | None, completion_unit_price: float | None) -> float:
    """Cost from per-request prices in USD per 1M tokens (self-hosted or fine-tuned models)."""
    cost = tokens.prompt * (prompt_unit_price or 0.0) + tokens.completion * (completion_unit_price or 0.0)
    return round(cost / _MTOK, 12)
