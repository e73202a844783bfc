"""Legacy field mapping (spec §13.4), params precedence (§13.5), status (§13.3), identifiers (§1.7)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.test_create_span import create, retrieve


def stored(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    return retrieve(client, create(client, body)["unique_id"])


def test_messages_is_prompt_messages(client: TestClient) -> None:
    span = stored(client, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert span["input"] == [{"role": "user", "content": "hi"}]
    assert span["prompt_messages"] == [{"role": "user", "content": "hi"}]


def test_explicit_input_and_output_win_over_legacy_fields(client: TestClient) -> None:
    span = stored(
        client,
        {
            "model": "gpt-4o",
            "input": [{"role": "user", "content": "new"}],
            "prompt_messages": [{"role": "user", "content": "old"}],
            "output": {"role": "assistant", "content": "new"},
            "completion_message": {"role": "assistant", "content": "old"},
        },
    )
    assert span["input"][0]["content"] == "new"
    assert span["output"]["content"] == "new"


def test_chat_input_given_as_a_json_string_is_parsed(client: TestClient) -> None:
    span = stored(
        client,
        {
            "model": "gpt-4o",
            "input": '[{"role": "user", "content": "hi"}]',
            "output": '{"role": "assistant", "content": "yo"}',
        },
    )
    assert span["input"] == [{"role": "user", "content": "hi"}]
    assert span["completion_message"] == {"role": "assistant", "content": "yo"}


def test_non_chat_input_is_kept_as_sent(client: TestClient) -> None:
    span = stored(client, {"model": "", "log_type": "workflow", "input": '{"not": "parsed"}', "output": 42})
    assert span["input"] == '{"not": "parsed"}'
    assert span["output"] == 42
    assert "prompt_messages" not in span


def test_completion_log_type_stores_strings(client: TestClient) -> None:
    span = stored(client, {"model": "gpt-3.5-turbo-instruct", "log_type": "completion", "input": "2+2=", "output": "4"})
    assert (span["log_type"], span["input"], span["output"]) == ("completion", "2+2=", "4")


def test_aliases_fill_canonical_fields(client: TestClient) -> None:
    span = stored(client, {"model": "m", "generation_time": 2.5, "ttft": 0.4})
    assert span["latency"] == 2.5
    assert span["time_to_first_token"] == 0.4
    assert "generation_time" not in span and "ttft" not in span


def test_params_precedence_top_level_over_respan_over_keywordsai(client: TestClient) -> None:
    span = stored(
        client,
        {
            "model": "m",
            "customer_identifier": "top",
            "respan_params": {"customer_identifier": "respan", "thread_identifier": "respan-thread"},
            "keywordsai_params": {
                "customer_identifier": "kai",
                "thread_identifier": "kai-thread",
                "custom_identifier": "kai-custom",
            },
        },
    )
    assert span["customer_identifier"] == "top"
    assert span["thread_identifier"] == "respan-thread"
    assert span["custom_identifier"] == "kai-custom"
    assert "respan_params" not in span and "keywordsai_params" not in span


def test_null_top_level_does_not_erase_nested_params(client: TestClient) -> None:
    span = stored(client, {"model": "m", "customer_identifier": None, "respan_params": {"customer_identifier": "n"}})
    assert span["customer_identifier"] == "n"


def test_customer_params_identifier_is_promoted(client: TestClient) -> None:
    span = stored(client, {"model": "m", "customer_params": {"customer_identifier": "cp", "email": "a@b.c"}})
    assert span["customer_identifier"] == "cp"
    assert span["customer_email"] == "a@b.c"


def test_session_identifier_from_the_sdk_is_the_thread(client: TestClient) -> None:
    span = stored(client, {"model": "m", "session_identifier": "s-1"})
    assert span["thread_identifier"] == "s-1"
    assert span["session_identifier"] == "s-1"
    span = stored(client, {"model": "m", "thread_identifier": "t-1", "trace_group_identifier": "g-1"})
    assert span["thread_identifier"] == "t-1"
    assert span["session_identifier"] == "g-1"


def test_identifiers_over_254_characters_are_truncated(client: TestClient) -> None:
    long = "x" * 300
    span = stored(client, {"model": "m", "customer_identifier": long, "thread_identifier": long, "span_name": long})
    assert span["customer_identifier"] == "x" * 254
    assert span["thread_identifier"] == "x" * 254
    assert span["span_name"] == "x" * 255


def test_metadata_is_strings_and_reserved_keys_are_hidden(client: TestClient) -> None:
    span = stored(
        client, {"model": "m", "metadata": '{"a": 1, "b": true, "c": null, "d": {"x": 1}, "_sdk": "2.0", "e": "s"}'}
    )
    assert span["metadata"] == {"a": "1", "b": "true", "c": "null", "d": '{"x":1}', "e": "s"}


def test_properties_keep_their_types(client: TestClient) -> None:
    span = stored(client, {"model": "m", "properties": '{"n": 1.5, "ok": true}'})
    assert span["properties"] == {"n": 1.5, "ok": True}


def test_response_format_string_becomes_an_object(client: TestClient) -> None:
    assert stored(client, {"model": "m", "response_format": "json_object"})["response_format"] == {
        "type": "json_object"
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, "success"),
        ({"status": "error"}, "failed"),
        ({"status": "success", "status_code": 500}, "success"),
        ({"status_code": 429}, "failed"),
        ({"error_message": "boom"}, "failed"),
        ({"status": "warning"}, "warning"),
    ],
)
def test_status(client: TestClient, body: dict[str, Any], status: str) -> None:
    created = create(client, {"model": "m", **body})
    assert created["status"] == status


def test_environment_comes_from_the_key_not_the_body(client: TestClient) -> None:
    assert stored(client, {"model": "m", "environment": "test"})["environment"] == "prod"


def test_disable_log_drops_content_but_keeps_metrics(client: TestClient) -> None:
    span = stored(
        client,
        {
            "model": "gpt-4o",
            "disable_log": True,
            "input": [{"role": "user", "content": "secret"}],
            "output": {"role": "assistant", "content": "secret"},
            "full_request": {"x": "secret"},
            "usage": {"prompt_tokens": 5, "completion_tokens": 5},
        },
    )
    assert span["input"] is None and span["output"] is None
    assert "full_request" not in span
    assert span["prompt_tokens"] == 5


def test_usage_shapes(client: TestClient) -> None:
    openai = stored(
        client,
        {
            "model": "m",
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 40,
                "prompt_tokens_details": {"cached_tokens": 30},
                "completion_tokens_details": {"reasoning_tokens": 25},
            },
        },
    )
    assert (openai["prompt_tokens"], openai["prompt_cache_hit_tokens"], openai["reasoning_tokens"]) == (100, 30, 25)
    # Anthropic's input_tokens excludes cache reads and writes; spanbase's prompt_tokens includes them.
    anthropic = stored(
        client,
        {
            "model": "m",
            "usage": {
                "input_tokens": 10,
                "output_tokens": 7,
                "cache_read_input_tokens": 50,
                "cache_creation_input_tokens": 20,
            },
        },
    )
    assert anthropic["prompt_tokens"] == 80
    assert anthropic["completion_tokens"] == 7
    assert anthropic["prompt_cache_hit_tokens"] == 50
    assert anthropic["prompt_cache_creation_tokens"] == 20
    assert anthropic["total_request_tokens"] == 87
    alias = stored(client, {"model": "m", "usage": {"prompt_tokens": 5, "cache_creation_prompt_tokens": 3}})
    assert alias["prompt_cache_creation_tokens"] == 3
    top = stored(client, {"model": "m", "prompt_tokens": 9, "usage": {"prompt_tokens": 1, "total_tokens": 99}})
    assert top["prompt_tokens"] == 9
    assert top["total_request_tokens"] == 99
