"""A definition's steps as a graph for the Definitions page: bodies nested in their containers.

A :class:`~wfe_core.WorkflowDefinition` is a list of steps; each step's ``outcomes`` are its
edges to the next step and a container's ``children`` are the first steps of its bodies.
:func:`definition_graph` walks that into :class:`GraphNode` chains (one chain per body, steps in
the order their edges run) that the template draws as boxes with arrows, a container holding its
bodies side by side. An edge that is not simply "then the next box" (a jump back, a routed
outcome) is kept as a labelled edge on its step. :mod:`wfe.ui._app` calls it.
"""

from __future__ import annotations

from typing import Any

import attrs

from wfe_core import NO_VALUE, WorkflowDefinition, WorkflowStep

#: What each built-in primitive is called on the page (others show their class or function name).
KINDS = {
    "_Start": "start",
    "Sequence": "parallel",
    "Saga": "saga",
    "If": "if",
    "While": "while",
    "Foreach": "for each",
    "OutcomeSwitch": "decide",
    "When": "when",
    "Decide": "decide",
    "Delay": "delay",
    "WaitFor": "wait for event",
    "Schedule": "schedule",
    "Recur": "recur",
    "EndStep": "end",
    "SubWorkflow": "sub-workflow",
}


@attrs.define
class Edge:
    """An edge drawn as text: to step ``target`` (its name), taken when ``label`` holds."""

    target: int
    target_name: str
    label: str


@attrs.define
class GraphNode:
    """One step with its bodies (each a chain of nodes) and the edges the layout cannot show."""

    id: int
    name: str
    kind: str
    compensated_by: str | None = None
    bodies: list[list[GraphNode]] = attrs.field(factory=list)
    edges: list[Edge] = attrs.field(factory=list)


def _kind(step: WorkflowStep) -> str:
    body = step.body
    name = body.__name__ if isinstance(body, type) else type(body).__name__
    if step.is_primitive or name in KINDS:
        return KINDS.get(name, name)
    return "step"


def _name(step: WorkflowStep) -> str:
    if step.name:
        return step.name
    body = step.body
    return str(getattr(body, "__qualname__", None) or type(body).__qualname__)


def _label(value: Any) -> str:
    return "" if value is NO_VALUE else f"when {value!r}"


def definition_graph(definition: WorkflowDefinition) -> list[GraphNode]:
    """The top-level chain of ``definition`` (from step 0), bodies nested in their containers.

    Iterative, so a definition of thousands of steps draws without deep recursion; every step
    reachable from step 0 appears once (a step already drawn is only named by an edge).
    """
    steps = {s.id: s for s in definition.steps}
    compensations = {s.compensation_step_id for s in steps.values() if s.compensation_step_id is not None}
    drawn: set[int] = set()
    top: list[GraphNode] = []
    # (first step of a chain, the list the chain's nodes go into)
    work: list[tuple[int, list[GraphNode]]] = [(0, top)] if 0 in steps else []
    while work:
        first, chain = work.pop()
        current: int | None = first
        while current is not None and current in steps and current not in drawn:
            step = steps[current]
            drawn.add(current)
            node = GraphNode(step.id, _name(step), _kind(step))
            if step.compensation_step_id is not None and step.compensation_step_id in steps:
                node.compensated_by = _name(steps[step.compensation_step_id])
            chain.append(node)
            for child in step.children:
                body: list[GraphNode] = []
                node.bodies.append(body)
                work.append((child, body))
            following: int | None = None
            for outcome in step.outcomes:
                target = outcome.next_step
                plain = outcome.value is NO_VALUE and outcome.label is None
                if plain and following is None and target not in drawn:
                    following = target  # drawn as the next box of this chain
                    continue
                name = _name(steps[target]) if target in steps else f"step {target}"
                node.edges.append(Edge(target, name, outcome.label or _label(outcome.value) or "then"))
            current = following
    # Compensation steps and anything else not reachable through edges or bodies.
    rest = [s for s in steps.values() if s.id not in drawn and s.id not in compensations]
    for step in rest:
        top.append(GraphNode(step.id, _name(step), _kind(step)))
    return top
