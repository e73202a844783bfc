"""The filters language as a tree (spec §12): what query/filters.py parses a request into, and what the
storage layer compiles to SQL. Plain data: no parsing here, no SQL.

A Condition names a canonical field (aliases already resolved) and a canonical operator, with its values
already typed for the field (numbers as int/float, times as epoch microseconds, booleans as bool).
A Group joins its items left to right: item i is joined to item i+1 by `joins[i]` ("AND" or "OR"), so
`a AND b OR c` is `(a AND b) OR c`, which is how a rule's `connector` reads ("how to connect this rule
with the next one").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Connector = Literal["AND", "OR"]


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    TIME = "time"  # values are epoch microseconds
    METADATA = "metadata"  # metadata__<key>: a string map, compared as strings


class Op(StrEnum):
    """The canonical operators; query/filters.py maps every documented spelling onto these."""

    EQ = "eq"  # "" = == eq equals: any of the values
    IEXACT = "iexact"
    NOT = "not"  # none of the values
    IN = "in"
    NOT_IN = "not_in"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    ICONTAINS = "icontains"
    STARTSWITH = "startswith"
    NOT_STARTSWITH = "not_startswith"
    ENDSWITH = "endswith"
    NOT_ENDSWITH = "not_endswith"
    EMPTY = "empty"
    NOT_EMPTY = "not_empty"
    ISNULL = "isnull"
    HAS_KEY = "has_key"  # metadata only: the key is present (value true) or absent (false)


# Operators that hold for a row when none of the values matches: they also hold for a missing value
# (except on metadata, where a row without the key never matches, spec §12.4).
NEGATIVE_OPS = frozenset({Op.NOT, Op.NOT_IN, Op.NOT_CONTAINS, Op.NOT_STARTSWITH, Op.NOT_ENDSWITH})


@dataclass(frozen=True, slots=True)
class Condition:
    field: str  # canonical field name; for metadata the whole "metadata__<key>"
    type: FieldType
    op: Op
    values: tuple[object, ...]
    metadata_key: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    items: tuple[Node, ...]
    joins: tuple[Connector, ...]  # len(items) - 1 connectors


Node = Condition | Group


def conditions(node: Node | None) -> list[Condition]:
    """Every condition of a tree, in order."""
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    out: list[Condition] = []
    for item in node.items:
        out.extend(conditions(item))
    return out


def only_and(node: Node | None) -> bool:
    """True when the tree is a plain conjunction (no OR anywhere)."""
    if node is None or isinstance(node, Condition):
        return True
    return all(j == "AND" for j in node.joins) and all(only_and(i) for i in node.items)


def without(node: Node | None, target: Condition) -> Node | None:
    """The tree less one condition of a plain conjunction (the one a query meets another way)."""
    if node is None or node is target:
        return None
    if isinstance(node, Condition):
        return node
    items = [i for i in (without(item, target) for item in node.items) if i is not None]
    if not items:
        return None
    return items[0] if len(items) == 1 else Group(tuple(items), tuple(["AND"] * (len(items) - 1)))
