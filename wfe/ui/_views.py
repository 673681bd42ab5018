"""What each dashboard page shows, read from a host: the data its template renders.

Kept apart from the HTTP handling in :mod:`wfe.ui._app` (which calls these) so that a page's
content is plain data: filters parsed from a query, the counts per status, a workflow's step
tree and timeline, its sub-workflows both ways, a definition's instance counts. Workflow values
are passed on as they are; the templates escape them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from wfe._cli_output import clock, jsonable
from wfe._cli_tree import StepNode, step_tree
from wfe_core import (
    WORKFLOW_ENDED_EVENT,
    ExternalWait,
    WorkflowDefinition,
    WorkflowHost,
    WorkflowStatus,
)
from wfe_core.errors import WorkflowNotFoundError
from wfe_core.models import WorkflowInstance
from wfe_core.serialization import decode_data

#: Workflows per page of the list.
PAGE_SIZE = 25
#: Instances of one definition read to count them by version; past it the page says so.
VERSION_SCAN_LIMIT = 2000


class BadFilter(ValueError):
    """A query parameter the list cannot use; the message says what to give."""


@attrs.frozen
class Filters:
    """The list's filters, as given in the page's query string."""

    terms: str = ""
    status: WorkflowStatus | None = None
    definition_id: str | None = None
    reference: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    skip: int = 0

    def search_args(self, *, with_status: bool = True) -> dict[str, Any]:
        return {
            "status": self.status if with_status else None,
            "definition_id": self.definition_id,
            "reference": self.reference,
            "created_after": self.created_after,
            "created_before": self.created_before,
        }

    def query(self, **changes: Any) -> dict[str, str]:
        """The query string that gives these filters (with ``changes``), for links."""
        values = {
            "q": self.terms,
            "status": self.status.value if self.status else "",
            "definition": self.definition_id or "",
            "reference": self.reference or "",
            "after": self.created_after.isoformat() if self.created_after else "",
            "before": self.created_before.isoformat() if self.created_before else "",
            "skip": str(self.skip) if self.skip else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and v != "0"}


def _time(name: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadFilter(
            f"{name}={text!r} is not a date or time; give one such as 2025-01-31 or 2025-01-31T12:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_filters(query: Mapping[str, str]) -> Filters:
    """The filters in a list page's query (``q``, ``status``, ``definition``, ``reference``,
    ``after``, ``before``, ``skip``); empty values mean no filter.

    Raises:
        BadFilter: an unknown status, a malformed time or a negative or non-numeric skip.
    """
    status_text = query.get("status", "").strip()
    try:
        status = WorkflowStatus(status_text) if status_text else None
    except ValueError:
        allowed = ", ".join(s.value for s in WorkflowStatus)
        raise BadFilter(f"status={status_text!r} is not a status; give one of {allowed}") from None
    skip_text = query.get("skip", "").strip() or "0"
    if not skip_text.isdigit():
        raise BadFilter(f"skip={skip_text!r} is not a whole number of 0 or more")
    return Filters(
        terms=query.get("q", "").strip(),
        status=status,
        definition_id=query.get("definition", "").strip() or None,
        reference=query.get("reference", "").strip() or None,
        created_after=_time("after", query.get("after", "").strip()),
        created_before=_time("before", query.get("before", "").strip()),
        skip=int(skip_text),
    )


async def status_counts(host: WorkflowHost, filters: Filters) -> dict[str, int]:
    """How many workflows the filters (all but the status) find in each status."""
    counts = {}
    for status in WorkflowStatus:
        args = filters.search_args(with_status=False)
        page = await host.search(filters.terms, **{**args, "status": status}, take=0)
        counts[status.value] = page.total
    return counts


def pretty(value: Any) -> str:
    """Workflow data as indented JSON text (times and objects as JSON can hold them)."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False, sort_keys=False)


@attrs.define
class StepRow:
    """One line of a workflow's step tree and timeline."""

    depth: int
    node: StepNode
    name: str
    attempts: int
    started: str
    ended: str
    duration: str
    waits_for: str
    output: str | None
    bar_left: float = 0.0
    bar_width: float = 0.0


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def _output(extension: Mapping[str, Any]) -> str | None:
    """What a shell step printed (the YAML frontend keeps it as ``output``), as text."""
    output = extension.get("output")
    if output is None:
        return None
    if isinstance(output, list | tuple):
        return "\n".join(str(line) for line in output)
    return str(output)


