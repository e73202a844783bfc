"""The filters language (spec §12): a request's `filters` JSON -> a checked, typed domain filter tree.

Accepted shapes, all of which may nest:
    {"model": {"operator": "in", "value": ["a", "b"]}}              one condition
    {"latency": [{"operator": "gte", "value": [1]}, {...}]}         several on one field (a range)
    {"any-name": {"connector": "OR", "filter_params": {...}}}      a bundle: its own filters, OR-ed
    {"cost": {"gte": 1, "lt": 5}}                                   operators as keys (legacy docs)
    {"model": "gpt-4o"}, {"model": ["a", "b"]}                       a bare value, a bare list (legacy)
    [{"metric": "model", "operator": "", "value": ["a"]}, ...]       the dashboard's list form (legacy)
Each rule is joined to the next rule of its object or list by its own `connector`, else by the group's:
AND at the top (or the body's legacy `"operator": "OR"`), a bundle's `connector` inside it.

Every problem is a BadFilter (400) that names the field, the operator or the value at fault; nothing is
ever run for a filter that did not parse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from spanbase.domain.errors import BadRequest
from spanbase.domain.filters import Condition, Connector, FieldType, Group, Node, Op
from spanbase.domain.spans import to_micros
from spanbase.query.fields import View

MAX_VALUES = 10_000  # per condition; an IN list of trace ids is the long case
# Real filters hold a handful of conditions (a long list of ids is one condition's values), and what a
# query costs grows faster than their number: on traces each span condition is a semi-join, which
# PostgreSQL plans in a time that grows steeply (50 in 0.2 s, 100 in 2 s); SQLite nests `a AND b AND c`
# one level per AND and refuses past 1000.
MAX_CONDITIONS = 50
MAX_DEPTH = 16  # groups inside groups
# Levels of the compiled expression: each group, and each change of connector inside one (`a AND b OR c`
# is `(a AND b) OR c`). SQLAlchemy compiles an expression recursively, some seven Python frames a level:
# about 140 levels exhaust the interpreter's stack.
MAX_NESTING = 48

OPERATOR_ALIASES: dict[str, Op] = {
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

_TEXT_OPS = frozenset(
    {
        Op.IEXACT,
        Op.CONTAINS,
        Op.NOT_CONTAINS,
        Op.ICONTAINS,
        Op.STARTSWITH,
        Op.NOT_STARTSWITH,
        Op.ENDSWITH,
        Op.NOT_ENDSWITH,
    }
)
_SET_OPS = frozenset({Op.EQ, Op.NOT, Op.IN, Op.NOT_IN})
_ORDER_OPS = frozenset({Op.LT, Op.LTE, Op.GT, Op.GTE})
_PRESENCE_OPS = frozenset({Op.EMPTY, Op.NOT_EMPTY, Op.ISNULL})

# Which operators apply to which field type: one table, read by the parser (and by the docs).
OPERATORS_BY_TYPE: dict[FieldType, frozenset[Op]] = {
    FieldType.STRING: _SET_OPS | _ORDER_OPS | _TEXT_OPS | _PRESENCE_OPS,
    FieldType.METADATA: _SET_OPS | _ORDER_OPS | _TEXT_OPS | _PRESENCE_OPS | {Op.HAS_KEY},
    FieldType.NUMBER: _SET_OPS | _ORDER_OPS | _PRESENCE_OPS,
    FieldType.INTEGER: _SET_OPS | _ORDER_OPS | _PRESENCE_OPS,
    FieldType.TIME: _SET_OPS | _ORDER_OPS | _PRESENCE_OPS,
    FieldType.BOOLEAN: _SET_OPS | _PRESENCE_OPS,
}

# Keys a condition object may carry. The dashboard's filter objects add a few descriptive ones.
_CONDITION_KEYS = frozenset({"operator", "value", "connector", "operator_function", "operator_args"})
_DESCRIPTIVE_KEYS = frozenset({"id", "metric", "field", "display_name", "value_field_type", "from_url"})


class BadFilter(BadRequest):
    """A filter that cannot be run (400), with a message naming what is wrong."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Parser:
    def __init__(self, view: View) -> None:
        self.view = view
        self.count = 0

    # ---- structure

    def mapping(self, obj: Mapping[str, Any], default: Connector, depth: int) -> Node | None:
        if depth > MAX_DEPTH:
            raise BadFilter(f"filters nest deeper than {MAX_DEPTH} levels")
        items: list[Node] = []
        joins: list[Connector] = []
        pending: Connector = default
        for key, value in obj.items():
            if not isinstance(key, str):  # pragma: no cover - JSON object keys are strings
                raise BadFilter("filter field names must be strings")
            node, connector = self.entry(key, value, depth)
            if node is None:
                continue
            if items:
                joins.append(pending)
            items.append(node)
            pending = connector or default
        return _group(items, joins)

    def entry(self, key: str, value: Any, depth: int) -> tuple[Node | None, Connector | None]:
        if isinstance(value, Mapping) and "filter_params" in value:
            return self.bundle(key, value, depth), None
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            return self.rules(key, value), None
        if isinstance(value, Mapping):
            if value and not (set(value) & (_CONDITION_KEYS | _DESCRIPTIVE_KEYS)):
                return self.operator_keys(key, value), None
            return self.condition(key, value), _connector(key, value.get("connector"))
        if isinstance(value, list):  # a bare list of values: any of them
            return self.condition(key, {"operator": "in", "value": value}), None
        return self.condition(key, {"operator": "", "value": value}), None

    def bundle(self, name: str, value: Mapping[str, Any], depth: int) -> Node | None:
        extra = set(value) - {"filter_params", "connector"}
        if extra:
            raise BadFilter(f"filter group {_show(name)}: unknown key {_show(sorted(extra)[0])}")
        params = value["filter_params"]
        if not isinstance(params, Mapping):
            raise BadFilter(f"filter group {_show(name)}: filter_params must be an object")
        connector = _connector(name, value.get("connector")) or "AND"
        return self.mapping(params, connector, depth + 1)

    def rules(self, key: str, rules: list[Any]) -> Node | None:
        items: list[Node] = []
        joins: list[Connector] = []
        pending: Connector = "AND"
        for rule in rules:
            node = self.condition(key, rule)
            if items:
                joins.append(pending)
            items.append(node)
            pending = _connector(key, rule.get("connector")) or "AND"
        return _group(items, joins)

    def operator_keys(self, key: str, value: Mapping[str, Any]) -> Node | None:
        rules = [{"operator": op, "value": v} for op, v in value.items()]
        for r in rules:
            if str(r["operator"]).lower() not in OPERATOR_ALIASES:
                raise BadFilter(f"filter field {_show(key)}: unknown key or operator {_show(r['operator'])}")
        return self.rules(key, rules)

    def dashboard_list(self, rules: list[Any], default: Connector) -> Node | None:
        """The legacy dashboard form: a list of filter objects naming their field as `metric`, joined
        like the rules of an object (the body's `operator` included)."""
        items: list[Node] = []
        joins: list[Connector] = []
        pending: Connector = default
        for rule in rules:
            if not isinstance(rule, Mapping):
                raise BadFilter("a filters list must hold filter objects")
            name = rule.get("metric", rule.get("field"))
            if not isinstance(name, str):
                raise BadFilter("a filter object in a list must name its field as `metric`")
            node = self.condition(name, rule)
            if items:
                joins.append(pending)
            items.append(node)
            pending = _connector(name, rule.get("connector")) or default
        return _group(items, joins)

    # ---- one condition

    def condition(self, name: str, rule: Mapping[str, Any]) -> Condition:
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise BadFilter(f"more than {MAX_CONDITIONS} filter conditions")
        extra = set(rule) - _CONDITION_KEYS - _DESCRIPTIVE_KEYS
        if extra:
            raise BadFilter(f"filter field {_show(name)}: unknown key {_show(sorted(extra)[0])} in a condition")
        field_type, canonical, metadata_key = self.field(name, rule)
        op = self.operator(name, rule.get("operator", ""), field_type)
        if name == "metadata" and "operator_function" in rule:
            return self.key_presence(canonical, metadata_key, op, rule)
        values = self.values(name, op, field_type, rule)
        return Condition(canonical, field_type, op, values, metadata_key)

    def key_presence(self, canonical: str, key: str | None, op: Op, rule: Mapping[str, Any]) -> Condition:
        """mapContainsKey(metadata, key) compared with true or false."""
        if op not in _SET_OPS:
            raise BadFilter(f"filter field 'metadata': mapContainsKey compares with true or false, not {op.value!r}")
        (present,) = self.values("metadata", Op.HAS_KEY, FieldType.METADATA, rule)
        if op in (Op.NOT, Op.NOT_IN):
            present = not present
        return Condition(canonical, FieldType.METADATA, Op.HAS_KEY, (present,), key)

    def field(self, name: str, rule: Mapping[str, Any]) -> tuple[FieldType, str, str | None]:
        if name.startswith("metadata__"):
            key = _stored(name[len("metadata__") :])
            if not self.view.metadata:
                raise BadFilter(f"unsupported filter field {_show(name)}: {self.view.metadata_refusal}")
            if not key:
                raise BadFilter("filter field 'metadata__' needs a key: metadata__<key>")
            return FieldType.METADATA, f"metadata__{key}", key
        if name == "metadata" and "operator_function" in rule:
            return self.map_contains_key(rule)
        spec = self.view.resolve(name)
        if spec is None:
            if name == "metadata" and not self.view.metadata:
                raise BadFilter(f"unsupported filter field 'metadata': {self.view.metadata_refusal}")
            hint = " (metadata keys are filtered as metadata__<key>)" if name == "metadata" else ""
            if name.startswith("scores__"):
                hint = " (span scores are not stored by this server yet)"
            raise BadFilter(f"unsupported filter field {_show(name)} for {self.view.name}{hint}")
        return spec.type, spec.name, None

    def map_contains_key(self, rule: Mapping[str, Any]) -> tuple[FieldType, str, str | None]:
        """`{"metadata": {"operator_function": "mapContainsKey", "operator_args": [key], ...}}`."""
        if not self.view.metadata:
            raise BadFilter(f"unsupported filter field 'metadata': {self.view.metadata_refusal}")
        function = rule.get("operator_function")
        args = rule.get("operator_args")
        if function != "mapContainsKey":
            raise BadFilter(f"filter field 'metadata': unsupported operator_function {_show(function)}")
        if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], str) and args[0]):
            raise BadFilter("filter field 'metadata': mapContainsKey takes operator_args [<key>]")
        key = _stored(args[0])
        return FieldType.METADATA, f"metadata__{key}", key

    def operator(self, name: str, raw: Any, field_type: FieldType) -> Op:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raise BadFilter(f"filter field {_show(name)}: the operator must be a string, not {_show(raw)}")
        op = OPERATOR_ALIASES.get(raw.strip().lower())
        if op is None:
            raise BadFilter(f"filter field {_show(name)}: unsupported operator {_show(raw)}")
        if op not in OPERATORS_BY_TYPE[field_type]:
            raise BadFilter(f"filter field {_show(name)}: operator {_show(raw)} does not apply to a {field_type} field")
        return op

    # ---- values

    def values(self, name: str, op: Op, field_type: FieldType, rule: Mapping[str, Any]) -> tuple[object, ...]:
        has_value = "value" in rule
        raw = rule.get("value")
        if op in (Op.EMPTY, Op.NOT_EMPTY):
            return ()
        if op in (Op.ISNULL, Op.HAS_KEY):
            if not has_value or raw is None or raw == [] or raw == [""]:
                return (True,)
            first = raw[0] if isinstance(raw, list) else raw
            return (_boolean(name, first),)
        if not has_value:
            raise BadFilter(f"filter field {_show(name)}: a value is required for operator {op.value!r}")
        items = raw if isinstance(raw, list) else [raw]
        if len(items) > MAX_VALUES:
            raise BadFilter(f"filter field {_show(name)}: more than {MAX_VALUES} values")
        if op not in _SET_OPS:
            if not items:
                raise BadFilter(f"filter field {_show(name)}: operator {op.value!r} needs a value")
            items = items[:1]
        return tuple(_typed(name, field_type, v) for v in items)


