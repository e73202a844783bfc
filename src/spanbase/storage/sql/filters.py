"""Filter trees (domain/filters.py) -> SQLAlchemy expressions: every value a bound parameter.

One table of operators per kind of field (`_STRING`, `_NUMBER`, `_BOOLEAN`, `_METADATA`), each entry a
function of (column, values) -> condition. What differs between SQLite and PostgreSQL (case-sensitive
substring search, suffixes, reading one metadata key) sits in `Dialect`.

Semantics worth knowing (spec §12):
- a missing string is treated as "": `customer_identifier = ""` finds spans without a customer, and
  the negative operators (not, not_in, not_contains, ...) hold for it;
- a missing number or boolean equals no value, and the negative operators hold for it;
- a row without a metadata key never matches a condition on that key, not even a negative one
  (spec §12.4), except `isnull` / `has_key`, which test for the key;
- strings order by code point (lt, gt, ...) and fold case in ASCII only (iexact, icontains), the same on
  both stores: SQLite's BINARY collation and lower() do exactly that, PostgreSQL is told to (COLLATE "C").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any, assert_never

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    String,
    all_,
    and_,
    any_,
    bindparam,
    collate,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.types import ARRAY, TypeEngine

from spanbase.domain.filters import Condition, FieldType, Group, Node, Op, conditions

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

    def ordered(self, col: Expr) -> Expr:
        """A string as lt/gt compare it: by code point. PostgreSQL's default collation is the database's
        locale (en_US orders "a" < "B"), SQLite's is BINARY (code points, as UTF-8 bytes)."""
        if self.name == "sqlite":
            return col
        if self.name == "postgresql":
            return collate(col, "C")
        assert_never(self.name)  # type: ignore[arg-type]

    def folded(self, col: Expr) -> Expr:
        """A string with ASCII letters lower-cased, as the i* operators compare it (see ascii_lower).
        SQLite's lower() folds ASCII only; PostgreSQL's folds by the locale unless it is "C"."""
        return func.lower(self.ordered(col))

    def one_of(self, col: Expr, values: Sequence[Any], negate: bool = False) -> Pred:
        """col IN values (NOT IN when `negate`), non-empty values. A long list travels as one parameter:
        PostgreSQL takes at most 65535 per statement, and a span list sorted by cost repeats its filter
        once per day of its window."""
        if len(values) == 1:
            one = _bound(values[0])
            return col != one if negate else col == one
        if len(values) <= _INLINE_VALUES:
            listed = bindparam(None, list(values), type_=_sql_type(values), expanding=True)
            return col.not_in(listed) if negate else col.in_(listed)
        if self.name == "postgresql":
            kind = _sql_type(values)
            # psycopg sends a list of one Python type only: a mixed list of numbers goes as floats.
            listed_values = [float(v) for v in values] if isinstance(kind, Float) else list(values)
            array = bindparam(None, listed_values, type_=ARRAY(kind))
            return col != all_(array) if negate else col == any_(array)
        if self.name == "sqlite":
            each = func.json_each(bindparam(None, orjson.dumps(list(values)).decode(), type_=String())).table_valued(
                "value"
            )
            rows = select(each.c.value)
            return col.not_in(rows) if negate else col.in_(rows)
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
            return metadata.op("->>", return_type=String())(literal(key))
        if self.name == "sqlite":
            if _PLAIN_KEY.fullmatch(key):
                return func.json_extract(metadata, f'$."{key}"')
            # A JSON path cannot name every key (quotes, backslashes, some non-ASCII): ask json_each.
            each = func.json_each(metadata).table_valued("key", "value").alias("m")
            return each.select().with_only_columns(each.c.value).where(each.c.key == key).scalar_subquery()
        assert_never(self.name)  # type: ignore[arg-type]


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-.: /]+")
# Up to this many values an IN list is spelled out (the planner sees each value); past it, one parameter.
_INLINE_VALUES = 100
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(v: str) -> str:
    """A value folded the way Dialect.folded folds a column: "É" stays "É" on both sides."""
    return v.translate(_ASCII_LOWER)