def step_rows(
    instance: WorkflowInstance, now: datetime, waits: Iterable[ExternalWait] = ()
) -> list[StepRow]:
    """The step tree, depth first, each row with its place on the timeline (in % of its width);
    a step waiting on an activity or a person says so (``waits``: ``host.get_external_waits``)."""
    runnable = instance.status is WorkflowStatus.RUNNABLE
    rows: list[StepRow] = []
    stack = [(0, node) for node in reversed(step_tree(instance.execution_pointers, waits))]
    while stack:
        depth, node = stack.pop()
        p = node.pointer
        name = p.step_name or f"step {p.step_id}"
        if node.item is not None:
            name += f" [item {node.item!r}]"
        rows.append(StepRow(
            depth=depth, node=node, name=name,
            attempts=p.retry_count + 1 if p.start_time else p.retry_count,
            started=clock(p.start_time), ended=clock(p.end_time),
            duration=_duration(p.start_time, p.end_time or (now if p.start_time and runnable else None)),
            waits_for=node.waits_for(runnable, now), output=_output(p.extension_attributes),
        ))
        stack.extend((depth + 1, child) for child in reversed(node.children))
    # The timeline spans from the workflow's creation to its end (or now, or the last step end).
    begin = instance.create_time
    ends = [r.node.pointer.end_time for r in rows if r.node.pointer.end_time]
    finish = instance.complete_time or (now if runnable else max(ends, default=now))
    span = max((finish - begin).total_seconds(), 1e-3)
    for row in rows:
        p = row.node.pointer
        if p.start_time is None:
            continue
        stop = p.end_time or (now if runnable else finish)
        left = max(0.0, min(100.0, (p.start_time - begin).total_seconds() / span * 100))
        width = max(0.0, (stop - p.start_time).total_seconds() / span * 100)
        row.bar_left, row.bar_width = round(left, 2), round(max(0.4, min(width, 100.0 - left)), 2)
    return rows


@attrs.define
class WorkflowPage:
    instance: WorkflowInstance
    data: str
    rows: list[StepRow]
    errors: list[dict[str, Any]]
    parent: WorkflowInstance | None
    parent_id: str | None
    children: list[tuple[str, WorkflowInstance | None]]
    #: What its steps wait on outside the engine, each with its one-line summary.
    waits: list[tuple[ExternalWait, str]] = attrs.field(factory=list)


async def _find(host: WorkflowHost, workflow_id: str) -> WorkflowInstance | None:
    try:
        return await host.persistence.get_workflow(workflow_id)
    except WorkflowNotFoundError:
        return None


async def workflow_page(host: WorkflowHost, workflow_id: str) -> WorkflowPage:
    """One workflow with its rows, errors and sub-workflows.

    Raises:
        WorkflowNotFoundError: no workflow has this id.
    """
    instance = await host.persistence.get_workflow(workflow_id)
    errors = await host.get_execution_errors(workflow_id)
    pointers = instance.execution_pointers
    error_rows = [
        {
            "time": clock(e.error_time),
            "step": (p.step_name if (p := pointers.get(e.execution_pointer_id)) else None)
            or (f"step {e.step_id}" if e.step_id is not None else "-"),
            "type": e.error_type or "",
            "message": e.message,
        }
        for e in errors
    ]
    # A sub_workflow step waits for its child's end under the child's id (see SubWorkflow).
    child_ids = list(dict.fromkeys(
        p.event_key for p in pointers if p.event_name == WORKFLOW_ENDED_EVENT and p.event_key
    ))
    children = [(cid, await _find(host, cid)) for cid in child_ids]
    parent_id = instance.parent_workflow_id
    parent = await _find(host, parent_id) if parent_id else None
    waits = await host.get_external_waits(workflow_id)
    now = datetime.now(UTC)
    return WorkflowPage(
        instance=instance,
        data=pretty(decode_data(instance.data)),
        rows=step_rows(instance, now, waits),
        waits=[(w, w.summary(host.clock.now())) for w in waits],
        errors=error_rows,
        parent=parent,
        parent_id=parent_id,
        children=children,
    )


@attrs.define
class DefinitionCounts:
    """Instances of one definition id: per status in all, and per version and status."""

    total: dict[str, int]
    by_version: dict[int, dict[str, int]]
    partial: bool


async def definition_counts(host: WorkflowHost, definition_id: str) -> DefinitionCounts:
    """How many instances of ``definition_id`` are in each status, in all and per version.

    The search index counts per status; per version it reads the instances' summaries, up to
    :data:`VERSION_SCAN_LIMIT` per status (``partial`` says that more were left out).
    """
    total: dict[str, int] = {}
    by_version: dict[int, dict[str, int]] = {}
    partial = False
    for status in WorkflowStatus:
        page = await host.search(
            definition_id=definition_id, status=status, take=min(VERSION_SCAN_LIMIT, 500)
        )
        total[status.value] = page.total
        items = list(page.items)
        while len(items) < min(page.total, VERSION_SCAN_LIMIT) and page.items:
            page = await host.search(
                definition_id=definition_id, status=status, skip=len(items), take=500
            )
            items.extend(page.items)
        partial = partial or page.total > len(items)
        for item in items:
            if item.definition_id != definition_id:
                continue
            version = by_version.setdefault(item.version, {s.value: 0 for s in WorkflowStatus})
            version[status.value] += 1
    return DefinitionCounts(total, dict(sorted(by_version.items(), reverse=True)), partial)


def definitions_by_id(definitions: list[WorkflowDefinition]) -> dict[str, list[WorkflowDefinition]]:
    """The definitions grouped by id, newest version first."""
    grouped: dict[str, list[WorkflowDefinition]] = {}
    for d in sorted(definitions, key=lambda d: (d.id, -d.version)):
        grouped.setdefault(d.id, []).append(d)
    return grouped