def _typed(name: str, field_type: FieldType, v: Any) -> object:
    if v is None:
        raise BadFilter(f"filter field {_show(name)}: null is not a value to compare with (use operator 'isnull')")
    if isinstance(v, list | dict):
        raise BadFilter(f"filter field {_show(name)}: values must be strings, numbers or booleans, not {_show(v)}")
    if field_type is FieldType.STRING:
        if isinstance(v, bool):
            return "true" if v else "false"
        return _stored(v) if isinstance(v, str) else str(v)
    if field_type is FieldType.METADATA:
        # Metadata values are stored as strings, non-strings as their JSON text (ingest/normalize.py).
        return _stored(v) if isinstance(v, str) else _json_text(v)
    if field_type in (FieldType.NUMBER, FieldType.INTEGER):
        return _number(name, v)
    if field_type is FieldType.BOOLEAN:
        return _boolean(name, v)
    return _time(name, v)


def _json_text(v: bool | int | float) -> str:
    """A scalar as ingest stores it in metadata (coerce_metadata): orjson's text, the stdlib's for an
    integer past 64 bits (which orjson refuses)."""
    try:
        return orjson.dumps(v).decode()
    except TypeError:
        return json.dumps(v)


def _stored(text: str) -> str:
    """A string as the store keeps it: without NUL, which ingest removes (PostgreSQL text cannot hold
    one), so "a\x00b" finds what was sent as "a\x00b"."""
    return text.replace("\x00", "") if "\x00" in text else text