def _sql_type(values: Sequence[Any]) -> TypeEngine[Any]:
    """The type values are bound with: a Python int as a BIGINT whatever the column (PostgreSQL casts a
    parameter to the column's type, and 2**40 overflows an INTEGER column), a fraction as a float (so
    status_code = 200.5 is not rounded to 200), a string as a string."""
    if all(isinstance(v, str) for v in values):
        return String()
    if all(isinstance(v, int) for v in values):
        return BigInteger()
    return Float()


def _bound(v: Any) -> Expr:
    return literal(v, _sql_type([v]))


@dataclass(frozen=True)
class Target:
    """What a view's filters compile against.

    `columns` maps each field's column key (query/fields.py) to an expression. `metadata`, when the view
    has metadata, is the JSON column; `metadata_tags(key, values, per_row)`, when the view has a metadata
    index, gives a condition for "key is one of values" read from it (`per_row`: a lookup the planner
    must run for each row, see _MAX_SEMI_JOINS). `spans_match(pred)`, on views of traces,
    wraps a condition on one span into "some span of the trace matches"; `span_target` is what such a
    condition compiles against.
    """

    dialect: Dialect
    columns: Mapping[str, Expr]
    metadata: Expr | None = None
    metadata_tags: Callable[[str, Sequence[str], bool], Pred] | None = None
    span_level: frozenset[str] = frozenset()
    spans_match: Callable[[Pred], Pred] | None = None
    span_target: Target | None = None
    # Fields with a faster way to compile an operator than the generic one (unique_id = ...); None from
    # one means "compile this condition the generic way".
    special: Mapping[tuple[str, Op], Callable[[Condition], Pred | None]] | None = None
    tags_per_row: bool = False


# PostgreSQL turns each metadata-index lookup (an EXISTS) into a semi-join, and plans joins in a time
# that grows much faster than their number: fifty equalities on metadata took 25 s to plan in a cost-
# sorted list (a branch a day). Past a few, the lookups are kept row by row, planned in no time.
_MAX_SEMI_JOINS = 4


def compile_filter(node: Node | None, target: Target) -> Pred:
    lookups = sum(1 for c in conditions(node) if c.type is FieldType.METADATA and c.op in (Op.EQ, Op.IN))
    if lookups > _MAX_SEMI_JOINS:
        target = _tags_per_row(target)
    return _compile(node, target)


def _tags_per_row(target: Target) -> Target:
    inner = _tags_per_row(target.span_target) if target.span_target is not None else None
    return replace(target, tags_per_row=True, span_target=inner)


def _compile(node: Node | None, target: Target) -> Pred:
    if node is None:
        return true()
    if isinstance(node, Group):
        preds = [_compile(item, target) for item in node.items]
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
        pred = target.special[(c.field, c.op)](c)
        if pred is not None:
            return pred
    if c.type is FieldType.METADATA:
        return _metadata(c, target)
    col = target.columns[c.field]
    values = list(c.values)
    if c.type is FieldType.STRING:
        return _STRING[c.op](target.dialect, col, values)
    if c.type is FieldType.BOOLEAN:
        return _BOOLEAN[c.op](col, values)
    return _NUMBER[c.op](target.dialect, col, values)  # numbers, integers and times (epoch microseconds)


# ------------------------------------------------------------------------------------------- strings


