"""What a read asks for, in plain types: whose rows, which time window, which filter, sort and page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from spanbase.domain.filters import Node

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose rows a read may see: one organization, and one or both of its environments (spec §13.9)."""

    org_id: int
    environments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Window:
    """A closed time window in epoch microseconds: start <= t <= end."""

    start_us: int
    end_us: int


@dataclass(frozen=True, slots=True)
class Sort:
    field: str
    descending: bool


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int  # 1-based
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True, slots=True)
class ListQuery:
    scope: Scope
    filter: Node | None
    sort: Sort
    page: PageRequest
    window: Window | None = None
    # Fields a row should carry; None means all. Lets a list skip the payloads when it needs no content.
    fields: frozenset[str] | None = None


DATE_GROUPS = ("hour", "day", "week", "month")
GroupKey = tuple[Any, int | None]  # (the group's value, the start of its date bucket)


@dataclass(frozen=True)
class AggregateQuery:
    scope: Scope
    window: Window
    filter: Node | None = None
    group_by: str | None = None  # a span column key (query/fields.py names), None for one group
    date_group: str | None = None  # one of DATE_GROUPS


@dataclass(slots=True)
class Page(Generic[T]):
    total: int
    rows: list[T] = field(default_factory=list)
