"""The step tree of ``wfe show``: a workflow's execution pointers nested by scope.

A pointer's ``scope`` lists its enclosing container pointers innermost first, so its parent in
the tree is ``scope[0]`` (none: the workflow's top level). Within one parent, pointers are
listed chain by chain: a branch starts at a pointer whose predecessor is not a sibling (the first
step of a body, one item of a ``for_each``, one ``parallel`` branch) and goes on through the
siblings that follow it, so concurrent branches do not interleave. A step waiting on an activity
or a person says so (``ExternalWait.summary``: the activity and whether a worker holds it; the
prompt, assignee and options). :mod:`wfe._cli_commands`
calls :func:`step_tree` and :func:`print_tree`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import attrs

from wfe_core import ExternalWait
from wfe_core.models import ExecutionPointer, PointerStatus

from ._cli_output import Output, clock


@attrs.define
class StepNode:
    """One pointer in the tree, with the pointers of its bodies under it."""

    pointer: ExecutionPointer
    item: Any = None  # the for_each item this branch runs for, on the branch's first pointer
    #: What it waits on outside the engine (an activity or a person), if anything.
    wait: ExternalWait | None = None
    children: list[StepNode] = attrs.field(factory=list)

    def waits_for(self, runnable: bool, now: datetime | None = None) -> str:
        """The activity, person or event this step waits for, or the time it sleeps (or
        retries) until (``now``: the time an escalation is judged by)."""
        p = self.pointer
        if p.end_time is not None:
            return ""
        if self.wait is not None:
            return self.wait.summary(now or datetime.now(UTC))
        if p.status is PointerStatus.WAITING_FOR_EVENT or (p.event_name and not p.event_published):
            return f"event {p.event_name!r} key {p.event_key!r}"
        if p.sleep_until is None:
            return ""
        if p.status is PointerStatus.FAILED:
            # A suspended workflow retries when resumed, not at the time still stored.
            return f"retry at {clock(p.sleep_until)}" if runnable else "retry when resumed"
        return f"sleeps until {clock(p.sleep_until)}"

    def to_json(self) -> dict[str, Any]:
        p = self.pointer
        return {
            "id": p.id,
            "step_id": p.step_id,
            "name": p.step_name,
            "status": p.status.value,
            "retries": p.retry_count,
            "start_time": p.start_time,
            "end_time": p.end_time,
            "event_name": p.event_name,
            "event_key": p.event_key,
            "sleep_until": p.sleep_until,
            "item": self.item,
            "waits_on": _wait_json(self.wait),
            "children": [c.to_json() for c in self.children],
        }


def _wait_json(wait: ExternalWait | None) -> dict[str, Any] | None:
    if wait is None:
        return None
    fields = attrs.asdict(wait, recurse=False)
    fields["options"] = list(wait.options)
    return fields


def step_tree(
    pointers: Iterable[ExecutionPointer], waits: Iterable[ExternalWait] = ()
) -> list[StepNode]:
    """The top-level nodes of the tree of ``pointers`` (given in creation order), each waiting
    one with its wait among ``waits`` (``host.get_external_waits``)."""
    by_pointer = {w.pointer_id: w for w in waits}
    nodes = {p.id: StepNode(p, wait=by_pointer.get(p.id)) for p in pointers}
    by_parent: dict[str | None, list[StepNode]] = {}
    for node in nodes.values():
        scope = node.pointer.scope[0] if node.pointer.scope else None
        by_parent.setdefault(scope if scope in nodes else None, []).append(node)
    for parent_id, siblings in by_parent.items():
        parent = nodes[parent_id] if parent_id is not None else None
        ordered = _chains(siblings)
        ids = {s.pointer.id for s in siblings}
        for node in ordered:
            item = node.pointer.context_item
            is_head = node.pointer.predecessor_id not in ids
            if is_head and item is not None and (parent is None or parent.pointer.context_item != item):
                node.item = item
        if parent is None:
            by_parent[None] = ordered
        else:
            parent.children = ordered
    return by_parent.get(None, [])


def _chains(siblings: list[StepNode]) -> list[StepNode]:
    """``siblings`` ordered chain by chain (see the module docstring), without recursion:
    a body that ran ten thousand steps in sequence is a chain ten thousand long."""
    ids = {s.pointer.id for s in siblings}
    followers: dict[str, list[StepNode]] = {}
    heads = []
    for node in siblings:
        predecessor = node.pointer.predecessor_id
        if predecessor in ids and predecessor != node.pointer.id:
            followers.setdefault(predecessor, []).append(node)
        else:
            heads.append(node)
    ordered: list[StepNode] = []
    seen: set[str] = set()
    stack = list(reversed(heads))
    while stack:
        node = stack.pop()
        if node.pointer.id in seen:
            continue
        seen.add(node.pointer.id)
        ordered.append(node)
        stack.extend(reversed(followers.get(node.pointer.id, [])))
    # A cycle of predecessors cannot happen, but a pointer is never dropped for it.
    ordered.extend(s for s in siblings if s.pointer.id not in seen)
    return ordered


def print_tree(
    out: Output, roots: list[StepNode], *, runnable: bool, now: datetime | None = None
) -> None:
    """The tree as an aligned table, each body indented two spaces under its container
    (``runnable``: the workflow's status is runnable)."""
    rows: list[tuple[int, StepNode]] = []
    stack = [(0, node) for node in reversed(roots)]
    while stack:
        depth, node = stack.pop()
        rows.append((depth, node))
        stack.extend((depth + 1, child) for child in reversed(node.children))
    headers = ("STEP", "STATUS", "RETRIES", "STARTED (UTC)", "ENDED (UTC)", "WAITS FOR")
    table = []
    for depth, node in rows:
        p = node.pointer
        name = p.step_name or f"step {p.step_id}"
        if node.item is not None:
            name += f" [item {node.item!r}]"
        table.append((
            "  " * depth + name, p.status.value, str(p.retry_count),
            clock(p.start_time), clock(p.end_time), node.waits_for(runnable, now),
        ))
    out.table(headers, table, status_column=1)