def _any_of(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    if not values:
        return false()
    found = d.one_of(col, values)
    return or_(found, col.is_(None)) if "" in values else found


def _none_of(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    if not values:
        return true()
    found = d.one_of(col, values, negate=True)
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
    return d.contains(d.folded(col), ascii_lower(v))


def _iexact(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    return _blank(col) if values[0] == "" else d.folded(col) == ascii_lower(values[0])


# Order comparisons of strings, a missing string being "" (as everywhere else, and as in the rollups,
# where "" stands for no customer: the count of a page must agree with its rows): "" comes before every
# other string, so it is below any non-empty bound and never above one.
def _less(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    return false() if values[0] == "" else or_(col.is_(None), d.ordered(col) < values[0])


def _less_or_equal(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    return or_(col.is_(None), d.ordered(col) <= values[0])


def _greater(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    v: str = values[0]
    return d.ordered(col) > v


def _greater_or_equal(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    return true() if values[0] == "" else d.ordered(col) >= values[0]


StringOp = Callable[[Dialect, Expr, list[Any]], Pred]
_STRING: dict[Op, StringOp] = {
    Op.EQ: _any_of,
    Op.IN: _any_of,
    Op.NOT: _none_of,
    Op.NOT_IN: _none_of,
    Op.IEXACT: _iexact,
    Op.LT: _less,
    Op.LTE: _less_or_equal,
    Op.GT: _greater,
    Op.GTE: _greater_or_equal,
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


def _number_any(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    return d.one_of(col, values) if values else false()


def _number_none(d: Dialect, col: Expr, values: list[Any]) -> Pred:
    return or_(col.is_(None), d.one_of(col, values, negate=True)) if values else true()


NumberOp = Callable[[Dialect, Expr, list[Any]], Pred]
_NUMBER: dict[Op, NumberOp] = {
    Op.EQ: _number_any,
    Op.IN: _number_any,
    Op.NOT: _number_none,
    Op.NOT_IN: _number_none,
    Op.LT: lambda d, col, vs: col < _bound(vs[0]),
    Op.LTE: lambda d, col, vs: col <= _bound(vs[0]),
    Op.GT: lambda d, col, vs: col > _bound(vs[0]),
    Op.GTE: lambda d, col, vs: col >= _bound(vs[0]),
    Op.EMPTY: lambda d, col, vs: col.is_(None),
    Op.NOT_EMPTY: lambda d, col, vs: col.is_not(None),
    Op.ISNULL: lambda d, col, vs: col.is_(None) if vs[0] else col.is_not(None),
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


BooleanOp = Callable[[Expr, list[Any]], Pred]
_BOOLEAN: dict[Op, BooleanOp] = {
    Op.EQ: _bool_any,
    Op.IN: _bool_any,
    Op.NOT: _bool_none,
    Op.NOT_IN: _bool_none,
    Op.EMPTY: lambda col, vs: col.is_(None),
    Op.NOT_EMPTY: lambda col, vs: col.is_not(None),
    Op.ISNULL: lambda col, vs: col.is_(None) if vs[0] else col.is_not(None),
}

# ------------------------------------------------------------------------------------------- metadata

# Order comparisons of a metadata value: as strings, by code point (metadata values are strings).
_METADATA_ORDER: dict[Op, Callable[[Expr, str], Pred]] = {
    Op.LT: lambda value, v: value < v,
    Op.LTE: lambda value, v: value <= v,
    Op.GT: lambda value, v: value > v,
    Op.GTE: lambda value, v: value >= v,
}


def _metadata(c: Condition, target: Target) -> Pred:
    assert c.metadata_key is not None and target.metadata is not None
    d = target.dialect
    key = c.metadata_key
    values = [str(v) for v in c.values]
    if c.op in (Op.EQ, Op.IN) and target.metadata_tags is not None and not key.startswith("_"):  # see tags_for
        return target.metadata_tags(key, values, target.tags_per_row) if values else false()
    value = d.metadata_value(target.metadata, key)
    if c.op in (Op.ISNULL, Op.HAS_KEY):
        absent = bool(c.values[0]) if c.op is Op.ISNULL else not c.values[0]
        return value.is_(None) if absent else value.is_not(None)
    present = value.is_not(None)
    if c.op in (Op.EQ, Op.IN):
        return _number_any(d, value, values)
    if c.op in (Op.NOT, Op.NOT_IN):
        return and_(present, d.one_of(value, values, negate=True)) if values else present
    if c.op is Op.EMPTY:
        return value == ""
    if c.op is Op.NOT_EMPTY:
        return and_(present, value != "")
    if c.op is Op.IEXACT:
        return d.folded(value) == ascii_lower(values[0])
    if c.op in _METADATA_ORDER:
        return _METADATA_ORDER[c.op](d.ordered(value), values[0])
    # Substring, prefix and suffix operators: the string ones, on rows that have the key.
    return and_(present, _STRING[c.op](d, value, values))


def no_value() -> Expr:
    """A field a logging server never fills (the gateway's error_class, cache_key, ...)."""
    return null()
