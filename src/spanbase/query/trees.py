"""Span trees: a trace's spans nested under their parents (spec §3.2, §13.6), and their JSON.

Spans arrive in any order and in several requests, so the tree is built when read: a span whose parent
is not (yet) stored is a root, and so is a span caught in a cycle of parents (hostile or broken data),
so that every span of the trace appears exactly once. Siblings are in start order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

Node = dict[str, Any]


def build_tree(spans: Sequence[Node], start_key: str = "start_time_us") -> list[Node]:
    """The root nodes of `spans` (dicts with span_unique_id, span_parent_id), each given "children"."""
    ordered = sorted(spans, key=lambda s: (s.get(start_key) or 0, s.get("id") or 0))
    by_id: dict[str, Node] = {}
    for s in ordered:
        sid = s.get("span_unique_id")
        if sid and sid not in by_id:
            by_id[sid] = s
        s["children"] = []
    roots: list[Node] = []
    for s in ordered:
        parent = by_id.get(s.get("span_parent_id") or "")
        if parent is None or parent is s:
            roots.append(s)
        else:
            parent["children"].append(s)
    # A cycle of parents has no root: whatever was not reached from a root becomes one.
    reached: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        reached.add(id(node))
        stack.extend(node["children"])
    if len(reached) < len(ordered):
        for s in ordered:
            if id(s) not in reached:
                s_parent = by_id.get(s.get("span_parent_id") or "")
                if s_parent is not None:
                    s_parent["children"] = [c for c in s_parent["children"] if c is not s]
                roots.append(s)
                stack = [s]
                while stack:
                    node = stack.pop()
                    reached.add(id(node))
                    stack.extend(c for c in node["children"] if id(c) not in reached)
        roots.sort(key=lambda s: (s.get(start_key) or 0, s.get("id") or 0))
    return roots


def tree_json(roots: Sequence[Node], render: Callable[[Node], dict[str, Any]]) -> bytes:
    """The JSON array of `roots`, each node rendered by `render` with its "children" nested.

    Written without recursion: a trace can nest thousands of levels deep, past what orjson (255 levels)
    or any recursive encoder takes.
    """
    out: list[bytes] = [b"["]
    # Each stack entry: the nodes left to write at one level, and whether one was written there yet.
    stack: list[tuple[list[Node], list[bool]]] = [(list(reversed(roots)), [False])]
    while stack:
        pending, started = stack[-1]
        if not pending:
            stack.pop()
            out.append(b"]}" if stack else b"]")
            continue
        node = pending.pop()
        if started[0]:
            out.append(b",")
        started[0] = True
        head = orjson.dumps(render(node), option=orjson.OPT_NON_STR_KEYS)
        out.append(head[:-1] + (b',"children":[' if head != b"{}" else b'"children":['))
        stack.append((list(reversed(node["children"])), [False]))
    return b"".join(out)
