"""How models map to table rows and back: workflows, events, subscriptions, execution errors.

``SqlitePersistence`` calls these; the column lists here and the tables in ``_schema`` change
together. Pointers and event/subscription data are JSON made by ``wfe_core.serialization``;
workflow data arrives as JSON text already and is stored as it is.
"""

from __future__ import annotations

from typing import Any

from wfe_core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointers,
    WorkflowInstance,
    WorkflowStatus,
)
from wfe_core.providers import DEFAULT_PRIORITY
from wfe_core.serialization import dump_value, load_pointer, load_value

from ._times import from_micros, from_micros_or_none, to_micros, to_micros_or_none

__all__ = [
    "ERROR_COLUMNS",
    "EVENT_COLUMNS",
    "INSTANCE_COLUMNS",
    "STORED_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "error_from_row",
    "error_row",
    "event_from_row",
    "event_row",
    "instance_from_row",
    "instance_row",
    "subscription_from_row",
    "subscription_row",
]

INSTANCE_COLUMNS = (
    "id, definition_id, version, status, reference, description, data, create_time, "
    "complete_time, next_execution, revision, parent_workflow_id, trace_context"
)
#: What a store of schema 7 on keeps of an instance: ``INSTANCE_COLUMNS`` and its priority.
STORED_COLUMNS = INSTANCE_COLUMNS + ", priority"
EVENT_COLUMNS = "id, name, key, data, event_time, is_processed, trace_context"
SUBSCRIPTION_COLUMNS = "id, workflow_id, step_id, pointer_id, name, key, subscribe_as_of, data"
ERROR_COLUMNS = "workflow_id, pointer_id, step_id, message, error_type, error_time"


def instance_row(instance: WorkflowInstance, *, revision: int) -> tuple[Any, ...]:
    """The instance's ``workflows`` row, in ``STORED_COLUMNS`` order."""
    return (
        instance.id,
        instance.definition_id,
        instance.version,
        instance.status._value_,  # not .value: a property, 10x slower
        instance.reference,
        instance.description,
        instance.data,
        to_micros(instance.create_time),
        to_micros_or_none(instance.complete_time),
        to_micros_or_none(instance.next_execution),
        revision,
        instance.parent_workflow_id,
        instance.trace_context,
        instance.priority,
    )


def instance_from_row(row: tuple[Any, ...], pointer_bodies: list[str]) -> WorkflowInstance:
    """Reverse :func:`instance_row`, with the pointers' JSON in creation order."""
    wid, definition_id, version, status, reference, description, data = row[:7]
    created, completed, next_execution, revision, parent, trace_context = row[7:13]
    # A row of INSTANCE_COLUMNS alone (no priority) is read at the default level.
    priority = row[13] if len(row) > 13 else DEFAULT_PRIORITY
    return WorkflowInstance(
        id=wid,
        definition_id=definition_id,
        version=version,
        status=WorkflowStatus(status),
        data=data,
        reference=reference,
        description=description,
        create_time=from_micros(created),
        complete_time=from_micros_or_none(completed),
        next_execution=from_micros_or_none(next_execution),
        execution_pointers=ExecutionPointers(load_pointer(b) for b in pointer_bodies),
        revision=revision,
        parent_workflow_id=parent,
        trace_context=trace_context,
        priority=priority,
    )


def event_row(e: Event) -> tuple[Any, ...]:
    """The event's ``events`` row, in ``EVENT_COLUMNS`` order."""
    data = dump_value(e.event_data)
    when = to_micros(e.event_time)
    return (e.id, e.event_name, e.event_key, data, when, int(e.is_processed), e.trace_context)


def event_from_row(row: tuple[Any, ...]) -> Event:
    eid, name, key, data, when, processed, trace_context = row
    return Event(name, key, load_value(data), from_micros(when), eid, bool(processed), trace_context)


def subscription_row(s: EventSubscription) -> tuple[Any, ...]:
    """The subscription's row, in ``SUBSCRIPTION_COLUMNS`` order."""
    return (
        s.id,
        s.workflow_id,
        s.step_id,
        s.execution_pointer_id,
        s.event_name,
        s.event_key,
        to_micros(s.subscribe_as_of),
        dump_value(s.subscription_data),
    )


def subscription_from_row(row: tuple[Any, ...]) -> EventSubscription:
    sid, wid, step_id, pointer_id, name, key, as_of, data = row
    return EventSubscription(
        wid, step_id, pointer_id, name, key, from_micros(as_of), load_value(data), sid
    )


def error_row(e: ExecutionError) -> tuple[Any, ...]:
    """The error's ``execution_errors`` row, in ``ERROR_COLUMNS`` order."""
    when = to_micros(e.error_time)
    return (e.workflow_id, e.execution_pointer_id, e.step_id, e.message, e.error_type, when)


def error_from_row(row: tuple[Any, ...]) -> ExecutionError:
    wid, pointer_id, step_id, message, error_type, when = row
    return ExecutionError(wid, pointer_id, message, from_micros(when), step_id, error_type)
