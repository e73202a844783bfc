"""Every bad input of the create and bulk contracts (spec §1.5, §1.7, §2.1, §2.2): status and body shape.

Error bodies: 400 and 413 are {"detail": str}; 422 is {"detail": "Validation error", "errors": {field:
[messages]}}; a bulk whose every row is bad is a 422 with the bulk envelope {success_count, error_count,
errors: [{index, error}]}. Whatever a client sends, the answer is never a 5xx.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spanbase.app import create_app
from spanbase.domain.spans import MAX_IDENTIFIER_LEN, MAX_SPAN_NAME_LEN
from spanbase.settings import Settings
from spanbase.storage.sql.engine import make_engine
from spanbase.storage.sql.keys import KeyStore
from spanbase.storage.sql.tables import span_payloads, spans

if TYPE_CHECKING:  # starlette's TestClient answers with httpx2 (a locked dependency) when it is installed
    from httpx2 import Response

CREATE = "/api/request-logs/"
BULK = "/api/request-logs/bulk/"
JSON_HEADERS = {"content-type": "application/json"}


class Tenant(Protocol):
    """The conftest `tenant` fixture (tests/ is not a package, so its class is not importable)."""

    organization: str
    key: str
    environment: str

    @property
    def headers(self) -> dict[str, str]: ...


# --------------------------------------------------------------------------------------------------------
# helpers


class Store:
    """Direct looks at the database behind the app: row counts and the ids of spans with their own ids."""

    def __init__(self, settings: Settings, tenant: Tenant) -> None:
        self._settings = settings
        engine = make_engine(settings)
        try:
            principal = KeyStore(engine).principal(tenant.key)
        finally:
            engine.dispose()
        assert principal is not None
        self.org_id = principal.org_id
        self.environment = principal.environment

    def count(self) -> int:
        """Rows in spans and in span_payloads (they must agree)."""
        engine = make_engine(self._settings)
        try:
            with engine.connect() as conn:
                n_spans = conn.execute(select(func.count()).select_from(spans)).scalar_one()
                n_payloads = conn.execute(select(func.count()).select_from(span_payloads)).scalar_one()
        finally:
            engine.dispose()
        assert n_spans == n_payloads
        return int(n_spans)

    def unique_id(self, trace_id: str, span_id: str) -> str:
        """The unique_id the server gave the span with these client ids; when there is no such span, a
        well-formed id that names no row (so GET answers 404)."""
        engine = make_engine(self._settings)
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    select(spans.c.unique_id).where(
                        spans.c.org_id == self.org_id,
                        spans.c.environment == self.environment,
                        spans.c.trace_unique_id == trace_id,
                        spans.c.span_unique_id == span_id,
                    )
                ).scalar_one_or_none()
        finally:
            engine.dispose()
        return str(found) if found is not None else "7fffffffffffffff" + "0" * 16


@pytest.fixture
def store(settings: Settings, tenant: Tenant) -> Store:
    return Store(settings, tenant)


def post_raw(client: TestClient, path: str, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return client.post(path, content=body, headers={**JSON_HEADERS, **(headers or {})})


def post_json(client: TestClient, path: str, body: Any) -> Response:
    """JSON as Python would write it: NaN/Infinity tokens and integers of any size included."""
    return post_raw(client, path, json.dumps(body, allow_nan=True).encode())


def assert_detail(r: Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    detail: str = body["detail"]
    return detail


def assert_validation_error(r: Response, *fields: str) -> dict[str, list[str]]:
    """A 422 in the Respan shape, naming each of `fields`."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"detail", "errors"}, body
    assert body["detail"] == "Validation error"
    errors: dict[str, list[str]] = body["errors"]
    assert isinstance(errors, dict)
    assert errors, body
    for name, messages in errors.items():
        assert isinstance(name, str)
        assert isinstance(messages, list)
        assert messages
        assert all(isinstance(m, str) and m for m in messages), messages
    for f in fields:
        assert f in errors, (f, errors)
    return errors


