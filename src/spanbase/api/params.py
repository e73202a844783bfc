"""The query parameters and bodies of the read endpoints, parsed and checked: pages, sorts, time
windows, environments, filters (spec §1.3, §1.4, §13.9). Every problem is a 400 naming the parameter."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import QueryParams

from spanbase.domain.errors import BadRequest, TooLarge
from spanbase.domain.filters import Condition, FieldType, Group, Node, Op
from spanbase.domain.keys import Principal
from spanbase.domain.queries import PageRequest, Scope, Sort, Window
from spanbase.domain.spans import ENVIRONMENTS
from spanbase.query.fields import View
from spanbase.query.filters import parse_filters, parse_time

HOUR_US = 3_600_000_000
# A list or summary body holds filters only: a megabyte of them is far past any real one (spec §1.5: 413).
MAX_QUERY_BODY = 1 << 20
_TRUE = ("true", "1", "yes")


def page(params: QueryParams, max_size: int, default_size: int) -> PageRequest:
    return PageRequest(
        _int(params, "page", 1, minimum=1, maximum=10**9),
        _int(params, "page_size", default_size, minimum=1, maximum=max_size),
    )


def _int(params: QueryParams, name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: {raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name}: must be between {minimum} and {maximum}, not {value}")
    return value


def sort(params: QueryParams, view: View) -> Sort:
    raw = (params.get("sort_by") or view.default_sort).strip()
    descending = raw.startswith("-")
    name = raw.lstrip("-+")
    column = view.sort_column(name)
    if column is None:
        raise BadRequest(f"sort_by: cannot sort {view.name} by {name!r}")
    return Sort(column, descending)


_SPACED_OFFSET = re.compile(r"(T[0-9:.]+) ([0-9]{2}:?[0-9]{2})$")


def _time_param(params: QueryParams, name: str) -> int:
    # "2026-01-01T00:00:00+00:00" pasted into a URL unencoded arrives with a space for the "+".
    return parse_time(name, _SPACED_OFFSET.sub(r"\1+\2", params[name].strip()))


def window(params: QueryParams, now_us: int | None = None) -> Window:
    """start_time/end_time (ISO 8601); by default the hour before end_time, which defaults to now."""
    now = now_us if now_us is not None else time.time_ns() // 1000
    end = _time_param(params, "end_time") if params.get("end_time") else now
    start = _time_param(params, "start_time") if params.get("start_time") else end - HOUR_US
    if start > end:
        raise BadRequest("start_time: must not be after end_time")
    return Window(start, end)


def optional_window(params: QueryParams) -> Window | None:
    if not params.get("start_time") and not params.get("end_time"):
        return None
    return window(params)


def scope(params: QueryParams, principal: Principal) -> Scope:
    """The key's organization and environment, or the environment the request names (spec §13.9)."""
    env = params.get("environment")
    if env:
        if env not in ENVIRONMENTS:
            raise BadRequest(f"environment: must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
        return Scope(principal.org_id, (env,))
    if (params.get("all_envs") or "").lower() in _TRUE:
        return Scope(principal.org_id, ENVIRONMENTS)
    is_test = params.get("is_test")
    if is_test:
        return Scope(principal.org_id, ("test",) if is_test.lower() in _TRUE else ("prod",))
    return Scope(principal.org_id, (principal.environment,))


def fields(params: QueryParams) -> frozenset[str] | None:
    raw = params.get("include_fields")
    if not raw:
        return None
    return frozenset(f.strip() for f in raw.split(",") if f.strip())


def and_log_type(filter: Node | None, params: QueryParams) -> Node | None:
    """The list endpoint's `log_type` query parameter (spec §2.3), as one more condition."""
    log_type = params.get("log_type")
    if not log_type:
        return filter
    condition = Condition("log_type", FieldType.STRING, Op.EQ, (log_type,))
    return condition if filter is None else Group((condition, filter), ("AND",))


@dataclass(frozen=True)
class QueryBody:
    filters: Node | None
    raw: dict[str, Any]


def body(raw: bytes, view: View) -> QueryBody:
    """A read request's JSON body: {"filters": ..., "operator": "AND"|"OR"}; empty means no filter."""
    if len(raw) > MAX_QUERY_BODY:
        raise TooLarge(f"the request body is over the {MAX_QUERY_BODY} byte limit of a query")
    if not raw.strip():
        return QueryBody(None, {})
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"Malformed JSON: {e}") from None
    if data is None:
        return QueryBody(None, {})
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return QueryBody(parse_filters(data.get("filters"), view, data.get("operator")), data)
