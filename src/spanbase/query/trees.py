"""Span trees: a trace's spans nested under their parents (spec §3.2, §13.6), and their JSON.

Spans arrive in any order and in several requests, so the tree is built when read: a span whose parent
is not (yet) stored is a root, and a cycle of parents (hostile or broken data) is broken at one of its
spans, which becomes a root, so that every span of the trace appears exactly once. Siblings are in start
order.
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
    reached = _reached(roots)
    if len(reached) < len(ordered):
        # What no root reaches hangs off a cycle of parents. Each cycle is broken at one of its own spans
        # (the first to start), which becomes a root: the spans hanging off the cycle stay under their
        # parents, and the whole group is reached from there.
        rank = {id(s): i for i, s in enumerate(ordered)}
        for s in ordered:
            if id(s) in reached:
                continue
            head = _cycle_head(s, by_id, rank)
            parent = by_id[head["span_parent_id"]]
            parent["children"] = [c for c in parent["children"] if c is not head]
            roots.append(head)
            reached |= _reached([head])
        roots.sort(key=lambda s: rank[id(s)])
    return roots


def _reached(roots: Sequence[Node]) -> set[int]:
    """The ids (id()) of the nodes under `roots`, themselves included."""
    reached: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        reached.add(id(node))
        stack.extend(node["children"])
    return reached


def _cycle_head(node: Node, by_id: dict[str, Node], rank: dict[int, int]) -> Node:
    """The first-starting span of the cycle that `node`'s chain of parents runs into (every span on an
    unreached chain has its parent stored, so the chain must loop)."""
    path: list[Node] = []
    on_path: set[int] = set()
    while id(node) not in on_path:
        on_path.add(id(node))
        path.append(node)
        node = by_id[node["span_parent_id"]]
    first = next(i for i, n in enumerate(path) if n is node)
    return min(path[first:], key=lambda n: rank[id(n)])


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
