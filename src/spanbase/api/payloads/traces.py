"""Trace rows and span trees in the Respan shapes (spec §3.1, §3.2)."""

from __future__ import annotations

from typing import Any

from spanbase.api.payloads.render import as_text, public_metadata
from spanbase.domain.spans import iso_from_micros


def trace_object(row: dict[str, Any], organization_id: str) -> dict[str, Any]:
    root: dict[str, Any] = row.get("root_payload") or {}
    return {
        "id": row["trace_unique_id"],
        "trace_unique_id": row["trace_unique_id"],
        "root_span_unique_id": row["root_span_unique_id"],
        "unique_organization_id": organization_id,
        "organization_id": organization_id,
        "organization_key_id": row["organization_key_id"],
        "environment": row["environment"],
        "customer_identifier": row["customer_identifier"],
        "thread_identifier": row["thread_identifier"],
        "session_identifier": row["session_identifier"],
        "trace_group_identifier": row["session_identifier"],
        "start_time": iso_from_micros(row["start_us"]),
        "end_time": iso_from_micros(row["end_us"]),
        "timestamp": iso_from_micros(row["start_us"]),  # what sort_by=timestamp and its filter mean
        "duration": max(row["end_us"] - row["start_us"], 0) / 1e6,
        "span_count": row["span_count"],
        "llm_call_count": row["llm_call_count"],
        "error_count": row["error_count"],
        "total_cost": row["cost_sum"],
        "total_prompt_tokens": row["prompt_tokens"],
        "total_completion_tokens": row["completion_tokens"],
        "total_tokens": row["total_tokens"],
        "name": row["name"],
        "model": row["model"],
        "input": as_text(root.get("input")),
        "output": as_text(root.get("output")),
        "metadata": public_metadata(row.get("root_metadata")),
    }


def tree_node(span: dict[str, Any], organization_id: str) -> dict[str, Any]:
    """One node of a span tree, without its children (query/trees.py nests them)."""
    payload: dict[str, Any] = span.get("payload") or {}
    timestamp = iso_from_micros(span["timestamp_us"])
    return {
        "id": span["unique_id"],
        "unique_id": span["unique_id"],
        "span_unique_id": span["span_unique_id"],
        "span_name": span["span_name"],
        "span_parent_id": span["span_parent_id"],
        "span_workflow_name": span["span_workflow_name"],
        "trace_unique_id": span["trace_unique_id"],
        "customer_identifier": span["customer_identifier"],
        "thread_identifier": span["thread_identifier"],
        "session_identifier": span["session_identifier"],
        "organization_key_id": span["organization_key_id"],
        "organization_id": organization_id,
        "environment": span["environment"],
        "log_type": span["log_type"],
        "timestamp": timestamp,
        "start_time": iso_from_micros(span["start_time_us"]),
        "end_time": timestamp,
        "prompt_tokens": span["prompt_tokens"],
        "completion_tokens": span["completion_tokens"],
        "total_request_tokens": span["total_request_tokens"],
        "cost": span["cost"],
        "model": span["model"],
        "latency": span["latency"],
        "status_code": span["status_code"],
        "status": span["status"],
        "input": as_text(payload.get("input")),
        "output": as_text(payload.get("output")),
        "metadata": public_metadata(span.get("metadata")),
        "span_links": as_text(payload.get("span_links")),  # the client types it as a string
    }
