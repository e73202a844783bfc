"""The filters language parser (spec §12): request JSON -> the domain filter tree, or a BadFilter (400)
that names what is wrong. No database: what the trees mean in SQL is tests/test_filter_queries.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from spanbase.domain.filters import Condition, FieldType, Group, Node, Op, conditions, only_and
from spanbase.query.fields import CUSTOMERS, SPANS, THREADS, TRACE_BULK_DELETE, TRACES, View
from spanbase.query.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_NESTING,
    MAX_VALUES,
    OPERATOR_ALIASES,
    OPERATORS_BY_TYPE,
    BadFilter,
    parse_filters,
)

S, N, INT, B, T, M = (
    FieldType.STRING,
    FieldType.NUMBER,
    FieldType.INTEGER,
    FieldType.BOOLEAN,
    FieldType.TIME,
    FieldType.METADATA,
)


def micros(iso: str) -> int:
    return (datetime.fromisoformat(iso) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def parse(raw: Any, view: View = SPANS, operator: Any = None) -> Node | None:
    return parse_filters(raw, view, operator)


def one(raw: Any, view: View = SPANS) -> Condition:
    node = parse(raw, view)
    assert isinstance(node, Condition), node
    return node


def group(raw: Any, view: View = SPANS, operator: Any = None) -> Group:
    node = parse(raw, view, operator)
    assert isinstance(node, Group), node
    return node


def rule(field: str, op: Any, *values: Any) -> dict[str, Any]:
    return {field: {"operator": op, "value": list(values)}}


def bad(raw: Any, *needles: str, view: View = SPANS, operator: Any = None) -> str:
    """The filter is refused, with a message naming each needle (and not echoing a whole hostile input)."""
    with pytest.raises(BadFilter) as e:
        parse(raw, view, operator)
    message = str(e.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert len(message) < 500, message
    return message


# ------------------------------------------------------------------------------------------- operators

# Every documented spelling (spec §12.3), written out here rather than read from the parser's table.
SPELLINGS: dict[str, Op] = {
    "": Op.EQ,
    "=": Op.EQ,
    "==": Op.EQ,
    "eq": Op.EQ,
    "equals": Op.EQ,
    "exact": Op.EQ,
    "iexact": Op.IEXACT,
    "not": Op.NOT,
    "!=": Op.NOT,
    "<>": Op.NOT,
    "neq": Op.NOT,
    "ne": Op.NOT,
    "in": Op.IN,
    "not_in": Op.NOT_IN,
    "not in": Op.NOT_IN,
    "nin": Op.NOT_IN,
    "lt": Op.LT,
    "<": Op.LT,
    "lte": Op.LTE,
    "<=": Op.LTE,
    "gt": Op.GT,
    ">": Op.GT,
    "gte": Op.GTE,
    ">=": Op.GTE,
    "contains": Op.CONTAINS,
    "not_contains": Op.NOT_CONTAINS,
    "icontains": Op.ICONTAINS,
    "startswith": Op.STARTSWITH,
    "starts_with": Op.STARTSWITH,
    "not_startswith": Op.NOT_STARTSWITH,
    "endswith": Op.ENDSWITH,
    "ends_with": Op.ENDSWITH,
    "not_endswith": Op.NOT_ENDSWITH,
    "empty": Op.EMPTY,
    "is_empty": Op.EMPTY,
    "not_empty": Op.NOT_EMPTY,
    "notempty": Op.NOT_EMPTY,
    "is_not_empty": Op.NOT_EMPTY,
    "isnull": Op.ISNULL,
    "is_null": Op.ISNULL,
    "has_key": Op.HAS_KEY,
}
# The camel-case and upper-case forms of the legacy docs, and stray blanks.
SPELLINGS_IN_OTHER_CASES: dict[str, Op] = {
    "EQ": Op.EQ,
    "Equals": Op.EQ,
    "IN": Op.IN,
    "NOT IN": Op.NOT_IN,
    "Not_In": Op.NOT_IN,
    "startsWith": Op.STARTSWITH,
    "endsWith": Op.ENDSWITH,
    "notEmpty": Op.NOT_EMPTY,
    "isNull": Op.ISNULL,
    "IS_NULL": Op.ISNULL,
    " in ": Op.IN,
    "\tgte\n": Op.GTE,
}


def test_the_alias_table_is_the_documented_one() -> None:
    assert OPERATOR_ALIASES == SPELLINGS


@pytest.mark.parametrize(("spelling", "op"), [*SPELLINGS.items(), *SPELLINGS_IN_OTHER_CASES.items()])
def test_operator_spellings(spelling: str, op: Op) -> None:
    # metadata takes every operator; has_key included
    c = one(rule("metadata__plan", spelling, True))
    assert c.op is op


def test_a_missing_or_null_operator_is_equality() -> None:
    assert one({"model": {"value": ["a"]}}).op is Op.EQ
    assert one({"model": {"operator": None, "value": ["a"]}}).op is Op.EQ


# One field of each type, and a value it takes.
SAMPLES: dict[FieldType, tuple[str, Any]] = {
    S: ("model", "gpt-4o"),
    N: ("cost", 1.5),
    INT: ("prompt_tokens", 7),
    B: ("stream", True),
    T: ("timestamp", "2025-03-04T10:00:00Z"),
    M: ("metadata__plan", "pro"),
}
_SETS = {Op.EQ, Op.NOT, Op.IN, Op.NOT_IN}
_ORDER = {Op.LT, Op.LTE, Op.GT, Op.GTE}
_TEXT = {
    Op.IEXACT,
    Op.CONTAINS,
    Op.NOT_CONTAINS,
    Op.ICONTAINS,
    Op.STARTSWITH,
    Op.NOT_STARTSWITH,
    Op.ENDSWITH,
    Op.NOT_ENDSWITH,
}
_PRESENCE = {Op.EMPTY, Op.NOT_EMPTY, Op.ISNULL}
ACCEPTED: dict[FieldType, set[Op]] = {
    S: _SETS | _ORDER | _TEXT | _PRESENCE,
    M: _SETS | _ORDER | _TEXT | _PRESENCE | {Op.HAS_KEY},
    N: _SETS | _ORDER | _PRESENCE,
    INT: _SETS | _ORDER | _PRESENCE,
    T: _SETS | _ORDER | _PRESENCE,
    B: _SETS | _PRESENCE,
}


def test_the_operator_table_is_the_documented_one() -> None:
    assert {t: set(ops) for t, ops in OPERATORS_BY_TYPE.items()} == ACCEPTED


@pytest.mark.parametrize("field_type", list(FieldType))
def test_every_operator_on_every_field_type(field_type: FieldType) -> None:
    field, sample = SAMPLES[field_type]
    for op in Op:
        raw = rule(field, op.value, True if op in (Op.ISNULL, Op.HAS_KEY) else sample)
        if op in ACCEPTED[field_type]:
            c = one(raw)
            assert (c.field, c.type, c.op) == (field, field_type, op)
        else:
            bad(raw, repr(field), repr(op.value), str(field_type))


# ------------------------------------------------------------------------------------------------ fields

FIELD_ALIASES = {
    "id": ("unique_id", S),
    "trace_id": ("trace_unique_id", S),
    "total_cost": ("cost", N),
    "input_tokens": ("prompt_tokens", INT),
    "output_tokens": ("completion_tokens", INT),
    "total_tokens": ("total_request_tokens", INT),
    "generation_time": ("latency", N),
    "ttft": ("time_to_first_token", N),
    "end_time": ("timestamp", T),
}


@pytest.mark.parametrize(("alias", "canonical"), FIELD_ALIASES.items())
def test_field_aliases(alias: str, canonical: tuple[str, FieldType]) -> None:
    field_type = canonical[1]
    c = one(rule(alias, "", SAMPLES[field_type][1]))
    assert (c.field, c.type) == canonical


def test_every_span_field_has_its_type() -> None:
    expected = {
        "customer_identifier": S,
        "span_parent_id": S,
        "error_message": S,
        "error_class": S,  # a gateway field: accepted, always empty
        "status_code": INT,
        "prompt_cache_hit_tokens": INT,
        "latency": N,
        "time_to_first_token": N,
        "positive_feedback": B,
        "is_root_span": B,
        "cache_hit": B,
        "start_time": T,
    }
    for name, field_type in expected.items():
        assert SPANS.fields[name].type is field_type, name
    for name, spec in SPANS.fields.items():
        c = one(rule(name, "", SAMPLES[spec.type][1]))
        assert (c.field, c.type, c.metadata_key) == (name, spec.type, None)


def test_fields_of_the_other_views() -> None:
    # Traces refuse total_tokens as a filter (spec §3.1), bulk delete takes it (spec §3.5).
    bad(rule("total_tokens", "gt", 1), "'total_tokens'", "traces", view=TRACES)
    assert one(rule("total_request_tokens", "gt", 1), TRACES).field == "total_request_tokens"
    assert one(rule("total_tokens", "gt", 1), TRACE_BULK_DELETE).field == "total_request_tokens"
    assert one(rule("trace_id", "", "t"), TRACES).field == "trace_unique_id"
    assert one(rule("metadata__plan", "", "pro"), TRACES).metadata_key == "plan"
    assert one(rule("cost", "", 1), THREADS).field == "total_cost"
    assert one(rule("total_requests", "gt", 1), CUSTOMERS).field == "number_of_requests"
    bad(rule("model", "", "x"), "'model'", "bulk delete", view=TRACE_BULK_DELETE)
    # Threads and customers have no metadata (spec §5).
    bad(rule("metadata__plan", "", "pro"), "'metadata__plan'", "threads", view=THREADS)
    bad(rule("metadata__plan", "", "pro"), "'metadata__plan'", "customers", view=CUSTOMERS)
    bad(
        {"metadata": {"operator_function": "mapContainsKey", "operator_args": ["k"], "value": [True]}},
        "customers",
        view=CUSTOMERS,
    )


def test_unknown_fields_are_named() -> None:
    bad(rule("modle", "", "x"), "'modle'", "spans")
    bad(rule("Model", "", "x"), "'Model'")  # field names are case sensitive
    bad(rule("metadata", "", "x"), "'metadata'", "metadata__<key>")
    bad(rule("metadata__", "", "x"), "metadata__<key>")
    bad(rule("scores__eval-1", "gt", 1), "'scores__eval-1'", "scores")
    bad(rule("input", "contains", "x"), "'input'")  # heavy fields are not filters


# ------------------------------------------------------------------------------------------------ values


def test_equality_and_in_keep_every_value_in_order() -> None:
    for op in ("", "in", "not", "not_in"):
        assert one(rule("model", op, "b", "a", "b")).values == ("b", "a", "b")
    assert one(rule("metadata__plan", "not_in", "x", "y")).values == ("x", "y")


def test_the_other_operators_take_the_first_value() -> None:
    assert one(rule("cost", "lt", 5, 1)).values == (5,)
    assert one(rule("model", "contains", "a", "b")).values == ("a",)
    assert one(rule("model", "iexact", "A", "b")).values == ("A",)
    assert one(rule("timestamp", "gte", "2025-03-04T00:00:00Z", "junk")).values == (
        micros("2025-03-04T00:00:00+00:00"),
    )


def test_scalar_values_are_wrapped() -> None:
    assert one({"status_code": {"operator": "", "value": 200}}).values == (200,)
    assert one({"model": {"operator": "in", "value": "gpt-4o"}}).values == ("gpt-4o",)
    assert one({"cost": {"operator": "lt", "value": 5}}).values == (5,)
    assert one({"stream": {"operator": "not", "value": False}}).values == (False,)


def test_empty_and_missing_values() -> None:
    assert one(rule("model", "in")).values == ()
    assert one(rule("model", "")).values == ()
    assert one(rule("cost", "not_in")).values == ()
    bad(rule("cost", "lt"), "'cost'", "'lt'", "needs a value")
    bad({"model": {"operator": ""}}, "'model'", "a value is required")
    bad({"model": {}}, "'model'", "a value is required")
    # empty / not_empty ignore their value ([""] by the docs).
    assert one(rule("model", "empty", "")).values == ()
    assert one({"model": {"operator": "not_empty"}}).values == ()
    assert one(rule("cost", "empty", "whatever")).values == ()


def test_isnull_and_has_key_take_a_boolean() -> None:
    assert one({"cost": {"operator": "isnull"}}).values == (True,)
    assert one(rule("cost", "isnull")).values == (True,)
    assert one(rule("cost", "isnull", "")).values == (True,)
    assert one(rule("cost", "isnull", False)).values == (False,)
    assert one({"cost": {"operator": "isnull", "value": "false"}}).values == (False,)
    assert one(rule("cost", "isnull", 0)).values == (False,)
    assert one(rule("metadata__plan", "has_key", "no")).values == (False,)
    bad(rule("cost", "isnull", "perhaps"), "'cost'", "perhaps", "boolean")


def test_numbers() -> None:
    assert one(rule("cost", "", "1.5")).values == (1.5,)
    assert one(rule("cost", "", " 3 ")).values == (3,)
    assert one(rule("cost", "", 2.0)).values == (2,)
    assert isinstance(one(rule("cost", "", 2.0)).values[0], int)
    assert one(rule("cost", "", "1e3")).values == (1000,)
    assert one(rule("status_code", "", 200.5)).values == (200.5,)  # an integer field keeps a fraction
    assert one(rule("prompt_tokens", "", 2**63 - 1)).values == (2**63 - 1,)
    assert one(rule("prompt_tokens", "", -(2**63) + 1)).values == (-(2**63) + 1,)
    for wrong in ("cheap", "", "1,5", "nan", "NaN", "inf", "-Infinity", "1e400", True, False, 2**63, -(2**63), 1e19):
        bad(rule("cost", "gt", wrong), "'cost'")


def test_booleans() -> None:
    for truthy in (True, "true", "True", " TRUE ", "1", "yes", "t", 1):
        assert one(rule("stream", "", truthy)).values == (True,), truthy
    for falsy in (False, "false", "0", "no", "f", 0):
        assert one(rule("stream", "", falsy)).values == (False,), falsy
    for wrong in ("maybe", "", 2, -1, 1.5, "on"):
        bad(rule("stream", "", wrong), "'stream'", "boolean")


def test_times() -> None:
    at = micros("2025-03-04T10:00:00+00:00")
    same_instant = (
        "2025-03-04T10:00:00Z",
        "2025-03-04T10:00:00z",
        "2025-03-04T10:00:00+00:00",
        "2025-03-04T11:30:00+01:30",
        "2025-03-04T10:00:00",  # no zone: UTC
        "2025-03-04 10:00:00",
        1741082400,  # epoch seconds
        1741082400.0,
    )
    for value in same_instant:
        assert one(rule("timestamp", "gte", value)).values == (at,), value
    assert one(rule("timestamp", "", "2025-03-04")).values == (micros("2025-03-04T00:00:00+00:00"),)
    assert one(rule("timestamp", "", "2025-03-04T10:00:00.123456Z")).values == (at + 123_456,)
    assert one(rule("start_time", "lt", 1741082400.25)).values == (at + 250_000,)
    for wrong in ("yesterday", "2025-13-01", "", "10:00", True, 10**12, -(10**12)):
        bad(rule("timestamp", "gt", wrong), "'timestamp'")


def test_strings_and_metadata_values_are_text() -> None:
    assert one(rule("model", "", 3)).values == ("3",)
    assert one(rule("model", "", 1.5)).values == ("1.5",)
    assert one(rule("model", "", True)).values == ("true",)
    # Metadata holds strings, non-strings as their JSON text (as ingest stores them).
    assert one(rule("metadata__n", "", 3)).values == ("3",)
    assert one(rule("metadata__n", "", 1.5)).values == ("1.5",)
    assert one(rule("metadata__n", "", False)).values == ("false",)
    assert one(rule("metadata__n", "in", "3", 3)).values == ("3", "3")
    # An integer past 64 bits (a caller's, not JSON's: orjson reads those as floats) as ingest writes it.
    assert one(rule("metadata__n", "", 2**70)).values == (str(2**70),)


def test_values_that_are_not_values() -> None:
    for field_type in (S, N, INT, B, T, M):
        field, sample = SAMPLES[field_type]
        bad(rule(field, "", None), repr(field), "null", "isnull")
        bad(rule(field, "in", sample, None), repr(field), "null")
        bad(rule(field, "in", sample, [sample]), repr(field), "strings, numbers or booleans")
        bad(rule(field, "", {"a": 1}), repr(field), "strings, numbers or booleans")


def test_value_limits() -> None:
    assert len(one(rule("trace_unique_id", "in", *map(str, range(MAX_VALUES)))).values) == MAX_VALUES
    bad(rule("trace_unique_id", "in", *map(str, range(MAX_VALUES + 1))), "'trace_unique_id'", str(MAX_VALUES))
    # Counted before typing: a long list of junk for an operator that reads one value is refused as long.
    bad(rule("cost", "lt", *range(MAX_VALUES + 1)), "'cost'", str(MAX_VALUES))


# --------------------------------------------------------------------------------------------- structure


def test_no_filter() -> None:
    assert parse(None) is None
    assert parse({}) is None
    assert parse([]) is None
    assert parse({"g": {"connector": "OR", "filter_params": {}}}) is None


def test_fields_are_joined_by_and_in_order() -> None:
    g = group({**rule("model", "", "a"), **rule("cost", "gt", 1), **rule("stream", "", True)})
    assert [c.field for c in conditions(g)] == ["model", "cost", "stream"]
    assert g.joins == ("AND", "AND")
    assert only_and(g)


def test_the_body_operator_joins_the_top_level() -> None:
    raw = {**rule("model", "", "a"), **rule("cost", "gt", 1)}
    assert group(raw, operator="OR").joins == ("OR",)
    assert group(raw, operator="or").joins == ("OR",)
    assert group(raw, operator=" And ").joins == ("AND",)
    assert group(raw, operator=None).joins == ("AND",)
    bad(raw, "'operator'", "XOR", operator="XOR")
    bad(raw, "'operator'", operator=1)


def test_a_rule_connector_joins_it_to_the_next_rule() -> None:
    raw = {
        "model": {"operator": "", "value": ["a"], "connector": "OR"},
        "cost": {"operator": "gt", "value": [1], "connector": "and"},
        "stream": {"operator": "", "value": [True], "connector": "OR"},  # the last one's joins nothing
    }
    g = group(raw)
    assert g.joins == ("OR", "AND")
    assert not only_and(g)
    # The body's default joins the rules that say nothing.
    raw2 = {
        "model": {"operator": "", "value": ["a"], "connector": "AND"},
        **rule("cost", "gt", 1),
        **rule("stream", "", 1),
    }
    assert group(raw2, operator="OR").joins == ("AND", "OR")
    bad({"model": {"operator": "", "value": ["a"], "connector": "XOR"}}, "'model'", "XOR")
    bad({"model": {"operator": "", "value": ["a"], "connector": True}}, "'model'", "connector")


def test_ranges_are_rules_on_one_field() -> None:
    g = group({"latency": [{"operator": "gte", "value": [1]}, {"operator": "lt", "value": [5]}]})
    assert [(c.field, c.op, c.values) for c in conditions(g)] == [("latency", Op.GTE, (1,)), ("latency", Op.LT, (5,))]
    assert g.joins == ("AND",)
    g = group({"cost": [{"operator": "lt", "value": [1], "connector": "OR"}, {"operator": "gt", "value": [5]}]})
    assert g.joins == ("OR",)
    assert one({"cost": [{"operator": "lt", "value": [1]}]}).op is Op.LT


def test_bundles() -> None:
    g = group(
        {
            "either": {"connector": "OR", "filter_params": {**rule("model", "", "a"), **rule("cost", "gt", 1)}},
            **rule("stream", "", True),
        }
    )
    assert g.joins == ("AND",)
    inner = g.items[0]
    assert isinstance(inner, Group) and inner.joins == ("OR",)
    # Without a connector a bundle is an AND; its connector is its own, not the body's.
    g = group({"b": {"filter_params": {**rule("model", "", "a"), **rule("cost", "gt", 1)}}}, operator="OR")
    assert g.joins == ("AND",)
    # Bundles within bundles; one holding a single rule is that rule.
    c = one({"a": {"connector": "OR", "filter_params": {"b": {"filter_params": rule("model", "", "x")}}}})
    assert c.field == "model"
    bad({"g": {"connector": "OR", "filter_params": {}, "operator": "AND"}}, "'g'", "'operator'")
    bad({"g": {"connector": "OR", "filter_params": [rule("model", "", "a")]}}, "'g'", "filter_params")
    bad({"g": {"connector": "NOR", "filter_params": {}}}, "'g'", "NOR")


def _nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = rule("model", "", "x")
    for i in range(levels):
        node = {f"g{i}": {"connector": "OR", "filter_params": {**node, **rule("cost", "gt", i)}}}
    return node


def test_depth_limit() -> None:
    assert len(conditions(parse(_nested(MAX_DEPTH)))) == MAX_DEPTH + 1
    bad(_nested(MAX_DEPTH + 1), str(MAX_DEPTH), "nest")
    bad(_nested(400), str(MAX_DEPTH))  # refused before recursing further


def _alternating(n: int) -> dict[str, Any]:
    return {"cost": [{"operator": "gt", "value": [i], "connector": "OR" if i % 2 else "AND"} for i in range(n)]}


def test_nesting_limit() -> None:
    """`a AND b OR c AND d ...` nests one level per change of connector: so many compile too deep."""
    assert MAX_NESTING < MAX_CONDITIONS  # else the condition limit would be met first
    g = group(_alternating(MAX_NESTING))
    assert len(set(g.joins)) == 2
    bad(_alternating(MAX_NESTING + 1), str(MAX_NESTING))
    # Levels add up through groups.
    assert parse({"g": {"connector": "OR", "filter_params": _alternating(MAX_NESTING - 1)}, **rule("model", "", "x")})
    bad({"g": {"connector": "OR", "filter_params": _alternating(MAX_NESTING)}, **rule("model", "", "x")}, "nest")
    # Rules that all say AND (or all OR) are one level, however many.
    flat = {"cost": [{"operator": "gt", "value": [i], "connector": "OR"} for i in range(MAX_CONDITIONS)]}
    assert group(flat).joins == ("OR",) * (MAX_CONDITIONS - 1)


def test_condition_limit() -> None:
    at_limit = {f"metadata__k{i}": {"operator": "", "value": ["v"]} for i in range(MAX_CONDITIONS)}
    assert len(conditions(parse(at_limit))) == MAX_CONDITIONS
    over = {**at_limit, "metadata__last": {"operator": "", "value": ["v"]}}
    bad(over, str(MAX_CONDITIONS))
    bad({"cost": [{"operator": "gt", "value": [i]} for i in range(MAX_CONDITIONS + 1)]}, str(MAX_CONDITIONS))
    bad([{"metric": "cost", "operator": "gt", "value": [i]} for i in range(MAX_CONDITIONS + 1)], str(MAX_CONDITIONS))


# ------------------------------------------------------------------------------------------ legacy shapes


def test_operators_as_keys() -> None:
    g = group({"cost": {"gte": 1, "lt": 5}})
    assert [(c.op, c.values) for c in conditions(g)] == [(Op.GTE, (1,)), (Op.LT, (5,))]
    assert g.joins == ("AND",)
    assert one({"timestamp": {"GTE": "2025-03-04"}}).op is Op.GTE
    assert one({"model": {"in": ["a", "b"]}}).values == ("a", "b")
    assert one({"cost": {">=": 2}}).op is Op.GTE
    bad({"cost": {"gte": 1, "between": 5}}, "'cost'", "'between'")
    bad({"cost": {"operator": "gte", "value": 1, "lt": 5}}, "'cost'", "'lt'")  # not both shapes at once


def test_bare_values_and_lists() -> None:
    c = one({"model": "gpt-4o"})
    assert (c.op, c.values) == (Op.EQ, ("gpt-4o",))
    assert one({"status_code": 200}).values == (200,)
    assert one({"stream": False}).values == (False,)
    c = one({"model": ["a", "b"]})
    assert (c.op, c.values) == (Op.IN, ("a", "b"))
    bad({"model": None}, "'model'", "null")
    bad({"model": ["a", {"operator": ""}]}, "'model'")


def test_the_dashboard_list_form() -> None:
    g = group(
        [
            {
                "id": "f1",
                "metric": "model",
                "operator": "",
                "value": ["a"],
                "display_name": "Model",
                "value_field_type": "text",
                "from_url": False,
                "connector": "OR",
            },
            {"metric": "total_cost", "operator": "gte", "value": [1]},
            {"field": "stream", "operator": "", "value": [True]},
        ]
    )
    assert [c.field for c in conditions(g)] == ["model", "cost", "stream"]
    assert g.joins == ("OR", "AND")
    # The body's operator joins the objects that say nothing, as in the object form.
    listed = [
        {"metric": "model", "value": ["a"]},
        {"metric": "cost", "operator": "gt", "value": [1], "connector": "AND"},
    ]
    assert group([*listed, {"metric": "stream", "value": [True]}], operator="OR").joins == ("OR", "AND")
    bad([{"operator": "", "value": ["a"]}], "metric")
    bad([{"metric": 3, "operator": "", "value": ["a"]}], "metric")
    bad(["model"], "filter objects")
    bad([{"metric": "modle", "operator": "", "value": ["a"]}], "'modle'")


def test_descriptive_keys_are_allowed_in_a_condition() -> None:
    c = one({"model": {"operator": "", "value": ["a"], "display_name": "Model", "id": 1, "from_url": True}})
    assert c.values == ("a",)
    bad({"model": {"operator": "", "valeu": ["a"]}}, "'model'", "'valeu'")
    bad({"model": {"operator": "", "value": ["a"], "negate": True}}, "'model'", "'negate'")


def test_map_contains_key() -> None:
    def has(key: Any, op: str = "", value: Any = True, function: Any = "mapContainsKey") -> dict[str, Any]:
        return {"metadata": {"operator_function": function, "operator_args": [key], "operator": op, "value": [value]}}

    c = one(has("plan"))
    assert (c.field, c.type, c.op, c.values, c.metadata_key) == ("metadata__plan", M, Op.HAS_KEY, (True,), "plan")
    assert one(has("plan", value=False)).values == (False,)
    assert one(has("plan", "not")).values == (False,)
    assert one(has("plan", "not", False)).values == (True,)
    assert one({"metadata": {"operator_function": "mapContainsKey", "operator_args": ["a.b"]}}).values == (True,)
    bad(has("plan", function="mapKeys"), "'metadata'", "mapKeys")
    bad(has("plan", "gt"), "'metadata'", "'gt'")
    bad(has(""), "operator_args")
    bad(has(3), "operator_args")
    bad({"metadata": {"operator_function": "mapContainsKey", "operator_args": ["a", "b"]}}, "operator_args")


def test_filters_that_are_not_objects() -> None:
    for raw in ("model = 'x'", 3, 1.5, True):
        bad(raw, "filters must be an object")
    bad({"model": {"operator": ["in"], "value": ["a"]}}, "'model'", "operator must be a string")


# ------------------------------------------------------------------------------------------ hostile input

SQL = "'; DROP TABLE spans; --"


@pytest.mark.parametrize(
    "name",
    [SQL, 'model"', "model'", "mödel", "model\x00", "\x00", "", " model", "MODEL", "model.id", "🙂", "m" * 100_000],
)
def test_hostile_field_names_are_refused_by_name(name: str) -> None:
    message = bad(rule(name, "", "x"))
    assert repr(name)[:40] in message


@pytest.mark.parametrize("op", [SQL, "eq; --", "in)", "\x00", "🙂", "x" * 100_000])
def test_hostile_operators_are_refused_by_name(op: str) -> None:
    message = bad(rule("model", op, "x"), "'model'")
    assert repr(op)[:40] in message


@pytest.mark.parametrize(
    "key", ["a.b", "a'b", 'a"b', "a\\b", "ключ", "🙂", "$.x", "[0]", "a b", "*", SQL, "k" * 10_000]
)
def test_metadata_keys_are_taken_as_they_are(key: str) -> None:
    c = one(rule(f"metadata__{key}", "", "v"))
    assert (c.field, c.metadata_key, c.values) == (f"metadata__{key}", key, ("v",))
    assert one(rule(f"metadata__{key}", "not", SQL)).values == (SQL,)


def test_nul_is_dropped_as_ingest_drops_it() -> None:
    """Stored strings have no NUL (PostgreSQL text cannot hold one): a filter compares as stored."""
    c = one(rule("metadata__a\x00b", "", "x\x00y"))
    assert (c.field, c.metadata_key, c.values) == ("metadata__ab", "ab", ("xy",))
    assert one(rule("customer_identifier", "in", "a\x00", "\x00b")).values == ("a", "b")
    key = one({"metadata": {"operator_function": "mapContainsKey", "operator_args": ["k\x00"]}})
    assert key.metadata_key == "k"
    bad(rule("metadata__\x00", "", "x"), "metadata__<key>")


@pytest.mark.parametrize(
    "value", [SQL, "' OR '1'='1", "%", "_", "\\", "\\'", '"', "Ünïcode", "🙂", "\u202e", "x" * 1_000_000]
)
def test_hostile_values_are_kept_verbatim(value: str) -> None:
    for field in ("model", "metadata__plan"):
        assert one(rule(field, "", value)).values == (value,)
        assert one(rule(field, "contains", value)).values == (value,)
