"""User tasks: a person decides, from the options the step offers; the chosen option's body runs.

``builder.user_task(prompt, assigner=..., options={"approve": body, ...})`` adds a
:class:`UserTask` step followed by a switch with one ``when`` per option, so the chosen
value's body runs and ``.then()`` continues after it. The task waits, as an event wait does,
on a subscription named :data:`USER_TASK_EVENT` with the one key :data:`OPEN_KEY`, whose data is
the task (its key, prompt, assignee, options, escalation): so every open task of a store is
one indexed query (``list_open_user_actions``), with no table of its own. The answer
(``publish_user_action``) is written straight into the waiting pointer (``_external``).

Escalation (``.escalate(after=, to=)``) is kept as a time and an assignee, and read: from
``created + after`` on, the task is assigned to ``to``, whoever looks (list, show, act). Nothing
has to run at that moment, so no timer can be missed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from ._external import announce, answer_wait, is_waiting
from ._lifecycle import LifecycleEventType
from ._models import ExecutionPointer, WorkflowInstance, WorkflowStatus
from ._primitives import EPOCH, Primitive
from ._step import ExecutionResult, StepExecutionContext
from ._waits import USER_TASK_EVENT
from .errors import UserActionError, WorkflowNotFoundError
from .serialization import dump_value

if TYPE_CHECKING:
    from ._host import WorkflowHost

__all__ = ["OPEN_KEY", "USER_TASK_EVENT", "OpenUserAction", "UserTask", "UserTasks"]

#: The key of every open user task's subscription.
OPEN_KEY = "open"
#: Far enough ahead to ask for every subscription.
_ALWAYS = datetime(9999, 12, 31, tzinfo=EPOCH.tzinfo)


@attrs.frozen
class OpenUserAction:
    """A user task waiting for its answer.

    Attributes:
        key: what ``publish_user_action`` answers (unique per task and attempt).
        prompt: what the person is asked.
        assigned_to: who is to answer (after an escalation, the one it escalated to).
        options: the values an answer may take.
        created: when the task was opened.
        workflow_id: the workflow that waits.
        escalated: whether the escalation time passed.
    """

    key: str
    prompt: str
    assigned_to: str | None
    options: list[str]
    created: datetime
    workflow_id: str
    escalated: bool = False

    @classmethod
    def of(cls, task: dict[str, Any], workflow_id: str, now: datetime) -> OpenUserAction:
        assigned = task.get("assigned_to")
        at = task.get("escalate_at")
        escalated = at is not None and now >= datetime.fromisoformat(at)
        if escalated:
            assigned = task.get("escalate_to")
        return cls(
            key=task["key"], prompt=task.get("prompt", ""), assigned_to=assigned,
            options=list(task.get("options", [])),
            created=datetime.fromisoformat(task["created"]), workflow_id=workflow_id,
            escalated=escalated,
        )


class UserTask(Primitive):
    """Waits for a person's answer; then its outcome is the chosen value (``value``)."""

    prompt: str = ""
    assigner: Any = None
    options: Any = ()
    escalate_after: timedelta | None = None
    escalate_to: Any = None
    user: str | None = None
    value: Any = None

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        pointer = ctx.pointer
        attempt = pointer.extension_attributes.get("task_attempt", 0)
        key = f"{ctx.workflow.id}.{pointer.id}.{attempt}"
        answer = pointer.event_data if pointer.event_published else None
        if not isinstance(answer, dict) or answer.get("key") != key:
            created = pointer.start_time or EPOCH
            task = {
                "key": key,
                "prompt": str(self.prompt),
                "assigned_to": None if self.assigner is None else str(self.assigner),
                "options": [str(option) for option in self.options],
                "created": created.isoformat(),
                "escalate_at": (created + self.escalate_after).isoformat()
                if self.escalate_after is not None else None,
                "escalate_to": None if self.escalate_to is None else str(self.escalate_to),
            }
            dump_value(task)
            pointer.extension_attributes["user_task"] = task
            result = ExecutionResult.wait_for_event(USER_TASK_EVENT, OPEN_KEY, EPOCH)
            result.subscription_data = task
            return result
        self.user, self.value = answer.get("user"), answer.get("value")
        return ExecutionResult.outcome(self.value)


def _open_task(pointer: ExecutionPointer | None) -> dict[str, Any] | None:
    if not is_waiting(pointer, USER_TASK_EVENT) or pointer is None:
        return None
    task = pointer.extension_attributes.get("user_task")
    return task if isinstance(task, dict) else None


class UserTasks:
    """The host's side of user tasks: list them, answer them. One per ``WorkflowHost``."""

    def __init__(self, host: WorkflowHost) -> None:
        self.host = host

    async def of_workflow(self, workflow_id: str) -> list[OpenUserAction]:
        instance = await self.host.persistence.get_workflow(workflow_id)
        return self.open_in(instance)

    def open_in(self, instance: WorkflowInstance) -> list[OpenUserAction]:
        if instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED):
            return []
        now = self.host.clock.now()
        return [
            OpenUserAction.of(task, instance.id, now)
            for pointer in instance.execution_pointers.open()
            if (task := _open_task(pointer)) is not None
        ]

    async def all_open(self, assignee: str | None) -> list[OpenUserAction]:
        persistence = self.host.persistence
        subs = await persistence.get_subscriptions(USER_TASK_EVENT, OPEN_KEY, _ALWAYS)
        instances = {i.id: i for i in await persistence.get_workflows(sorted({s.workflow_id for s in subs}))}
        found: list[OpenUserAction] = []
        for sub in subs:
            instance = instances.get(sub.workflow_id)
            task = sub.subscription_data if isinstance(sub.subscription_data, dict) else {}
            pointer = instance.execution_pointers.get(sub.execution_pointer_id) if instance else None
            open_task = _open_task(pointer)
            if instance is None or open_task is None or open_task.get("key") != task.get("key") or (
                instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)
            ):
                await persistence.terminate_subscription(sub.id)  # answered, cancelled or gone
                continue
            action = OpenUserAction.of(task, sub.workflow_id, self.host.clock.now())
            if assignee is None or action.assigned_to == assignee:
                found.append(action)
        return sorted(found, key=lambda a: (a.created, a.key))

    async def publish(self, key: str, user: str, value: Any) -> None:
        parts = key.split(".") if isinstance(key, str) else []
        if len(parts) != 3 or not all(parts):
            raise UserActionError(
                f"{key!r} is not a user action key; take the key from get_open_user_actions, "
                "list_open_user_actions or `wfe tasks`"
            )
        workflow_id, pointer_id, _ = parts
        if not isinstance(user, str) or not user:
            raise UserActionError("publish_user_action needs the name of the user who answers")

        def check(instance: WorkflowInstance, pointer: ExecutionPointer | None) -> str | None:
            task = _open_task(pointer)
            if task is None or task.get("key") != key or instance.status in (
                WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED
            ):
                return f"user action {key} is closed: it was answered already, or its workflow moved on"
            options = task.get("options", [])
            if str(value) not in options:
                return (
                    f"{value!r} is not an option of user action {key}; choose one of: "
                    + ", ".join(options)
                )
            return None

        try:
            instance = await answer_wait(
                self.host, workflow_id, pointer_id, check,
                {"key": key, "user": user, "value": str(value)}, UserActionError,
            )
        except WorkflowNotFoundError:
            raise UserActionError(f"user action {key} is closed: workflow {workflow_id} is gone") from None
        await announce(self.host, LifecycleEventType.USER_TASK_ANSWERED, instance, pointer_id,
                       f"{key}: {value} by {user}")
