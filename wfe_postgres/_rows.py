"""How models map to PostgreSQL parameters and rows: workflows, events, subscriptions, errors.

``PostgresPersistence`` calls these; the column lists here and the tables in ``_schema`` change
together. Pointers and event/subscription data are JSON made by ``wfe_core.serialization``;
workflow data arrives as JSON text already and is stored as it is. Several rows of one kind go
to the server as one array per column (``unnest``), so a pass is one statement however many
pointers it changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, overload

import attrs

from wfe_core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointers,
    WorkflowInstance,
    WorkflowStatus,
)
from wfe_core.serialization import dump_value, load_pointer, load_value

__all__ = [
    "ERROR_COLUMNS",
    "EVENT_COLUMNS",
    "INSTANCE_COLUMNS",
    "STORED_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "error_arrays",
    "error_from_row",
    "event_from_row",
    "event_params",
    "instance_from_row",
    "instance_params",
    "loaded_text",
    "stored_text",
    "subscription_arrays",
    "subscription_from_row",
    "utc",
]

INSTANCE_COLUMNS = (
    "id, definition_id, version, status, reference, description, data, create_time, "
    "complete_time, next_execution, revision, parent_workflow_id, trace_context"
)
#: What a schema of version 6 on keeps of an instance: ``INSTANCE_COLUMNS`` and its priority.
STORED_COLUMNS = INSTANCE_COLUMNS + ", priority"
EVENT_COLUMNS = "id, name, key, data, event_time, is_processed, trace_context"

# Whether the models carry a trace context (the W3C traceparent a host stores with a workflow
# or event, for tracing across hosts); older wfe_core models do not.
_TRACED = "trace_context" in attrs.fields_dict(WorkflowInstance)
_PRIORITIZED = "priority" in attrs.fields_dict(WorkflowInstance)
SUBSCRIPTION_COLUMNS = "id, workflow_id, step_id, pointer_id, name, key, subscribe_as_of, data"
ERROR_COLUMNS = "workflow_id, pointer_id, step_id, message, error_type, error_time"


# NUL is stored as ESCAPE + "0", and ESCAPE itself as ESCAPE + "1", so that every string has
# one stored form and back. SOH, not a printable character: text that holds neither (all of it,
# in practice) is stored as it is, and an equality on the stored form is the equality of values.
_ESCAPE = "\x01"
_ESCAPED = {"0": "\x00", "1": _ESCAPE}


@overload
def stored_text(value: str) -> str: ...
@overload
def stored_text(value: None) -> None: ...
@overload
def stored_text(value: str | None) -> str | None: ...
def stored_text(value: str | None) -> str | None:
    """``value`` as a text column holds it: NUL escaped (see :func:`loaded_text`)."""
    if value is None or ("\x00" not in value and _ESCAPE not in value):
        return value
    return value.replace(_ESCAPE, _ESCAPE + "1").replace("\x00", _ESCAPE + "0")


@overload
def loaded_text(value: str) -> str: ...
@overload
def loaded_text(value: None) -> None: ...
@overload
def loaded_text(value: str | None) -> str | None: ...
def loaded_text(value: str | None) -> str | None:
    """The value :func:`stored_text` made ``value`` from."""
    if value is None or _ESCAPE not in value:
        return value
    parts = value.split(_ESCAPE)
    # Each part after the first starts with the escaped character's code.
    return parts[0] + "".join(_ESCAPED.get(part[:1], "") + part[1:] for part in parts[1:])


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def instance_params(instance: WorkflowInstance) -> dict[str, Any]:
    """The instance's fields as named parameters (its revision is the stored one replaced)."""
    return {
        "id": instance.id,
        "definition_id": instance.definition_id,
        "version": instance.version,
        "status": instance.status._value_,
        "reference": stored_text(instance.reference),
        "description": stored_text(instance.description),
        "data": instance.data,
        "create_time": utc(instance.create_time),
        "complete_time": _utc_or_none(instance.complete_time),
        "next_execution": _utc_or_none(instance.next_execution),
        "revision": instance.revision,
        "parent": instance.parent_workflow_id,
        "trace_context": getattr(instance, "trace_context", None),
        "priority": getattr(instance, "priority", 4),  # 4: the default level
    }