def _number(name: str, v: Any) -> int | float:
    if isinstance(v, bool):
        raise BadFilter(f"filter field {_show(name)}: {_show(v)} is not a number")
    if isinstance(v, int):
        if abs(v) >= 2**63:
            raise BadFilter(f"filter field {_show(name)}: {_show(v)} is out of range")
        return v
    if isinstance(v, float):
        number = v
    else:
        try:
            number = float(str(v).strip())
        except ValueError:
            raise BadFilter(f"filter field {_show(name)}: {_show(v)} is not a number") from None
    if not math.isfinite(number) or abs(number) >= 2.0**63:
        raise BadFilter(f"filter field {_show(name)}: {_show(v)} is not a finite number in range")
    return int(number) if number.is_integer() else number


_TRUE = frozenset({"true", "1", "yes", "t"})
_FALSE = frozenset({"false", "0", "no", "f"})


def _boolean(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        text = v.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise BadFilter(f"filter field {_show(name)}: {_show(v)} is not a boolean (true or false)")


def parse_time(name: str, v: Any) -> int:
    """An ISO 8601 time (a zone-less one is UTC), or epoch seconds, as epoch microseconds."""
    if isinstance(v, bool):
        raise BadFilter(f"{name}: {_show(v)} is not a time")
    if isinstance(v, int | float):
        if not math.isfinite(v) or abs(v) > 7.2e9:
            raise BadFilter(f"{name}: {_show(v)} is not a time in range")
        return round(v * 1_000_000)
    if not isinstance(v, str):
        raise BadFilter(f"{name}: {_show(v)} is not a time")
    text = v.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise BadFilter(f"{name}: {_show(v)} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return to_micros(dt)


def _time(name: str, v: Any) -> int:
    try:
        return parse_time(f"filter field {_show(name)}", v)
    except BadFilter:
        raise
    except (OverflowError, ValueError):  # pragma: no cover - fromisoformat bounds the years
        raise BadFilter(f"filter field {_show(name)}: {_show(v)} is not a time in range") from None


def _connector(name: str, raw: Any) -> Connector | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().upper() in ("AND", "OR"):
        return "AND" if raw.strip().upper() == "AND" else "OR"
    raise BadFilter(f"filter field {_show(name)}: connector must be 'AND' or 'OR', not {_show(raw)}")


def _levels(node: Node) -> int:
    """How deep the compiled expression of a tree nests (see MAX_NESTING); bounded by MAX_DEPTH groups."""
    if isinstance(node, Condition):
        return 1
    runs = 1 + sum(1 for a, b in zip(node.joins, node.joins[1:], strict=False) if a != b)
    return runs + max(_levels(item) for item in node.items)


def _group(items: list[Node], joins: list[Connector]) -> Node | None:
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    return Group(tuple(items), tuple(joins))


def parse_filters(raw: Any, view: View, operator: Any = None) -> Node | None:
    """The filter tree of a request body's `filters` (None or {} means no filter)."""
    if raw is None:
        return None
    default = _connector("operator", operator) or "AND"
    parser = _Parser(view)
    if isinstance(raw, list):
        node = parser.dashboard_list(raw, default)
    elif isinstance(raw, Mapping):
        node = parser.mapping(raw, default, 0)
    else:
        raise BadFilter(f"filters must be an object, not {_show(raw)}")
    if node is not None and _levels(node) > MAX_NESTING:
        raise BadFilter(
            f"filters nest deeper than {MAX_NESTING} levels (each group, and each change between AND and OR"
            " in one, opens a level)"
        )
    return node
