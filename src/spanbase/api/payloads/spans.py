"""The Respan create-span wire shape (seed page "Create a span" and spec §2.1), as typed dicts.

Typed dicts rather than models: pydantic validates the raw JSON bytes straight into plain dicts that
hold only the keys a client sent, so normalising a span touches its ~20 present fields, not all ~100
known ones. Unknown keys are dropped (Respan accepts and ignores them). `None` means "not sent".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

# Identifiers sometimes arrive as numbers; store them as strings instead of refusing the span.
# NaN and Infinity are not JSON; a float field refuses them rather than storing a number no one sent.
_CONFIG = ConfigDict(coerce_numbers_to_str=True, allow_inf_nan=False)

JSONObject = dict[str, Any]

# Integers are stored in 64-bit (token counts) or 32-bit (status code) columns: larger ones are refused
# with a 422 naming the field rather than failing in the database. A trillion tokens in one span is far
# past any model, and keeps sums (totals, rollups over millions of spans) inside 64 bits.
Count = Annotated[int, Field(ge=0, le=10**12)]
SmallInt = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
# A duration in seconds: up to about three years, so a time derived from it stays a real date.
Seconds = Annotated[float, Field(ge=0, le=10**8)]


class PromptTokensDetails(TypedDict, total=False):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    cached_tokens: Count | None
    cache_creation_tokens: Count | None


class CompletionTokensDetails(TypedDict, total=False):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    reasoning_tokens: Count | None


class UsageIn(TypedDict, total=False):
    """OpenAI-style and Anthropic-style usage objects, and the Respan aliases of their cache fields."""

    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    prompt_tokens: Count | None
    completion_tokens: Count | None
    total_tokens: Count | None
    input_tokens: Count | None
    output_tokens: Count | None
    cache_creation_input_tokens: Count | None
    cache_creation_prompt_tokens: Count | None
    cache_read_input_tokens: Count | None
    reasoning_tokens: Count | None
    prompt_tokens_details: PromptTokensDetails | None
    completion_tokens_details: CompletionTokensDetails | None


class SpanFields(TypedDict, total=False):
    """Every field a span may carry, top-level or nested under respan_params / keywordsai_params."""

    __pydantic_config__ = _CONFIG  # type: ignore[misc]
    # content
    model: str | None
    log_type: str | None
    input: Any
    output: Any
    messages: list[JSONObject] | None
    prompt_messages: list[JSONObject] | None
    completion_message: JSONObject | None
    completion_messages: list[JSONObject] | None
    tool_calls: list[JSONObject] | None
    tools: list[JSONObject] | None
    tool_choice: str | JSONObject | None
    response_format: JSONObject | str | None
    full_request: Any
    full_response: Any
    reasoning: list[Any] | None
    thinking: Any
    embedding: list[float] | str | None
    encoding_format: str | None
    dimensions: SmallInt | None
    audio_input_file: str | None
    audio_output_file: str | None
    ideal_output: Any
    # usage and metrics
    usage: UsageIn | None
    prompt_tokens: Count | None
    completion_tokens: Count | None
    total_request_tokens: Count | None
    prompt_cache_hit_tokens: Count | None
    prompt_cache_creation_tokens: Count | None
    reasoning_tokens: Count | None
    cost: float | None
    prompt_unit_price: float | None
    completion_unit_price: float | None
    latency: Seconds | None
    generation_time: Seconds | None
    time_to_first_token: Seconds | None
    ttft: Seconds | None
    tokens_per_second: float | None
    routing_time: Seconds | None
    # identity and grouping
    customer_identifier: str | None
    customer_params: JSONObject | None
    customer_email: str | None
    customer_name: str | None
    thread_identifier: str | None
    custom_identifier: str | None
    group_identifier: str | None
    evaluation_identifier: str | None
    session_identifier: str | None
    trace_group_identifier: str | None
    metadata: JSONObject | str | None
    properties: JSONObject | str | None
    variables: JSONObject | None
    positive_feedback: bool | None
    note: str | None
    category: str | None
    # tracing
    trace_unique_id: str | None
    span_unique_id: str | None
    span_parent_id: str | None
    span_name: str | None
    span_workflow_name: str | None
    span_path: str | None
    span_handoffs: list[Any] | None
    span_tools: list[Any] | None
    trace_name: str | None
    # OpenTelemetry: what an OTLP span carries beyond the fields above, kept in the span's detail
    span_attributes: JSONObject | None
    resource_attributes: JSONObject | None
    span_events: list[JSONObject] | None
    span_links: list[JSONObject] | None
    # LLM parameters, logged as sent
    temperature: float | None
    top_p: float | None
    frequency_penalty: float | None
    presence_penalty: float | None
    max_tokens: SmallInt | None
    max_completion_tokens: SmallInt | None
    stop: str | list[str] | None
    n: SmallInt | None
    logprobs: bool | None
    top_logprobs: SmallInt | None
    logit_bias: dict[str, float] | None
    echo: bool | None
    parallel_tool_calls: bool | None
    reasoning_effort: str | None
    stream: bool | None
    stream_options: JSONObject | None
    # status
    status_code: SmallInt | None
    status: str | None
    error_message: str | None
    error_code: str | None
    warnings: str | JSONObject | None
    # prompt linkage
    prompt_id: str | None
    prompt_name: str | None
    prompt_version_number: SmallInt | None
    is_custom_prompt: bool | None
    prompt: JSONObject | str | None
    provider_id: str | None
    deployment_name: str | None
    # time
    timestamp: datetime | None
    start_time: datetime | None
    # controls
    environment: str | None
    disable_log: bool | None


class SpanIn(SpanFields, total=False):
    respan_params: SpanFields | None
    keywordsai_params: SpanFields | None


MAX_BULK_SPANS = 500


class BulkSpansIn(TypedDict):
    logs: Annotated[list[SpanIn], Field(min_length=1, max_length=MAX_BULK_SPANS)]


class RawBulkIn(TypedDict):
    logs: list[Any]


span_adapter: TypeAdapter[SpanIn] = TypeAdapter(SpanIn)
# The second, row-by-row parse of a bulk body with bad rows: the same JSON parser, so whatever the first
# parse accepted (huge integers, say) the second accepts too.
raw_bulk_adapter: TypeAdapter[RawBulkIn] = TypeAdapter(RawBulkIn)
bulk_adapter: TypeAdapter[BulkSpansIn] = TypeAdapter(BulkSpansIn)

# Keys whose values are content, dropped when a span asks for `disable_log`.
CONTENT_FIELDS = frozenset(
    {
        "input",
        "output",
        "messages",
        "prompt_messages",
        "completion_message",
        "completion_messages",
        "tool_calls",
        "full_request",
        "full_response",
        "reasoning",
        "thinking",
    }
)