def instance_from_row(row: Sequence[Any], pointers: Sequence[str]) -> WorkflowInstance:
    """Reverse :func:`instance_params`, with the pointers' JSON in creation order."""
    wid, definition_id, version, status, reference, description, data = row[:7]
    created, completed, next_execution, revision, parent, trace_context = row[7:13]
    traced: dict[str, Any] = {"trace_context": trace_context} if _TRACED else {}
    if len(row) > 13 and _PRIORITIZED:
        traced["priority"] = row[13]
    return WorkflowInstance(
        id=wid,
        definition_id=definition_id,
        version=version,
        status=WorkflowStatus(status),
        data=data,
        reference=loaded_text(reference),
        description=loaded_text(description),
        create_time=utc(created),
        complete_time=_utc_or_none(completed),
        next_execution=_utc_or_none(next_execution),
        execution_pointers=ExecutionPointers(load_pointer(body) for body in pointers),
        revision=revision,
        parent_workflow_id=parent,
        **traced,
    )


def event_params(e: Event) -> tuple[Any, ...]:
    """The event's row, in ``EVENT_COLUMNS`` order."""
    data = dump_value(e.event_data)
    trace_context = getattr(e, "trace_context", None)
    when = utc(e.event_time)
    name, key = stored_text(e.event_name), stored_text(e.event_key)
    return (e.id, name, key, data, when, bool(e.is_processed), trace_context)


def event_from_row(row: Sequence[Any]) -> Event:
    eid, name, key, data, when, processed, trace_context = row
    traced = {"trace_context": trace_context} if _TRACED else {}
    return Event(
        loaded_text(name), loaded_text(key), load_value(data), utc(when), eid, bool(processed),
        **traced,
    )


def subscription_arrays(subscriptions: Sequence[EventSubscription]) -> dict[str, list[Any]]:
    """The subscriptions as one list per column, for ``unnest``."""
    return {
        "sub_ids": [s.id for s in subscriptions],
        "sub_wids": [s.workflow_id for s in subscriptions],
        "sub_steps": [s.step_id for s in subscriptions],
        "sub_pids": [s.execution_pointer_id for s in subscriptions],
        "sub_names": [stored_text(s.event_name) for s in subscriptions],
        "sub_keys": [stored_text(s.event_key) for s in subscriptions],
        "sub_times": [utc(s.subscribe_as_of) for s in subscriptions],
        "sub_data": [dump_value(s.subscription_data) for s in subscriptions],
    }


def subscription_from_row(row: Sequence[Any]) -> EventSubscription:
    sid, wid, step_id, pointer_id, name, key, as_of, data = row
    return EventSubscription(
        wid, step_id, pointer_id, loaded_text(name), loaded_text(key), utc(as_of),
        load_value(data), sid,
    )


def error_arrays(errors: Sequence[ExecutionError]) -> dict[str, list[Any]]:
    """The errors as one list per column, for ``unnest``."""
    return {
        "err_wids": [e.workflow_id for e in errors],
        "err_pids": [e.execution_pointer_id for e in errors],
        "err_steps": [e.step_id for e in errors],
        "err_messages": [stored_text(e.message) for e in errors],
        "err_types": [stored_text(e.error_type) for e in errors],
        "err_times": [utc(e.error_time) for e in errors],
    }


def error_from_row(row: Sequence[Any]) -> ExecutionError:
    wid, pointer_id, step_id, message, error_type, when = row
    return ExecutionError(
        wid, pointer_id, loaded_text(message), utc(when), step_id, loaded_text(error_type)
    )
