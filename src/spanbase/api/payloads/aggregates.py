"""Summaries, groups, threads and customers in the Respan shapes (spec §2.7, §2.8, §4, §5)."""

from __future__ import annotations

from typing import Any

from spanbase.domain.rollups import Aggregate
from spanbase.domain.spans import iso_from_micros

PERCENTILES = (("p50_latency", 0.5), ("p90_latency", 0.9), ("p95_latency", 0.95), ("p99_latency", 0.99))


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _average_cost(agg: Aggregate) -> float | None:
    # Over the spans that have a cost, like every other average (domain/rollups.py): a span of a model
    # with no known price has none, and counting it as 0 would pull the average down.
    return agg.cost_sum / agg.cost_n if agg.cost_n else None


def summary(agg: Aggregate) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number_of_requests": agg.n,
        "total_cost": agg.cost_sum,
        "total_tokens": agg.total_tokens,
        "total_prompt_tokens": agg.prompt_tokens,
        "total_completion_tokens": agg.completion_tokens,
        "error_count": agg.error_n,
        "avg_latency": agg.average_latency,
        "avg_tps": agg.average_tps,
        "avg_ttft": agg.average_ttft,
        "avg_cost": _average_cost(agg),
    }
    out.update((name, agg.latency_quantile(q)) for name, q in PERCENTILES)
    out["scores"] = {}
    return out


def group_row(key_field: str | None, key: Any, date: int | None, agg: Aggregate) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if key_field is not None:
        row[key_field] = key
    row["date_group"] = iso_from_micros(date)
    row.update(
        {
            "number_of_requests": agg.n,
            "span_count": agg.n,
            "total_cost": agg.cost_sum,
            "total_tokens": agg.total_tokens,
            "total_prompt_tokens": agg.prompt_tokens,
            "total_completion_tokens": agg.completion_tokens,
            "error_count": agg.error_n,
            "error_percentage": _percent(agg.error_n, agg.n),
            "average_cost": _average_cost(agg),
            "average_tokens": agg.total_tokens / agg.n if agg.n else None,
            "average_latency": agg.average_latency,
            "average_ttft": agg.average_ttft,
            "average_tps": agg.average_tps,
            "cache_hit_percentage": _percent(agg.cache_hit_n, agg.n),
        }
    )
    row.update((name, agg.latency_quantile(q)) for name, q in PERCENTILES)
    return row


def _average(total: float, n: int) -> float | None:
    return total / n if n else None


def thread_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["thread_identifier"],
        "thread_identifier": row["thread_identifier"],
        "environment": row["environment"],
        "customer_identifier": row["customer_identifier"],
        "organization_key_id": row["organization_key_id"],
        "log_count": row["n"],
        "number_of_requests": row["n"],
        "error_count": row["error_n"],
        "total_cost": row["cost_sum"],
        "total_tokens": row["total_tokens"],
        "total_prompt_tokens": row["prompt_tokens"],
        "total_completion_tokens": row["completion_tokens"],
        "average_latency": _average(row["latency_sum"], row["latency_n"]),
        "first_seen": iso_from_micros(row["first_us"]),
        "last_seen": iso_from_micros(row["last_us"]),
        "created_at": iso_from_micros(row["first_us"]),
        "updated_at": iso_from_micros(row["last_us"]),
    }


def customer_row(row: dict[str, Any], organization_id: str) -> dict[str, Any]:
    days = row.get("active_days") or 0
    months = max((row["last_us"] - row["first_us"]) / (30 * 86_400e6), 1.0)
    return {
        "id": row["customer_identifier"],
        "customer_identifier": row["customer_identifier"],
        "unique_organization_id": organization_id,
        "environment": row["environment"],
        "name": row["name"],
        "email": row["email"],
        "first_seen": iso_from_micros(row["first_us"]),
        "last_active": iso_from_micros(row["last_us"]),
        "last_active_timeframe": iso_from_micros(row["last_us"]),
        "active_days": days,
        "number_of_requests": row["n"],
        "total_requests": row["n"],
        "error_count": row["error_n"],
        "total_tokens": row["total_tokens"],
        "tokens": row["total_tokens"],
        "total_prompt_tokens": row["prompt_tokens"],
        "total_completion_tokens": row["completion_tokens"],
        "total_cost": row["cost_sum"],
        "cost": row["cost_sum"],
        "average_latency": _average(row["latency_sum"], row["latency_n"]),
        "average_ttft": _average(row["ttft_sum"], row["ttft_n"]),
        "average_monthly_cost": row["cost_sum"] / months,
        "period_budget": None,
        "budget_duration": None,
        "total_budget": None,
    }


# What a group row can be sorted by: its own fields, but the group key (added by the route).
GROUP_SORTS = frozenset(group_row(None, None, None, Aggregate()))