def assert_bulk_envelope(r: Response, status: int, success: int, bad: dict[int, str]) -> list[dict[str, Any]]:
    """The bulk answer: counts, and one {index, error} per bad row whose message names its field ("" for a
    row that is not an object at all)."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"success_count", "error_count", "errors"}, body
    assert body["success_count"] == success
    assert body["error_count"] == len(bad)
    errors: list[dict[str, Any]] = body["errors"]
    assert [e["index"] for e in errors] == sorted(bad)
    for e in errors:
        assert set(e) == {"index", "error"}, e
        assert isinstance(e["error"], str)
        field = bad[e["index"]]
        assert (f"{field}:" if field else "") in e["error"], (field, e)
    return errors


def assert_well_formed(r: Response) -> None:
    """Never a 5xx; a 4xx has the documented body of its status."""
    assert r.status_code < 500, r.text
    if r.status_code in (400, 413):
        assert_detail(r, r.status_code)
    elif r.status_code == 422:
        body = r.json()
        if "success_count" in body:
            assert set(body) == {"success_count", "error_count", "errors"}, body
            assert body["success_count"] == 0
        else:
            assert_validation_error(r)
    else:
        assert r.status_code in (200, 201), r.text


def retrieve(client: TestClient, unique_id: str) -> dict[str, Any]:
    r = client.get(f"{CREATE}{unique_id}/")
    assert r.status_code == 200, r.text
    span: dict[str, Any] = r.json()
    return span


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = post_json(client, CREATE, body)
    assert r.status_code == 200, r.text
    return retrieve(client, r.json()["unique_id"])


# --------------------------------------------------------------------------------------------------------
# not JSON, not an object


MALFORMED = [
    b"{",
    b"",
    b"   ",
    b'{"model": "a",}',
    b"{'model': 'a'}",
    b'{"model": "a"} trailing',
    b'{"model": "a"}{"model": "b"}',
    b'{"model": "\xff\xfe"}',  # not UTF-8
    b"\x00",
    b'{"logs": [',
]


def test_malformed_json_is_a_400_with_detail(client: TestClient, store: Store, subtests: pytest.Subtests) -> None:
    for path in (CREATE, BULK):
        for body in MALFORMED:
            with subtests.test(path=path, body=body):
                assert_detail(post_raw(client, path, body), 400)
    assert store.count() == 0


NOT_OBJECTS = [b"[]", b'[{"model": "a"}]', b'"x"', b"5", b"1.5", b"null", b"true"]


def test_a_body_that_is_not_an_object_is_a_422(client: TestClient, store: Store, subtests: pytest.Subtests) -> None:
    for path in (CREATE, BULK):
        for body in NOT_OBJECTS:
            with subtests.test(path=path, body=body):
                assert_validation_error(post_raw(client, path, body))
    assert store.count() == 0


# --------------------------------------------------------------------------------------------------------
# authentication

BAD_AUTH = ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "sb_live_no_scheme", "Bearer wrong", "Bearer a\x00b"]


def test_missing_or_wrong_credentials_are_a_401(client: TestClient, store: Store, subtests: pytest.Subtests) -> None:
    good = client.headers.pop("authorization")
    try:
        for header in [None, *BAD_AUTH, "Bearer " + "k" * 10_000, f"Bearer {good.partition(' ')[2]}x"]:
            for path in (CREATE, BULK):
                with subtests.test(path=path, header=header):
                    headers = {} if header is None else {"authorization": header}
                    body = b'{"model": "m"}' if path == CREATE else b'{"logs": [{"model": "m"}]}'
                    r = post_raw(client, path, body, headers=headers)
                    assert_detail(r, 401)
                    assert r.headers["www-authenticate"] == "Bearer"
            with subtests.test(path="retrieve", header=header):
                r = client.get(f"{CREATE}{'0' * 32}/", headers={} if header is None else {"authorization": header})
                assert_detail(r, 401)
    finally:
        client.headers["authorization"] = good
    assert store.count() == 0


def test_auth_is_checked_before_the_body_is_read(client: TestClient) -> None:
    """A wrong key gets its 401 even with a malformed or oversized body."""
    r = post_raw(client, CREATE, b"{", headers={"authorization": "Bearer wrong"})
    assert_detail(r, 401)
    r = post_raw(client, CREATE, b"{}", headers={"authorization": "Bearer wrong", "content-length": str(10**15)})
    assert_detail(r, 401)


# --------------------------------------------------------------------------------------------------------
# the bulk envelope itself


BAD_ENVELOPES: list[dict[str, Any]] = [
    {},
    {"log": [{"model": "a"}]},
    {"logs": None},
    {"logs": 5},
    {"logs": "abc"},
    {"logs": {"0": {"model": "a"}}},
]


def test_bulk_logs_missing_or_not_a_list_is_a_422_naming_logs(
    client: TestClient, store: Store, subtests: pytest.Subtests
) -> None:
    for body in BAD_ENVELOPES:
        with subtests.test(body=body):
            assert_validation_error(post_json(client, BULK, body), "logs")
    assert store.count() == 0


def test_bulk_logs_empty_is_a_422_naming_logs(client: TestClient) -> None:
    """`logs` must be non-empty (spec §2.2): a whole-body validation error, like a missing `logs`."""
    assert_validation_error(post_json(client, BULK, {"logs": []}), "logs")


def _span(i: int, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "trace_unique_id": "bulk-limit", "span_unique_id": f"s{i}", **extra}


def test_bulk_over_500_logs_is_a_422_and_stores_nothing(client: TestClient, store: Store) -> None:
    r = post_json(client, BULK, {"logs": [_span(i) for i in range(501)]})
    assert_validation_error(r, "logs")
    assert store.count() == 0


def test_bulk_over_500_logs_with_bad_rows_is_still_a_whole_body_422(client: TestClient, store: Store) -> None:
    logs = [_span(i) for i in range(600)]
    logs[3] = {"temperature": "hot"}
    assert_validation_error(post_json(client, BULK, {"logs": logs}), "logs")
    assert store.count() == 0


def test_bulk_of_exactly_500_logs_is_accepted(client: TestClient, store: Store) -> None:
    r = post_json(client, BULK, {"logs": [_span(i) for i in range(500)]})
    assert_bulk_envelope(r, 201, 500, {})
    assert store.count() == 500
    assert retrieve(client, store.unique_id("bulk-limit", "s499"))["span_unique_id"] == "s499"


# --------------------------------------------------------------------------------------------------------
# wrong types and values on create


WRONG_TYPES: list[tuple[dict[str, Any], str]] = [
    ({"temperature": "hot"}, "temperature"),
    ({"usage": {"prompt_tokens": "x"}}, "usage.prompt_tokens"),
    ({"usage": {"prompt_tokens_details": {"cached_tokens": "x"}}}, "usage.prompt_tokens_details.cached_tokens"),
    ({"usage": 5}, "usage"),
    ({"metadata": 5}, "metadata"),
    ({"metadata": [1, 2]}, "metadata"),
    ({"timestamp": "not a date"}, "timestamp"),
    ({"start_time": "yesterday"}, "start_time"),
    ({"stream": "maybe"}, "stream"),
    ({"tools": "x"}, "tools"),
    ({"latency": "slow"}, "latency"),
    ({"prompt_tokens": 1.5}, "prompt_tokens"),
    ({"positive_feedback": "meh"}, "positive_feedback"),
    ({"customer_params": "x"}, "customer_params"),
    ({"customer_identifier": True}, "customer_identifier"),
    ({"customer_identifier": ["a"]}, "customer_identifier"),
    ({"messages": "hi"}, "messages"),
    ({"prompt_messages": [1]}, "prompt_messages.0"),
    ({"properties": 5}, "properties"),
    ({"respan_params": {"temperature": "hot"}}, "respan_params.temperature"),
    ({"keywordsai_params": {"usage": {"completion_tokens": "x"}}}, "keywordsai_params.usage.completion_tokens"),
    ({"respan_params": 5}, "respan_params"),
]


def test_a_wrong_type_on_create_is_a_422_naming_the_field(
    client: TestClient, store: Store, subtests: pytest.Subtests
) -> None:
    for body, field in WRONG_TYPES:
        with subtests.test(field=field, body=body):
            errors = assert_validation_error(post_json(client, CREATE, {"model": "gpt-4o", **body}), field)
            assert set(errors) == {field}
    assert store.count() == 0


def test_several_wrong_fields_are_all_named(client: TestClient) -> None:
    body = {"model": "m", "temperature": "hot", "stream": "maybe", "usage": {"completion_tokens": "x"}}
    errors = assert_validation_error(post_json(client, CREATE, body), "temperature", "stream")
    assert "usage.completion_tokens" in errors


def test_an_unknown_status_is_a_422_naming_status(client: TestClient, store: Store, subtests: pytest.Subtests) -> None:
    for status in ("bogus", "", "succes", 5, True):
        with subtests.test(status=status):
            assert_validation_error(post_json(client, CREATE, {"model": "m", "status": status}), "status")
    assert store.count() == 0


def test_metadata_as_a_json_string_of_a_non_object_is_a_422(
    client: TestClient, store: Store, subtests: pytest.Subtests
) -> None:
    for metadata in ("[1, 2]", '"s"', "5", "null", "true", "not json", "{"):
        with subtests.test(metadata=metadata):
            assert_validation_error(post_json(client, CREATE, {"model": "m", "metadata": metadata}), "metadata")
    assert store.count() == 0


def test_metadata_as_a_json_string_of_an_object_is_parsed(client: TestClient) -> None:
    span = create(client, {"model": "m", "metadata": '{"plan": "pro", "n": 2}'})
    assert span["metadata"] == {"plan": "pro", "n": "2"}


def test_properties_as_a_json_string_of_a_non_object_is_a_422(client: TestClient, subtests: pytest.Subtests) -> None:
    for properties in ("[1]", '"s"', "nope"):
        with subtests.test(properties=properties):
            r = post_json(client, CREATE, {"model": "m", "properties": properties})
            assert_validation_error(r, "properties")


# --------------------------------------------------------------------------------------------------------
# bulk rows


def test_bulk_bad_rows_among_good_ones(client: TestClient, store: Store) -> None:
    logs: list[Any] = [
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "good-0", "customer_identifier": "c0"},
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "bad-1", "temperature": "hot"},
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "good-2", "usage": {"prompt_tokens": 5}},
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "bad-3", "usage": {"prompt_tokens": "x"}},
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "bad-4", "status": "bogus"},
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "bad-5", "metadata": "[1]"},
        5,
        None,
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "bad-8", "timestamp": "not a date"},
        {"model": "gpt-4o", "trace_unique_id": "t", "span_unique_id": "good-9", "metadata": {"k": 1}},
    ]
    bad = {1: "temperature", 3: "usage.prompt_tokens", 4: "status", 5: "metadata", 6: "", 7: "", 8: "timestamp"}
    assert_bulk_envelope(post_json(client, BULK, {"logs": logs}), 201, 3, bad)
    assert store.count() == 3
    assert retrieve(client, store.unique_id("t", "good-0"))["customer_identifier"] == "c0"
    assert retrieve(client, store.unique_id("t", "good-2"))["prompt_tokens"] == 5
    assert retrieve(client, store.unique_id("t", "good-9"))["metadata"] == {"k": "1"}
    for i in (1, 3, 4, 5, 8):
        assert client.get(f"{CREATE}{store.unique_id('t', f'bad-{i}')}/").status_code == 404


def test_bulk_with_every_row_bad_is_a_422_with_the_bulk_envelope(client: TestClient, store: Store) -> None:
    logs: list[Any] = [{"temperature": "hot"}, {"status": "bogus"}, {"metadata": 5}, [], {"stream": "maybe"}]
    bad = {0: "temperature", 1: "status", 2: "metadata", 3: "", 4: "stream"}
    assert_bulk_envelope(post_json(client, BULK, {"logs": logs}), 422, 0, bad)
    assert store.count() == 0


def test_bulk_row_errors_name_nested_fields(client: TestClient) -> None:
    logs: list[Any] = [
        {"model": "a"},
        {"respan_params": {"temperature": "hot"}},
        {"usage": {"completion_tokens_details": {"reasoning_tokens": "x"}}},
    ]
    bad = {1: "respan_params.temperature", 2: "usage.completion_tokens_details.reasoning_tokens"}
    assert_bulk_envelope(post_json(client, BULK, {"logs": logs}), 201, 1, bad)


# --------------------------------------------------------------------------------------------------------
# size limits

SMALL_BODY = 8192
SMALL_SPAN = 2048


@pytest.fixture
def small_client(settings: Settings, tenant: Tenant) -> Iterator[TestClient]:
    app = create_app(
        dataclasses.replace(settings, max_body_bytes=SMALL_BODY, max_span_bytes=SMALL_SPAN), say=lambda _: None
    )
    with TestClient(app, headers=tenant.headers) as c:
        yield c


def test_a_body_over_the_limit_is_a_413(small_client: TestClient, store: Store) -> None:
    span = {"model": "m", "metadata": {f"k{i}": "v" * 100 for i in range(100)}}
    assert_detail(post_json(small_client, CREATE, span), 413)
    assert_detail(post_json(small_client, BULK, {"logs": [span]}), 413)
    assert_detail(post_json(small_client, BULK, {"logs": [{"model": "m", "input": "x" * 1000}] * 10}), 413)
    assert store.count() == 0


def test_a_declared_content_length_over_the_limit_is_refused_before_reading(
    small_client: TestClient, store: Store
) -> None:
    """The body is small, but the declared length is not: the answer comes from the header alone."""
    for path, body in ((CREATE, b'{"model": "m"}'), (BULK, b'{"logs": [{"model": "m"}]}')):
        for length in (SMALL_BODY + 1, 10**12):
            r = post_raw(small_client, path, body, headers={"content-length": str(length)})
            assert_detail(r, 413)
    assert store.count() == 0


def test_a_chunked_body_over_the_limit_is_a_413(small_client: TestClient, store: Store) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "m", "input": "'
        for _ in range(20):
            yield b"x" * 1000
        yield b'"}'

    r = small_client.post(CREATE, content=chunks(), headers=JSON_HEADERS)
    assert_detail(r, 413)
    assert store.count() == 0


def test_a_body_just_under_the_limit_is_accepted(small_client: TestClient) -> None:
    r = post_json(small_client, CREATE, {"model": "m", "input": "x" * (SMALL_SPAN - 100)})
    assert r.status_code == 200, r.text


def test_a_span_over_the_span_limit_is_a_413(small_client: TestClient, store: Store) -> None:
    r = post_json(small_client, CREATE, {"model": "m", "input": "x" * (SMALL_SPAN + 100)})
    assert len(r.request.content) < SMALL_BODY
    assert_detail(r, 413)
    r = post_json(small_client, CREATE, {"model": "m", "metadata": {"k": "x" * (SMALL_SPAN + 100)}})
    assert_detail(r, 413)
    assert store.count() == 0


def test_the_span_limit_counts_bytes_not_characters(small_client: TestClient, store: Store) -> None:
    """600 emoji: about 650 characters of JSON but 2,400+ bytes in UTF-8, over the 2,048 byte span limit."""
    body = json.dumps({"model": "m", "input": "\U0001f600" * 600}, ensure_ascii=False).encode()
    assert len(body) < SMALL_BODY
    assert_detail(post_raw(small_client, CREATE, body), 413)
    assert store.count() == 0


def test_bulk_an_oversized_row_is_a_row_error_not_the_whole_request(small_client: TestClient, store: Store) -> None:
    """Rows are processed independently; a partial failure does not abort the others (spec §2.2)."""
    logs = [
        {"model": "m", "trace_unique_id": "t", "span_unique_id": "ok-0"},
        {"model": "m", "input": "x" * (SMALL_SPAN + 100)},
        {"model": "m", "trace_unique_id": "t", "span_unique_id": "ok-2"},
    ]
    errors = assert_bulk_envelope(post_json(small_client, BULK, {"logs": logs}), 201, 2, {1: ""})
    assert "limit" in errors[0]["error"]
    assert store.count() == 2
    assert retrieve(small_client, store.unique_id("t", "ok-2"))["span_unique_id"] == "ok-2"


def test_bulk_with_every_row_oversized_is_a_413(small_client: TestClient, store: Store) -> None:
    logs = [{"model": "m", "input": "x" * (SMALL_SPAN + 100)}, {"model": "m", "output": "y" * (SMALL_SPAN + 100)}]
    assert_detail(post_json(small_client, BULK, {"logs": logs}), 413)
    assert store.count() == 0


# --------------------------------------------------------------------------------------------------------
# hostile values: stored as sanely as possible, never a 5xx

IDENTIFIERS = [
    "customer_identifier",
    "thread_identifier",
    "custom_identifier",
    "group_identifier",
    "session_identifier",
    "evaluation_identifier",
    "trace_unique_id",
    "span_unique_id",
    "span_parent_id",
    "span_workflow_name",
    "customer_email",
    "customer_name",
    "prompt_id",
    "prompt_name",
    "model",
]


def test_nul_characters_are_removed_from_identifiers_and_metadata(client: TestClient) -> None:
    body: dict[str, Any] = {f: f"a\x00{f}\x00" for f in IDENTIFIERS}
    body.update(
        span_name="\x00name",
        metadata={"k\x00ey": "v\x00al", "nested": {"x": "\x00"}, "\x00": "nul key"},
        input="in\x00put",
        output={"role": "assistant", "content": "\x00"},
        properties={"p": "\x00"},
        error_message="boom\x00",
        note="\x00",
    )
    span = create(client, body)
    for f in IDENTIFIERS:
        assert span[f] == f"a{f}", f
    assert span["span_name"] == "name"
    assert span["metadata"]["key"] == "val"
    assert span["metadata"][""] == "nul key"
    assert "nested" in span["metadata"]
    assert span["error_message"] == "boom"
    # Content is kept as sent.
    assert span["input"] == "in\x00put"
    assert span["output"] == {"role": "assistant", "content": "\x00"}
    assert span["properties"] == {"p": "\x00"}


def test_long_identifiers_are_truncated_not_refused(client: TestClient) -> None:
    body: dict[str, Any] = {f: f"{f}-" + "x" * 1000 for f in IDENTIFIERS}
    body["span_name"] = "n" * 1000
    span = create(client, body)
    for f in IDENTIFIERS:
        assert len(span[f]) == MAX_IDENTIFIER_LEN, f
        assert span[f] == body[f][:MAX_IDENTIFIER_LEN], f
    assert span["span_name"] == "n" * MAX_SPAN_NAME_LEN


def test_long_identifiers_of_multibyte_characters_are_truncated_to_254_characters(client: TestClient) -> None:
    emoji = "\U0001f600"
    span = create(client, {"model": "m", "customer_identifier": emoji * 300, "thread_identifier": "\u00e9" * 300})
    assert span["customer_identifier"] == emoji * MAX_IDENTIFIER_LEN
    assert span["thread_identifier"] == "\u00e9" * MAX_IDENTIFIER_LEN


def test_a_truncated_trace_and_span_id_still_dedupes(client: TestClient, store: Store) -> None:
    trace, span_id = "t" * 400, "s" * 400
    first = post_json(client, CREATE, {"model": "m", "trace_unique_id": trace, "span_unique_id": span_id})
    again = post_json(client, CREATE, {"model": "m2", "trace_unique_id": trace, "span_unique_id": span_id})
    assert first.status_code == again.status_code == 200
    assert first.json()["unique_id"] == again.json()["unique_id"]
    assert first.json()["unique_id"] == store.unique_id(trace[:MAX_IDENTIFIER_LEN], span_id[:MAX_IDENTIFIER_LEN])
    assert store.count() == 1


UNICODE = [
    "\U0001f600\U0001f680 emoji",
    "\u05e9\u05dc\u05d5\u05dd rtl",
    "e\u0301 combining",
    "\u4e2d\u6587",
    "\u200b zero width",
    "\ufeff bom",
    "\U0010ffff last code point",
    "tab\tnew\nline\r",
    "back\\slash \"quote\" 'single'",
]


def test_unicode_round_trips(client: TestClient, subtests: pytest.Subtests) -> None:
    for text in UNICODE:
        with subtests.test(text=text):
            span = create(
                client,
                {
                    "model": text,
                    "customer_identifier": text,
                    "thread_identifier": text,
                    "span_name": text,
                    "metadata": {text: text},
                    "input": [{"role": "user", "content": text}],
                    "output": {"role": "assistant", "content": text},
                },
            )
            assert span["model"] == text
            assert span["customer_identifier"] == text
            assert span["thread_identifier"] == text
            assert span["span_name"] == text
            assert span["metadata"] == {text: text}
            assert span["input"] == [{"role": "user", "content": text}]
            assert span["output"]["content"] == text


SQL_LIKE = [
    "'; DROP TABLE spans; --",
    "Robert'); DROP TABLE span_payloads;--",
    '" OR "1"="1',
    "1 OR 1=1",
    "%_%",
    "\\'; SELECT pg_sleep(10); --",
    "$$; DELETE FROM spans; $$",
    "?",
    ":name",
    "%(name)s",
]


def test_sql_looking_strings_are_just_strings(client: TestClient, store: Store) -> None:
    for i, text in enumerate(SQL_LIKE):
        body = {
            "model": text,
            "customer_identifier": text,
            "trace_unique_id": text,
            "span_unique_id": f"{text}-{i}",
            "metadata": {text: text},
            "input": text,
            "log_type": "task",
        }
        r = post_json(client, CREATE, body)
        assert r.status_code == 200, r.text
        span = retrieve(client, store.unique_id(text, f"{text}-{i}"))
        assert (span["model"], span["customer_identifier"], span["input"]) == (text, text, text)
        assert span["metadata"] == {text: text}
    assert store.count() == len(SQL_LIKE)


def test_deeply_nested_input_never_5xx(client: TestClient, subtests: pytest.Subtests) -> None:
    for path in (CREATE, BULK):
        for depth in (10, 100, 190, 250, 1000, 20_000):
            with subtests.test(path=path, depth=depth):
                nested = "[" * depth + "]" * depth
                span = f'{{"model": "m", "input": {nested}, "metadata": {{"k": {nested}}}}}'
                body = span if path == CREATE else f'{{"logs": [{span}]}}'
                r = post_raw(client, path, body.encode())
                assert_well_formed(r)
                if path == CREATE and r.status_code == 200:
                    stored = retrieve(client, r.json()["unique_id"])
                    assert stored["input"] == json.loads(nested)


HOSTILE_IDS = ["a%00b", "%00", "x" * 5000, "%F0%9F%98%80", "%FF%FE", "'%20OR%201=1", "%25", "..", "0" * 33]


def test_retrieving_a_hostile_id_is_a_404(client: TestClient, subtests: pytest.Subtests) -> None:
    for unique_id in HOSTILE_IDS:
        with subtests.test(unique_id=unique_id[:40]):
            assert_detail(client.get(f"{CREATE}{unique_id}/"), 404)


def test_numbers_as_identifiers_are_stored_as_strings(client: TestClient, store: Store) -> None:
    body = {
        "model": 4,
        "customer_identifier": 12345,
        "thread_identifier": 1.5,
        "custom_identifier": 0,
        "group_identifier": -7,
        "trace_unique_id": 42,
        "span_unique_id": 7,
        "span_parent_id": 6,
        "prompt_id": 99,
    }
    r = post_json(client, CREATE, body)
    assert r.status_code == 200, r.text
    assert r.json()["unique_id"] == store.unique_id("42", "7")
    span = retrieve(client, r.json()["unique_id"])
    assert span["model"] == "4"
    assert span["customer_identifier"] == "12345"
    assert span["thread_identifier"] == "1.5"
    assert span["custom_identifier"] == "0"
    assert span["group_identifier"] == "-7"
    assert (span["trace_unique_id"], span["span_unique_id"], span["span_parent_id"]) == ("42", "7", "6")
    assert span["prompt_id"] == "99"


def test_a_huge_number_as_identifier_is_stored_as_its_digits(client: TestClient) -> None:
    span = create(client, {"model": "m", "customer_identifier": 2**100})
    assert span["customer_identifier"] == str(2**100)


# Token counts are 64-bit columns: a count that does not fit must be refused as bad input (4xx).
HUGE_TOKENS: list[tuple[dict[str, Any], str]] = [
    ({"prompt_tokens": 2**64}, "prompt_tokens"),
    ({"completion_tokens": 2**63}, "completion_tokens"),
    ({"prompt_tokens": -(2**63) - 1}, "prompt_tokens"),
    ({"usage": {"prompt_tokens": 2**63}}, "usage.prompt_tokens"),
    ({"usage": {"completion_tokens": 2**70}}, "usage.completion_tokens"),
    ({"usage": {"total_tokens": 2**64}}, "usage.total_tokens"),
    ({"usage": {"input_tokens": 2**100}}, "usage.input_tokens"),
    ({"usage": {"cache_read_input_tokens": 2**64}}, "usage.cache_read_input_tokens"),
    ({"usage": {"prompt_tokens_details": {"cached_tokens": 2**64}}}, "usage.prompt_tokens_details.cached_tokens"),
    ({"prompt_cache_hit_tokens": 2**64}, "prompt_cache_hit_tokens"),
    ({"reasoning_tokens": 2**64}, "reasoning_tokens"),
    ({"total_request_tokens": 2**64}, "total_request_tokens"),
    ({"respan_params": {"prompt_tokens": 2**64}}, "respan_params.prompt_tokens"),
]


def test_token_counts_beyond_64_bits_are_a_4xx(client: TestClient, store: Store, subtests: pytest.Subtests) -> None:
    for body, field in HUGE_TOKENS:
        with subtests.test(field=field, body=body):
            r = post_json(client, CREATE, {"model": "gpt-4o", **body})
            assert 400 <= r.status_code < 500, r.text
            assert_validation_error(r, field)
    assert store.count() == 0


def test_bulk_token_counts_beyond_64_bits_are_row_errors(
    client: TestClient, store: Store, subtests: pytest.Subtests
) -> None:
    for body, field in HUGE_TOKENS[:4]:
        with subtests.test(field=field, body=body):
            before = store.count()
            logs = [{"model": "gpt-4o"}, {"model": "gpt-4o", **body}]
            assert_bulk_envelope(post_json(client, BULK, {"logs": logs}), 201, 1, {1: field})
            assert store.count() == before + 1


# Numbers that fit their field one by one but not their sum or the database column, or that sit in the
# free-form JSON parts of a span: any answer but a 5xx (accepted, or refused as bad input).
HUGE_ELSEWHERE: list[dict[str, Any]] = [
    {"usage": {"prompt_tokens": 2**62, "completion_tokens": 2**62}},  # total overflows 64 bits
    {"usage": {"prompt_tokens": 2**63 - 1, "completion_tokens": 1}},
    {"usage": {"input_tokens": 2**63 - 1, "cache_read_input_tokens": 2**63 - 1}},
    {"status_code": 2**31},  # a 32-bit column on PostgreSQL
    {"status_code": 2**63},
    {"status_code": -(2**31) - 1},
    {"max_tokens": 2**70},
    {"n": 2**64},
    {"dimensions": 2**64},
    {"prompt_version_number": 2**64},
    {"input": {"n": 2**70}, "log_type": "task"},
    {"output": [2**64]},
    {"metadata": {"n": 2**64}},
    {"metadata": {"n": {"deep": 2**64}}},
    {"properties": {"n": 2**64}},
    {"full_request": {"max_tokens": 2**70}},
    {"variables": {"x": -(2**70)}},
    {"cost": 1e308, "tokens_per_second": 1e308, "temperature": -1e308},
]


def test_huge_numbers_elsewhere_never_5xx(client: TestClient, subtests: pytest.Subtests) -> None:
    for path in (CREATE, BULK):
        for body in HUGE_ELSEWHERE:
            with subtests.test(path=path, body=body):
                span = {"model": "gpt-4o", **body}
                r = post_json(client, CREATE, span) if path == CREATE else post_json(client, BULK, {"logs": [span]})
                assert_well_formed(r)
                if path == CREATE and r.status_code == 200:
                    retrieve(client, r.json()["unique_id"])


# Times and durations out of range or not finite. A span that is accepted must also be readable: a row
# whose start or end lies outside the datetime range would fail every later read.
BAD_TIMES: list[str] = [
    '{"latency": NaN}',
    '{"latency": Infinity}',
    '{"latency": -Infinity}',
    '{"latency": 1e400}',
    '{"generation_time": NaN}',
    '{"ttft": Infinity}',
    '{"cost": NaN}',
    '{"temperature": Infinity}',
    '{"latency": 1e200}',
    '{"latency": -1e12}',
    '{"timestamp": "0001-01-01T00:00:00Z", "latency": 10}',
    '{"timestamp": "9999-12-31T23:59:59Z", "latency": -10}',
    '{"start_time": "9999-12-31T23:59:59Z", "latency": 100}',
    '{"start_time": "0001-01-01T00:00:01Z", "latency": -5}',
    '{"timestamp": "9999-12-31T23:59:59.999999Z", "start_time": "0001-01-01T00:00:00Z"}',
    '{"timestamp": "0001-01-01T00:00:00Z", "start_time": "9999-12-31T23:59:59Z"}',
    '{"timestamp": "2025-01-01T00:00:00+14:00"}',
    '{"timestamp": "0001-01-01T00:00:00+01:00"}',
    '{"timestamp": 99999999999999999}',
    '{"timestamp": -62135596801}',
    '{"timestamp": 1e300}',
]


def test_out_of_range_times_never_5xx_and_stored_spans_stay_readable(
    client: TestClient, store: Store, subtests: pytest.Subtests
) -> None:
    for i, fields in enumerate(BAD_TIMES):
        with subtests.test(fields=fields):
            extra = fields[1:-1]
            body = f'{{"model": "m", "trace_unique_id": "t", "span_unique_id": "s{i}", {extra}}}'
            r = post_raw(client, CREATE, body.encode())
            assert_well_formed(r)
            # Whatever the answer, the span's id must not point at a row that cannot be read back.
            got = client.get(f"{CREATE}{store.unique_id('t', f's{i}')}/")
            assert got.status_code in (200, 404), got.text
            assert (got.status_code == 200) == (r.status_code == 200), (r.status_code, got.status_code)


def test_bulk_with_non_finite_numbers_and_a_bad_row_never_5xx(client: TestClient, subtests: pytest.Subtests) -> None:
    """The good rows of a bulk with bad rows are parsed a second time: it must be with the same JSON dialect."""
    for fields in BAD_TIMES[:8]:
        with subtests.test(fields=fields):
            extra = fields[1:-1]
            body = f'{{"logs": [{{"model": "m", "temperature": "hot"}}, {{"model": "m", {extra}}}, {{"model": "m"}}]}}'
            assert_well_formed(post_raw(client, BULK, body.encode()))


# --------------------------------------------------------------------------------------------------------
# fuzz: mutations of a valid span

VALID_SPAN: dict[str, Any] = {
    "model": "gpt-4o",
    "log_type": "chat",
    "input": [{"role": "user", "content": "hi"}],
    "output": {"role": "assistant", "content": "hello"},
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 1}},
    "customer_identifier": "cust",
    "customer_params": {"customer_identifier": "c", "email": "a@b.c", "name": "A"},
    "thread_identifier": "thread",
    "metadata": {"plan": "pro", "n": 1},
    "properties": {"score": 0.5},
    "trace_unique_id": "trace",
    "span_unique_id": "span",
    "span_parent_id": "parent",
    "span_name": "step",
    "latency": 1.25,
    "ttft": 0.1,
    "timestamp": "2025-05-01T12:00:01Z",
    "start_time": "2025-05-01T12:00:00Z",
    "temperature": 0.2,
    "max_tokens": 100,
    "stop": ["\n"],
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "tool_choice": "auto",
    "response_format": {"type": "json_object"},
    "stream": False,
    "status_code": 200,
    "status": "success",
    "cost": 0.01,
    "respan_params": {"customer_identifier": "rp", "metadata": {"x": "y"}},
}

HOSTILE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    2**200,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "x" * 300,
    "\x00",
    "a\x00b",
    "\U0001f600" * 5,
    "'; DROP TABLE spans; --",
    "not a date",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "[1, 2]",
    '{"a": 1}',
    "error",
    "bogus",
    [],
    [None],
    [1, "a", None],
    [{"role": "user"}],
    {},
    {"a": None},
    {"prompt_tokens": 2**64},
    {"nested": {"deeper": [1, {"x": 2**70}]}},
]

EXTRA_KEYS = ["status", "metadata", "usage", "prompt_tokens", "completion_messages", "prompt", "unknown_key", ""]


def _hostile(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(HOSTILE_VALUES))


def _mutate(rng: random.Random, span: dict[str, Any]) -> Any:
    body = json.loads(json.dumps(span))
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        keys = list(body) if isinstance(body, dict) else []
        if op < 0.55 and keys:
            body[rng.choice(keys)] = _hostile(rng)
        elif op < 0.65 and keys:
            del body[rng.choice(keys)]
        elif op < 0.75:
            body[rng.choice(EXTRA_KEYS)] = _hostile(rng)
        elif op < 0.85:
            nested = rng.choice(["usage", "metadata", "respan_params", "keywordsai_params", "customer_params"])
            inner = body.get(nested)
            if not isinstance(inner, dict):
                inner = body[nested] = {}
            inner[rng.choice([*list(VALID_SPAN), "prompt_tokens", "cached_tokens"])] = _hostile(rng)
        elif op < 0.95:
            value = _mutate(rng, VALID_SPAN) if rng.random() < 0.5 else [copy.deepcopy(body)]
            body[rng.choice(list(VALID_SPAN))] = value
        else:
            return _hostile(rng)
    return body


def _encode(rng: random.Random, body: Any) -> bytes:
    raw = json.dumps(body, allow_nan=True, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:  # cut short: malformed JSON
        raw = raw[: rng.randint(0, len(raw))]
    return raw


FUZZ_SEED = 20250501
FUZZ_BODIES = 200


def _fuzz(client: TestClient, path: str, wrap: Callable[[random.Random, Any], Any]) -> list[str]:
    rng = random.Random(FUZZ_SEED)
    failures: list[str] = []
    for i in range(FUZZ_BODIES):
        raw = _encode(rng, wrap(rng, _mutate(rng, VALID_SPAN)))
        try:
            assert_well_formed(post_raw(client, path, raw))
        except Exception as e:  # an AssertionError, or a server exception the TestClient re-raises
            failures.append(f"#{i} {raw[:400]!r}\n    -> {type(e).__name__}: {str(e)[:300]}")
    return failures


def _report(failures: list[str]) -> str:
    kinds = Counter(f.rpartition("-> ")[2].partition(":")[0] for f in failures)
    return f"{len(failures)} of {FUZZ_BODIES} bodies ({dict(kinds)}):\n" + "\n".join(failures[:15])


def test_fuzz_create_never_5xx(client: TestClient) -> None:
    failures = _fuzz(client, CREATE, lambda _, body: body)
    assert not failures, _report(failures)


def test_fuzz_bulk_never_5xx(client: TestClient) -> None:
    def wrap(rng: random.Random, body: Any) -> Any:
        good = {"model": "m"}
        return {"logs": rng.choice([[body], [good, body], [body, good, _mutate(rng, VALID_SPAN)]])}

    failures = _fuzz(client, BULK, wrap)
    assert not failures, _report(failures)
