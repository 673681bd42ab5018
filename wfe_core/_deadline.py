"""Workflow deadlines: where an instance keeps its deadline, and what a pass does when it passes.

``WorkflowHost.start_workflow(..., timeout=)`` (or the definition's ``timeout``) sets a
deadline with :func:`set_deadline`; the executor's pass reads it with :func:`deadline_of`,
limits running steps to it, keeps the instance's ``next_execution`` no later than it (so the
host's timers, and after a restart its poller, bring the workflow back in time), and calls
:func:`expire` once it has passed.

The deadline is stored in the extension attributes of the instance's first pointer, which
every provider keeps with the instance: no store needs a new column for it, and a
continue-as-new carries it to the new first pointer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ._apply import PassState
from ._lifecycle import LifecycleEventType
from ._models import ExecutionError, ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus
from ._step import check_period

__all__ = ["DEADLINE_KEY", "deadline_of", "deadline_problem", "expire", "set_deadline"]

#: The extension attribute of the first pointer that holds the deadline (ISO 8601, UTC).
DEADLINE_KEY = "wfe.deadline"


def _first(instance: WorkflowInstance) -> ExecutionPointer | None:
    return instance.execution_pointers.first()


def deadline_of(instance: WorkflowInstance) -> datetime | None:
    """The instance's deadline, or None when it has none."""
    first = _first(instance)
    if first is None or not first.extension_attributes:
        return None
    text = first.extension_attributes.get(DEADLINE_KEY)
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def deadline_problem(timeout: object, what: str) -> str | None:
    """What is wrong with ``timeout`` as a workflow's time limit (None: nothing, or no limit)."""
    if timeout is None:
        return None
    problem = check_period(timeout, what)
    if problem is None and isinstance(timeout, timedelta) and timeout <= timedelta(0):
        problem = f"{what} must be more than zero, not {timeout}"
    return None if problem is None else f"{problem}; give a positive timedelta, or None for no limit"


def set_deadline(pointer: ExecutionPointer, deadline: datetime | None) -> None:
    """Keep ``deadline`` on ``pointer``, the first of its instance (None: no deadline)."""
    if deadline is not None:
        pointer.extension_attributes[DEADLINE_KEY] = deadline.isoformat()


def expire(state: PassState, deadline: datetime) -> None:
    """The deadline passed: cancel every open pointer, record why, terminate the workflow."""
    wf = state.wf
    message = (
        f"the workflow's deadline ({deadline.isoformat()}) passed: it was terminated and its "
        "running steps cancelled"
    )
    open_pointers = state.pointers.open()
    where = open_pointers[0] if open_pointers else _first(wf)
    for pointer in open_pointers:
        state.close(pointer, PointerStatus.CANCELLED)
    state.result.add_error(
        ExecutionError(
            workflow_id=wf.id,
            execution_pointer_id=where.id if where is not None else "",
            message=message,
            error_time=state.now,
            step_id=where.step_id if where is not None else None,
            error_type="WorkflowDeadlineError",
        )
    )
    wf.status = WorkflowStatus.TERMINATED
    wf.complete_time = state.now
    wf.next_execution = None
    state.event(LifecycleEventType.WORKFLOW_TERMINATED, message=message)
