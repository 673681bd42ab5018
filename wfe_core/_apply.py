"""``PassState``: one pass's instance and what the pass changed, and how results change it.

The executor's pass (``_executor._Pass``) makes one for each pass and applies each step's
``ExecutionResult`` through it: the pointer's outcome, the pointers that follow it, branches
and loop bodies, sleeps, event waits and their subscriptions, cancellations, and in the end
when the workflow should run next. The failure policy (``_failure.FailurePolicy``) changes
the pointers through it too. What must be written comes back in its ``PassResult``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ._definition import WorkflowDefinition, WorkflowStep, call_with_data
from ._lifecycle import LifecycleEvent, LifecycleEventType
from ._models import (
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
)
from ._step import ExecutionResult
from ._waits import ACTIVITY_EVENT, USER_TASK_EVENT

__all__ = ["PassResult", "PassState"]


class PassResult:
    """What a pass produced, for the host to persist and announce.

    Most passes record no subscription, error or lifecycle event: those three start as one
    shared empty tuple and become lists with their first item (``add_subscription``,
    ``add_error``, ``add_event``), three containers fewer a pass for the collector to walk.
    """

    __slots__ = (
        "changed", "data_text", "errors", "events", "replace_pointers", "steps_run",
        "subscriptions",
    )

    def __init__(self) -> None:
        self.changed: set[str] = set()
        self.subscriptions: list[EventSubscription] | tuple[()] = ()
        self.errors: list[ExecutionError] | tuple[()] = ()
        self.events: list[LifecycleEvent] | tuple[()] = ()
        self.steps_run = 0
        #: The data as stored after the pass's last change, when the pass encoded it already.
        self.data_text: str | None = None
        #: The workflow continued as new: the store drops every pointer it has of it and
        #: writes the instance's (``changed_pointers=None``).
        self.replace_pointers = False

    def add_subscription(self, subscription: EventSubscription) -> None:
        if self.subscriptions:
            self.subscriptions.append(subscription)
        else:
            self.subscriptions = [subscription]

    def add_error(self, error: ExecutionError) -> None:
        if self.errors:
            self.errors.append(error)
        else:
            self.errors = [error]

    def add_event(self, event: LifecycleEvent) -> None:
        if self.events:
            self.events.append(event)
        else:
            self.events = [event]


class PassState:
    """The instance during one pass, the changes made to it, and the rules that make them.

    Args:
        emit: build lifecycle events (building them costs time on every step; skipped when
            nobody listens).
    """

    def __init__(
        self, instance: WorkflowInstance, definition: WorkflowDefinition, now: datetime, emit: bool
    ) -> None:
        self.wf = instance
        self.defn = definition
        self.steps = definition.steps
        self.pointers = instance.execution_pointers
        self.now = now
        self.emit = emit
        self.result = PassResult()
        #: A primitive's pointer was added (since the executor last cleared it): a round of
        #: primitives may follow the user steps in the same pass.
        self.primitive_added = False
        #: When the workflow must be over (``_deadline``); None: no deadline.
        self.deadline: datetime | None = None
        #: pointer id -> the pointers that start when it ends (compensation chains).
        self.waiting_on: dict[str, list[ExecutionPointer]] = {}
        for p in self.pointers.open_view():
            if p.status is PointerStatus.PENDING_PREDECESSOR and p.predecessor_id is not None:
                self.waiting_on.setdefault(p.predecessor_id, []).append(p)

    # -- changes -----------------------------------------------------------------------------

    def event(self, kind: LifecycleEventType, pointer: ExecutionPointer | None = None, **kw: Any) -> None:
        if not self.emit:
            return
        step = self.steps[pointer.step_id] if pointer is not None else None
        self.result.add_event(
            LifecycleEvent(
                type=kind,
                workflow_id=self.wf.id,
                definition_id=self.wf.definition_id,
                version=self.wf.version,
                reference=self.wf.reference,
                step_id=step.id if step else None,
                step_name=step.display_name if step else None,
                pointer_id=pointer.id if pointer else None,
                time=self.now,
                **kw,
            )
        )

    def add_pointer(self, pointer: ExecutionPointer) -> ExecutionPointer:
        self.pointers.add(pointer)
        self.result.changed.add(pointer.id)
        if self.steps[pointer.step_id].is_primitive:
            self.primitive_added = True
        return pointer

    def close(self, pointer: ExecutionPointer, status: PointerStatus) -> None:
        self.pointers.close(pointer, self.now, status)
        self.result.changed.add(pointer.id)

    def next_pointer(self, pred: ExecutionPointer, step_id: int) -> ExecutionPointer:
        parent = self.steps[step_id].parent
        scope = pred.scope
        if parent != self.steps[pred.step_id].parent:
            scope = self.leave_bodies(scope, parent)
        return self.add_pointer(
            ExecutionPointer(
                step_id=step_id,
                predecessor_id=pred.id,
                context_item=pred.context_item,
                scope=scope,  # shared: a scope is never changed in place (see body_scope)
                step_name=self.steps[step_id].name,
            )
        )

    def body_scope(self, container: ExecutionPointer) -> list[str]:
        """The scope of the pointers of ``container``'s next body: its id, then its own scope.

        One list, shared by the body's pointers and by those of its earlier bodies (a loop's
        5,000th iteration reuses the first one's): the engine never changes a scope in place,
        it makes a new list for a new scope. A list less per pointer is an object less for the
        garbage collector to walk in a long loop, whose pointers all stay in the instance.
        """
        for pid in container.children[:1]:
            earlier = self.pointers.get(pid)
            if (
                earlier is not None
                and earlier.scope[:1] == [container.id]
                and earlier.scope[1:] == container.scope
            ):
                return earlier.scope
        return [container.id, *container.scope]

    def leave_bodies(self, scope: list[str], parent: int | None) -> list[str]:
        """An ``attach`` out of a container body: the scope of the step it jumps to.

        The containers left behind end without following their own outcomes (the jump
        replaces them), unless another branch of theirs is still running.
        """
        for index, pid in enumerate(scope):
            container = self.pointers.get(pid)
            if container is not None and container.step_id == parent:
                break
        else:
            if parent is not None:
                return scope  # a jump into another body: it stays where it was
            index = len(scope)
        for pid in scope[:index]:
            container = self.pointers.get(pid)
            if container is None or container.end_time is not None:
                continue
            if any(pid in p.scope for p in self.pointers.open_view()):
                break  # another branch still runs inside: that container ends as usual
            self.close(container, PointerStatus.COMPLETE)
        return scope[index:]

    # -- results -----------------------------------------------------------------------------

    def apply(
        self,
        pointer: ExecutionPointer,
        step: WorkflowStep,
        result: ExecutionResult,
        sleep_for: timedelta | None,
    ) -> None:
        """Apply what a step returned to its pointer; ``sleep_for``: its checked sleep."""
        if result.cancel:
            self.cancel_pointers(result.cancel)
        pointer.persistence_data = result.persistence_data
        pointer.outcome = result.outcome_value
        if sleep_for is not None:
            pointer.sleep_until = self.now + sleep_for
            pointer.status = PointerStatus.SLEEPING
        else:
            pointer.sleep_until = None
        if result.event_name is not None:
            pointer.event_name = result.event_name
            pointer.event_key = result.event_key
            pointer.event_published = False
            pointer.event_data = None
            pointer.active = False
            pointer.status = PointerStatus.WAITING_FOR_EVENT
            self.result.add_subscription(
                EventSubscription(
                    workflow_id=self.wf.id,
                    step_id=step.id,
                    execution_pointer_id=pointer.id,
                    event_name=result.event_name,
                    event_key=result.event_key or "",
                    subscribe_as_of=result.event_as_of or self.now,
                    subscription_data=result.subscription_data,
                )
            )
            if result.event_name == ACTIVITY_EVENT:
                self.event(LifecycleEventType.ACTIVITY_PENDING, pointer, message=result.event_key)
            elif result.event_name == USER_TASK_EVENT:
                task = result.subscription_data if isinstance(result.subscription_data, dict) else {}
                self.event(LifecycleEventType.USER_TASK_OPENED, pointer, message=task.get("key"))
        if result.proceed:
            self.proceed(pointer, step, result.outcome_value)
        elif result.branch_values is not None:
            # Only the latest body's children are kept: a loop's 5,000th iteration must not
            # rewrite the ids of the 4,999 before it (they stay findable through their scope).
            scope = self.body_scope(pointer)
            pointer.children = []
            for value in result.branch_values:
                for child_step in step.children:
                    child = self.add_pointer(
                        ExecutionPointer(
                            step_id=child_step,
                            predecessor_id=pointer.id,
                            context_item=value,
                            scope=scope,
                            step_name=self.steps[child_step].name,
                        )
                    )
                    pointer.children.append(child.id)
        elif result.sleep_for is None and result.event_name is None:
            pointer.status = PointerStatus.RUNNING

    def cancel_pointers(self, pointer_ids: Iterable[str]) -> None:
        """Close the open pointers a step gave up on, and every pointer inside them."""
        for pid in pointer_ids:
            target = self.pointers.get(pid)
            if target is None or target.end_time is not None:
                continue
            self.close(target, PointerStatus.CANCELLED)
            for inner in self.pointers.open():
                if pid in inner.scope:
                    self.close(inner, PointerStatus.CANCELLED)

    def proceed(self, pointer: ExecutionPointer, step: WorkflowStep, outcome: Any) -> None:
        self.close(pointer, PointerStatus.COMPLETE)
        for edge in step.outcomes:
            if edge.matches(outcome):
                self.next_pointer(pointer, edge.next_step)
        # Only compensation chains wait on a predecessor; look them up, don't scan.
        for waiting in self.waiting_on.pop(pointer.id, ()):
            if waiting.status is PointerStatus.PENDING_PREDECESSOR:
                waiting.status = PointerStatus.PENDING
                waiting.active = True
                self.result.changed.add(waiting.id)
        self.event(LifecycleEventType.STEP_COMPLETED, pointer)

    def process_cancellations(self) -> None:
        # Runs several times a pass: the work is in _cancel_if_due, whose comprehension makes
        # a closure cell that a workflow with nothing cancellable should not pay for.
        for step in self.defn.cancellable_steps:
            self._cancel_if_due(step)

    def _cancel_if_due(self, step: WorkflowStep) -> None:
        targets = [
            p
            for p in self.pointers.open()
            if p.step_id == step.id and p.status is not PointerStatus.CANCELLED
        ]
        if not targets or not call_with_data(step.cancel_condition, self.wf.data, None):  # type: ignore[arg-type]
            return
        for pointer in targets:
            if step.proceed_on_cancel:
                self.proceed(pointer, step, None)
            self.close(pointer, PointerStatus.CANCELLED)
            for inner in self.pointers.open():
                if pointer.id in inner.scope:
                    self.close(inner, PointerStatus.CANCELLED)

    # -- what next ---------------------------------------------------------------------------

    def complete_workflow(self) -> None:
        self.wf.status = WorkflowStatus.COMPLETE
        self.wf.complete_time = self.now
        self.wf.next_execution = None
        self.event(LifecycleEventType.WORKFLOW_COMPLETED)

    def determine_next_execution(self) -> None:
        if self.wf.status is not WorkflowStatus.RUNNABLE:
            self.wf.next_execution = None
            return
        open_pointers = self.pointers.open_view()
        busy: set[str] = set()
        for p in open_pointers:
            busy.update(p.scope)
        soonest: datetime | None = None
        for p in open_pointers:
            if not p.active:
                # A wait with a timeout (``sleep_until``) is due then, event or not.
                if p.sleep_until is None or p.status is not PointerStatus.WAITING_FOR_EVENT:
                    continue
            elif p.children and p.id in busy:
                continue  # a container waits for its body, not for the clock
            due = p.sleep_until or self.now
            if soonest is None or due < soonest:
                soonest = due
        if soonest is None and not open_pointers:
            self.wf.next_execution = None
            self.complete_workflow()
            return
        deadline = self.deadline
        if deadline is not None and (soonest is None or deadline < soonest):
            soonest = deadline  # the pass that ends it runs then, even if all else waits
        self.wf.next_execution = soonest
