"""What a step waits on outside the engine: an activity (a worker) or a user task (a person).

One owner for reading such a wait off a pointer, so that ``wfe show``, the dashboard and the
search text (:func:`wfe_core.search.instance_text`) describe it alike. :class:`ExternalWait`
is read from the pointer alone (what its step stored when it opened the wait); whether a
worker holds an activity's token is a question for the lock, which
``WorkflowHost.describe_waits`` asks.

This module imports only the models: the search rule, which every index imports, uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

import attrs

from ._models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus

__all__ = ["ACTIVITY_EVENT", "USER_TASK_EVENT", "ExternalWait", "external_waits", "waiting_words"]

#: The event name of activity waits (the key is the activity's name).
ACTIVITY_EVENT = "wfe.activity"
#: The event name of user task waits.
USER_TASK_EVENT = "wfe.user_task"


@attrs.frozen
class ExternalWait:
    """A step waiting, unanswered, on an activity or on a person.

    Attributes:
        kind: ``"activity"`` or ``"user_task"``.
        pointer_id: the waiting pointer.
        activity: the activity's name (an activity).
        parameters: what its worker is given (an activity).
        held: whether a worker holds its token; None when not asked or not known
            (a user task, or a store opened read-only).
        prompt: what the person is asked (a user task).
        assigned_to: who is to answer, as assigned when it opened (see ``escalate_at``).
        options: the values an answer may take (a user task).
        escalate_at: from when it is assigned to ``escalate_to`` instead, if it escalates.
        escalate_to: who it escalates to.
        key: the key that answers it (``publish_user_action``; a user task).
    """

    kind: Literal["activity", "user_task"]
    pointer_id: str
    activity: str | None = None
    parameters: Any = None
    held: bool | None = None
    prompt: str | None = None
    assigned_to: str | None = None
    options: tuple[str, ...] = ()
    escalate_at: datetime | None = None
    escalate_to: str | None = None
    key: str | None = None

    @classmethod
    def of(cls, pointer: ExecutionPointer) -> ExternalWait | None:
        """The wait ``pointer`` is in, or None when it waits on neither (or was answered)."""
        if (
            pointer.end_time is not None
            or pointer.event_published
            or pointer.status is not PointerStatus.WAITING_FOR_EVENT
        ):
            return None
        if pointer.event_name == ACTIVITY_EVENT:
            return cls("activity", pointer.id, activity=str(pointer.event_key))
        if pointer.event_name == USER_TASK_EVENT:
            task = pointer.extension_attributes.get("user_task")
            if not isinstance(task, dict):
                return None
            at = task.get("escalate_at")
            return cls(
                "user_task", pointer.id, prompt=task.get("prompt"),
                assigned_to=task.get("assigned_to"),
                options=tuple(str(o) for o in task.get("options", ())),
                escalate_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
                escalate_to=task.get("escalate_to"), key=task.get("key"),
            )
        return None

    def assignee(self, now: datetime) -> str | None:
        """Who is to answer at ``now``: the escalation's target once its time came."""
        if self.escalate_at is not None and now >= self.escalate_at:
            return self.escalate_to
        return self.assigned_to

    def summary(self, now: datetime) -> str:
        """One line for people: ``activity 'bake' (held by a worker)``,
        ``person ann: 'Approve?' [approve|reject]``."""
        if self.kind == "activity":
            held = {True: " (held by a worker)", False: " (no worker has it)", None: ""}[self.held]
            return f"activity {self.activity!r}{held}"
        who = self.assignee(now) or "anyone"
        escalated = " (escalated)" if who != self.assigned_to else ""
        return f"person {who}{escalated}: {self.prompt!r} [{'|'.join(self.options)}]"

    def words(self) -> str:
        """What makes its workflow findable in search as waiting on it (the rule's text).

        ``awaiting activity NAME`` or ``awaiting user task ASSIGNEE ESCALATE_TO``: so
        ``awaiting-activity``, the activity's name, ``awaiting-user-task`` or an assignee
        (before or after an escalation, which changes no stored state) find it.
        """
        if self.kind == "activity":
            return f"awaiting activity {self.activity}"
        people = " ".join(p for p in (self.assigned_to, self.escalate_to) if p)
        return f"awaiting user task {people}".rstrip()


#: The event names of the waits a workflow can be found by in search.
_EXTERNAL_EVENTS = frozenset((ACTIVITY_EVENT, USER_TASK_EVENT))


def external_waits(instance: WorkflowInstance) -> Iterator[ExternalWait]:
    """The external waits of ``instance``'s open pointers, in creation order."""
    for pointer in instance.execution_pointers.open_view():
        if pointer.event_name in (ACTIVITY_EVENT, USER_TASK_EVENT):
            wait = ExternalWait.of(pointer)
            if wait is not None:
                yield wait


def waiting_words(instance: WorkflowInstance) -> str:
    """The search words of what ``instance`` waits on outside the engine ("" when nothing).

    Cheap when it waits on nothing: one look at each open pointer's event name. A workflow
    that ended waits on nothing, whatever its pointers were left doing.
    """
    if instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED):
        return ""
    # Every pass asks this for its search entry: a plain loop finds the usual "nothing"
    # without starting a generator.
    for pointer in instance.execution_pointers.open_view():
        if pointer.event_name in _EXTERNAL_EVENTS:
            return " ".join(wait.words() for wait in external_waits(instance))
    return ""
