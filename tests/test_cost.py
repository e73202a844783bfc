"""Cost: as given, from per-request unit prices, or from genai-prices' table; null when unknown."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.test_create_span import create


def cost_of(client: TestClient, body: dict[str, Any]) -> float | None:
    cost: float | None = create(client, body)["cost"]
    return cost


def test_given_cost_is_stored_as_given(client: TestClient) -> None:
    assert cost_of(client, {"model": "gpt-4o", "cost": 1.5, "usage": {"prompt_tokens": 10}}) == 1.5
    assert cost_of(client, {"model": "unknown-model", "cost": 0}) == 0


def test_openai_cached_input_is_priced_as_cache_reads(client: TestClient) -> None:
    # gpt-4o: input $2.50, cached input $1.25, output $10 per 1M tokens.
    body = {
        "model": "gpt-4o",
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "prompt_tokens_details": {"cached_tokens": 200}},
    }
    assert cost_of(client, body) == pytest.approx((800 * 2.5 + 200 * 1.25 + 500 * 10) / 1e6)


def test_anthropic_cache_reads_and_writes(client: TestClient) -> None:
    # claude-3.5-sonnet: input $3, cache read $0.30, cache write $3.75, output $15 per 1M tokens.
    body = {
        "model": "claude-3-5-sonnet-20241022",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 400,
        },
    }
    assert cost_of(client, body) == pytest.approx((100 * 3 + 1000 * 0.3 + 400 * 3.75 + 20 * 15) / 1e6)


def test_reasoning_tokens_are_output_tokens(client: TestClient) -> None:
    # o3-mini: input $1.10, output $4.40; reasoning tokens are part of completion_tokens, priced as output.
    body = {
        "model": "o3-mini",
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 1000,
            "completion_tokens_details": {"reasoning_tokens": 800},
        },
    }
    assert cost_of(client, body) == pytest.approx((100 * 1.1 + 1000 * 4.4) / 1e6)


def test_separately_priced_reasoning(client: TestClient) -> None:
    # perplexity sonar-deep-research prices reasoning tokens apart: $3 / 1M, output $8, input $2.
    body = {
        "model": "sonar-deep-research",
        "provider_id": "perplexity",  # genai-prices finds this model only with its provider
        "usage": {"prompt_tokens": 10, "completion_tokens": 100},
        "reasoning_tokens": 60,
    }
    assert cost_of(client, body) == pytest.approx((10 * 2 + 40 * 8 + 60 * 3) / 1e6)


def test_unit_prices_are_per_million_tokens(client: TestClient) -> None:
    body = {
        "model": "my-finetune",
        "prompt_tokens": 2000,
        "completion_tokens": 1000,
        "prompt_unit_price": 1.0,
        "completion_unit_price": 3.0,
    }
    assert cost_of(client, body) == pytest.approx((2000 * 1 + 1000 * 3) / 1e6)


def test_unknown_model_has_null_cost_and_is_stored(client: TestClient) -> None:
    created = create(client, {"model": "my-private-model-v7", "usage": {"prompt_tokens": 10, "completion_tokens": 5}})
    assert created["cost"] is None
    assert client.get(f"/api/request-logs/{created['unique_id']}/").json()["cost"] is None


def test_known_model_with_no_tokens_costs_zero(client: TestClient) -> None:
    assert cost_of(client, {"model": "gpt-4o-mini"}) == 0


def test_unknown_provider_name_still_prices_a_known_model(client: TestClient) -> None:
    body = {"model": "gpt-4o", "provider_id": "my-azure-proxy", "usage": {"prompt_tokens": 1000}}
    assert cost_of(client, body) == pytest.approx(1000 * 2.5 / 1e6)
