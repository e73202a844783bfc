"""Filter trees (domain/filters.py) -> SQLAlchemy expressions: every value a bound parameter.

One table of operators per kind of field (`_STRING`, `_NUMBER`, `_BOOLEAN`, `_METADATA`), each entry a
function of (column, values) -> condition. What differs between SQLite and PostgreSQL (case-sensitive
substring search, suffixes, reading one metadata key) sits in `Dialect`.

Semantics worth knowing (spec §12):
- a missing string is treated as "": `customer_identifier = ""` finds spans without a customer, and
  the negative operators (not, not_in, not_contains, ...) hold for it;
- a missing number or boolean equals no value, and the negative operators hold for it;
- a row without a metadata key never matches a condition on that key, not even a negative one
  (spec §12.4), except `isnull` / `has_key`, which test for the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, assert_never

from sqlalchemy import ColumnElement, and_, false, func, literal, not_, null, or_, true

from spanbase.domain.filters import Condition, FieldType, Group, Node, Op

Expr = ColumnElement[Any]
Pred = ColumnElement[bool]


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite" or "postgresql"

    def contains(self, col: Expr, v: str) -> Pred:
        # LIKE is case-insensitive on SQLite (for ASCII): a position search is exact on both.
        if self.name == "sqlite":
            return func.instr(col, v) > 0
        if self.name == "postgresql":
            return func.strpos(col, v) > 0
        assert_never(self.name)  # type: ignore[arg-type]

    def startswith(self, col: Expr, v: str) -> Pred:
        return func.substr(col, 1, len(v)) == v

    def endswith(self, col: Expr, v: str) -> Pred:
        if self.name == "sqlite":
            return func.substr(col, -len(v)) == v
        if self.name == "postgresql":
            return func.right(col, len(v)) == v
        assert_never(self.name)  # type: ignore[arg-type]

    def metadata_value(self, metadata: Expr, key: str) -> Expr:
        """The string stored under one metadata key (NULL when absent)."""
        if self.name == "postgresql":
            return metadata.op("->>")(literal(key))
        if self.name == "sqlite":
            if _PLAIN_KEY.fullmatch(key):
                return func.json_extract(metadata, f'$."{key}"')
            # A JSON path cannot name every key (quotes, backslashes, some non-ASCII): ask json_each.
            each = func.json_each(metadata).table_valued("key", "value").alias("m")
            return each.select().with_only_columns(each.c.value).where(each.c.key == key).scalar_subquery()
        assert_never(self.name)  # type: ignore[arg-type]


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-.: /]+")


@dataclass(frozen=True)
class Target:
    """What a view's filters compile against.

    `columns` maps each field's column key (query/fields.py) to an expression. `metadata`, when the view
    has metadata, is the JSON column; `metadata_tags(key, values)`, when the view has a metadata index,
    gives a condition for "key is one of values" read from it. `spans_match(pred)`, on views of traces,
    wraps a condition on one span into "some span of the trace matches"; `span_target` is what such a
    condition compiles against.
    """

    dialect: Dialect
    columns: Mapping[str, Expr]
    metadata: Expr | None = None
    metadata_tags: Callable[[str, Sequence[str]], Pred] | None = None
    span_level: frozenset[str] = frozenset()
    spans_match: Callable[[Pred], Pred] | None = None
    span_target: Target | None = None
    # Fields with a faster way to compile an operator than the generic one (unique_id = ...).
    special: Mapping[tuple[str, Op], Callable[[Condition], Pred]] | None = None


def compile_filter(node: Node | None, target: Target) -> Pred:
    if node is None:
        return true()
    if isinstance(node, Group):
        preds = [compile_filter(item, target) for item in node.items]
        out = preds[0]
        for join, pred in zip(node.joins, preds[1:], strict=True):
            out = and_(out, pred) if join == "AND" else or_(out, pred)
        return out
    return _condition(node, target)


def _condition(c: Condition, target: Target) -> Pred:
    if c.field in target.span_level or (c.type is FieldType.METADATA and target.spans_match is not None):
        assert target.spans_match is not None and target.span_target is not None
        return target.spans_match(_condition(c, target.span_target))
    if target.special and (c.field, c.op) in target.special:
        return target.special[(c.field, c.op)](c)
    if c.type is FieldType.METADATA:
        return _metadata(c, target)
    col = target.columns[c.field]
    values = list(c.values)
    if c.type is FieldType.STRING:
        return _STRING[c.op](target.dialect, col, values)
    if c.type is FieldType.BOOLEAN:
        return _BOOLEAN[c.op](col, values)
    return _NUMBER[c.op](col, values)  # numbers, integers and times (epoch microseconds)


# ------------------------------------------------------------------------------------------- strings


def _any_of(col: Expr, values: list[Any]) -> Pred:
    if not values:
        return false()
    found: Pred = col.in_(values) if len(values) > 1 else col == values[0]
    return or_(found, col.is_(None)) if "" in values else found


def _none_of(col: Expr, values: list[Any]) -> Pred:
    if not values:
        return true()
    found: Pred = col.not_in(values) if len(values) > 1 else col != values[0]
    return and_(col.is_not(None), found) if "" in values else or_(col.is_(None), found)


def _blank(col: Expr) -> Pred:
    return or_(col.is_(None), col == "")


def _text(match: Callable[[Dialect, Expr, str], Pred], negate: bool) -> Callable[[Dialect, Expr, list[Any]], Pred]:
    """A substring/prefix/suffix operator; "" is in every string, a missing one included."""

    def op(d: Dialect, col: Expr, values: list[Any]) -> Pred:
        v = values[0]
        if v == "":
            return false() if negate else true()
        hit = match(d, col, v)
        return or_(col.is_(None), not_(hit)) if negate else hit

    return op


def _icontains(d: Dialect, col: Expr, v: str) -> Pred:
    return d.contains(func.lower(col), v.lower())


StringOp = Callable[[Dialect, Expr, list[Any]], Pred]
_STRING: dict[Op, StringOp] = {
    Op.EQ: lambda d, col, vs: _any_of(col, vs),
    Op.IN: lambda d, col, vs: _any_of(col, vs),
    Op.NOT: lambda d, col, vs: _none_of(col, vs),
    Op.NOT_IN: lambda d, col, vs: _none_of(col, vs),
    Op.IEXACT: lambda d, col, vs: _blank(col) if vs[0] == "" else func.lower(col) == vs[0].lower(),
    Op.LT: lambda d, col, vs: col < vs[0],
    Op.LTE: lambda d, col, vs: col <= vs[0],
    Op.GT: lambda d, col, vs: col > vs[0],
    Op.GTE: lambda d, col, vs: col >= vs[0],
    Op.CONTAINS: _text(lambda d, col, v: d.contains(col, v), negate=False),
    Op.NOT_CONTAINS: _text(lambda d, col, v: d.contains(col, v), negate=True),
    Op.ICONTAINS: _text(_icontains, negate=False),
    Op.STARTSWITH: _text(lambda d, col, v: d.startswith(col, v), negate=False),
    Op.NOT_STARTSWITH: _text(lambda d, col, v: d.startswith(col, v), negate=True),
    Op.ENDSWITH: _text(lambda d, col, v: d.endswith(col, v), negate=False),
    Op.NOT_ENDSWITH: _text(lambda d, col, v: d.endswith(col, v), negate=True),
    Op.EMPTY: lambda d, col, vs: _blank(col),
    Op.NOT_EMPTY: lambda d, col, vs: not_(_blank(col)),
    Op.ISNULL: lambda d, col, vs: _blank(col) if vs[0] else not_(_blank(col)),
}

# ---------------------------------------------------------------------------- numbers, times, booleans


def _number_any(col: Expr, values: list[Any]) -> Pred:
    if not values:
        return false()
    return col.in_(values) if len(values) > 1 else col == values[0]


def _number_none(col: Expr, values: list[Any]) -> Pred:
    if not values:
        return true()
    return or_(col.is_(None), col.not_in(values) if len(values) > 1 else col != values[0])


NumberOp = Callable[[Expr, list[Any]], Pred]
_NUMBER: dict[Op, NumberOp] = {
    Op.EQ: _number_any,
    Op.IN: _number_any,
    Op.NOT: _number_none,
    Op.NOT_IN: _number_none,
    Op.LT: lambda col, vs: col < vs[0],
    Op.LTE: lambda col, vs: col <= vs[0],
    Op.GT: lambda col, vs: col > vs[0],
    Op.GTE: lambda col, vs: col >= vs[0],
    Op.EMPTY: lambda col, vs: col.is_(None),
    Op.NOT_EMPTY: lambda col, vs: col.is_not(None),
    Op.ISNULL: lambda col, vs: col.is_(None) if vs[0] else col.is_not(None),
}


def _bool_any(col: Expr, values: list[Any]) -> Pred:
    # IS true / IS false: exact for NULL (a missing value is neither), and for derived expressions too.
    wanted = set(values)
    if not wanted:
        return false()
    return reduce(or_, [col.is_(v) for v in sorted(wanted)])


def _bool_none(col: Expr, values: list[Any]) -> Pred:
    wanted = set(values)
    if not wanted:
        return true()
    return reduce(and_, [col.is_not(v) for v in sorted(wanted)])


_BOOLEAN: dict[Op, NumberOp] = {
    Op.EQ: _bool_any,
    Op.IN: _bool_any,
    Op.NOT: _bool_none,
    Op.NOT_IN: _bool_none,
    Op.EMPTY: lambda col, vs: col.is_(None),
    Op.NOT_EMPTY: lambda col, vs: col.is_not(None),
    Op.ISNULL: lambda col, vs: col.is_(None) if vs[0] else col.is_not(None),
}

# ------------------------------------------------------------------------------------------- metadata


def _metadata(c: Condition, target: Target) -> Pred:
    assert c.metadata_key is not None and target.metadata is not None
    key = c.metadata_key
    values = [str(v) for v in c.values]
    if c.op in (Op.EQ, Op.IN) and target.metadata_tags is not None:
        return target.metadata_tags(key, values) if values else false()
    value = target.dialect.metadata_value(target.metadata, key)
    if c.op in (Op.ISNULL, Op.HAS_KEY):
        absent = bool(c.values[0]) if c.op is Op.ISNULL else not c.values[0]
        return value.is_(None) if absent else value.is_not(None)
    present = value.is_not(None)
    if c.op in (Op.EQ, Op.IN):
        return _number_any(value, values)
    if c.op in (Op.NOT, Op.NOT_IN):
        return and_(present, value.not_in(values)) if values else present
    if c.op is Op.EMPTY:
        return value == ""
    if c.op is Op.NOT_EMPTY:
        return and_(present, value != "")
    if c.op is Op.IEXACT:
        return func.lower(value) == values[0].lower()
    if c.op in _NUMBER:  # lt, lte, gt, gte: compared as strings (metadata values are strings)
        return _NUMBER[c.op](value, values)
    # Substring, prefix and suffix operators: the string ones, on rows that have the key.
    return and_(present, _STRING[c.op](target.dialect, value, values))


def no_value() -> Expr:
    """A field a logging server never fills (the gateway's error_class, cache_key, ...)."""
    return null()
