"""Answers from outside the engine, written into the pointer that waits for them.

An activity (``_activities``) and a user task (``_user_tasks``) are waits whose answer does not
come as a published event: the host that receives it (``submit_activity_success``,
``publish_user_action``) writes it straight into the waiting pointer, under the instance's
revision, as ``suspend_workflow`` writes a status. A second answer finds the pointer answered
and is refused; two answers at once race on the revision, and the loser re-reads and is
refused. So an answer is applied once, or not at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._lifecycle import LifecycleEvent, LifecycleEventType
from ._models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus
from .errors import ConcurrencyError, WfeError
from .providers import QueueKind

if TYPE_CHECKING:
    from ._host import WorkflowHost

__all__ = ["announce", "answer_wait", "is_waiting"]

#: Checks a waiting pointer before an answer is written: None when it may be, else why not.
Check = Callable[[WorkflowInstance, ExecutionPointer | None], str | None]


def is_waiting(pointer: ExecutionPointer | None, event_name: str) -> bool:
    """Whether ``pointer`` waits, unanswered, on a wait of ``event_name``."""
    return (
        pointer is not None
        and pointer.end_time is None
        and pointer.event_name == event_name
        and not pointer.event_published
        and pointer.status is PointerStatus.WAITING_FOR_EVENT
    )


async def answer_wait(
    host: WorkflowHost,
    workflow_id: str,
    pointer_id: str,
    check: Check,
    answer: Any,
    refuse: Callable[[str], WfeError],
) -> WorkflowInstance:
    """Write ``answer`` into the waiting pointer and wake its workflow.

    Raises:
        WorkflowNotFoundError: the workflow is gone.
        WfeError: ``refuse(reason)`` when ``check`` finds the pointer not waiting for it.
    """
    for _ in range(50):
        instance = await host.persistence.get_workflow(workflow_id)
        pointer = instance.execution_pointers.get(pointer_id)
        problem = check(instance, pointer)
        if problem is not None:
            raise refuse(problem)
        assert pointer is not None
        pointer.event_data = answer
        pointer.event_published = True
        pointer.active = True
        pointer.status = PointerStatus.PENDING
        if instance.status is WorkflowStatus.RUNNABLE:
            instance.next_execution = host.clock.now()
        try:
            await host.persistence.persist_workflow(instance, changed_pointers=[pointer_id])
        except ConcurrencyError:
            await asyncio.sleep(0.005)  # a pass landed meanwhile: check again on fresh state
            continue
        runtime = host._runtime
        if runtime is not None:
            await runtime.after_control(instance)  # queued for a runner, and indexed
        elif instance.status is WorkflowStatus.RUNNABLE:
            await host._queue_for_others(QueueKind.WORKFLOW, instance.id)
        return instance
    raise WfeError(f"workflow {workflow_id} kept changing while an answer was written; try again")


async def announce(
    host: WorkflowHost,
    kind: LifecycleEventType,
    instance: WorkflowInstance,
    pointer_id: str,
    message: str,
) -> None:
    """Publish the lifecycle event ``kind`` for the waiting pointer (when anyone listens)."""
    if not host.lifecycle.active:
        return
    pointer = instance.execution_pointers.get(pointer_id)
    await host.lifecycle.publish(
        LifecycleEvent(
            type=kind,
            workflow_id=instance.id,
            definition_id=instance.definition_id,
            version=instance.version,
            reference=instance.reference,
            step_id=pointer.step_id if pointer is not None else None,
            step_name=pointer.step_name if pointer is not None else None,
            pointer_id=pointer_id,
            message=message,
            time=host.clock.now(),
        )
    )
