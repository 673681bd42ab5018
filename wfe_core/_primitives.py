"""The built-in steps behind the builder's control flow: containers, waits, delays, routing.

The builder adds these to the graph and configures them through step inputs; the executor runs
them like any step, on the event loop. Each follows the first-call / later-call pattern of
workflow-core: state between calls lives in the pointer's persistence data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ._step import HOSTLESS, ExecutionResult, StepBody, StepExecutionContext
from .errors import SubWorkflowFailedError

__all__ = [
    "Decide",
    "Delay",
    "EndStep",
    "Foreach",
    "If",
    "OutcomeSwitch",
    "Recur",
    "Saga",
    "Schedule",
    "Sequence",
    "SubWorkflow",
    "WaitFor",
    "When",
    "While",
    "branch_complete",
]

#: Subscriptions with no effective date match events from any time.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = timedelta(0)

#: The event a finished child workflow publishes for its parent (key: the child's id).
WORKFLOW_ENDED_EVENT = "wfe.workflow.ended"


def branch_complete(ctx: StepExecutionContext) -> bool:
    """True when every pointer inside this container pointer's scope has ended."""
    pid = ctx.pointer.id
    return not any(pid in p.scope for p in ctx.workflow.execution_pointers.open_view())


_CHILDREN_ACTIVE = {"children_active": True}


class Primitive(StepBody):
    blocking: ClassVar[bool] = False

    @staticmethod
    def after_body(ctx: StepExecutionContext, done: ExecutionResult) -> ExecutionResult:
        """``done`` once every pointer of the body has ended; until then, wait unchanged."""
        if branch_complete(ctx):
            return done
        return ExecutionResult.persist(ctx.persistence_data)

    @staticmethod
    def start_body(ctx: StepExecutionContext) -> ExecutionResult:
        """Start the body once, with this activation's item."""
        return ExecutionResult.branch([ctx.item], dict(_CHILDREN_ACTIVE))


class Sequence(Primitive):
    """Runs its children (the first step of each body) together; done when all have ended."""

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        if ctx.persistence_data is None:
            return self.start_body(ctx)
        return self.after_body(ctx, ExecutionResult.next())


class Saga(Sequence):
    """A sequence whose completed steps are compensated, newest first, when one fails."""


class If(Primitive):
    condition: bool = False

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        if ctx.persistence_data is None:
            return self.start_body(ctx) if self.condition else ExecutionResult.next()
        return self.after_body(ctx, ExecutionResult.next())


class While(If):
    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        if ctx.persistence_data is None:
            return super().run(ctx)
        # Forget the finished body so the next pass re-evaluates the condition.
        return self.after_body(ctx, ExecutionResult.persist(None))


class Foreach(Primitive):
    collection: Any = ()
    parallel: bool = True

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        items = list(self.collection or ())
        state = ctx.persistence_data
        if state is None:
            if not items:
                return ExecutionResult.next()
            if self.parallel:
                return ExecutionResult.branch(items, {"children_active": True})
            return ExecutionResult.branch([items[0]], {"children_active": True, "index": 0})
        if not branch_complete(ctx):
            return ExecutionResult.persist(state)
        index = state.get("index")
        if index is not None and index + 1 < len(items):
            return ExecutionResult.branch(
                [items[index + 1]], {"children_active": True, "index": index + 1}
            )
        return ExecutionResult.next()


class OutcomeSwitch(Primitive):
    """Holds ``when`` branches; each runs if its value equals the predecessor's outcome."""

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        if ctx.persistence_data is None:
            outcome = None
            pred = ctx.pointer.predecessor_id
            if pred is not None:
                prev = ctx.workflow.execution_pointers.get(pred)
                outcome = prev.outcome if prev is not None else None
            result = self.start_body(ctx)
            result.outcome_value = outcome
            return result
        result = self.after_body(ctx, ExecutionResult.next())
        if not result.proceed:
            result.outcome_value = ctx.pointer.outcome
        return result


class When(Primitive):
    expected: Any = None

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        switch = ctx.workflow.execution_pointers.get(ctx.pointer.scope[0]) if ctx.pointer.scope else None
        outcome = switch.outcome if switch is not None else None
        if ctx.persistence_data is None:
            if not (self.expected == outcome or str(self.expected) == str(outcome)):
                return ExecutionResult.next()
            return self.start_body(ctx)
        return self.after_body(ctx, ExecutionResult.next())


class Decide(Primitive):
    """Returns the value of its expression as the outcome; ``branch`` edges match on it."""

    expression: Any = None

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.outcome(self.expression)


class Delay(Primitive):
    """Sleeps for ``period``; a function's answer is checked here, a fixed one at build."""

    period: timedelta = timedelta(0)

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        if ctx.persistence_data is not None:
            return ExecutionResult.next()
        period = self.period
        if isinstance(period, timedelta) and period < _ZERO:
            # Refused, as a fixed negative delay is at build: it is a mistake in the function,
            # and going on at once would hide it.
            raise ValueError(
                f"the delay function of step {ctx.step.display_name!r} returned a negative "
                f"period ({period}); give a timedelta of zero or more"
            )
        return ExecutionResult.sleep(period, persistence_data=True)


class WaitFor(Primitive):
    """Waits for an event; its data is then on the step as ``event_data``.

    With a ``timeout``, the wait also sleeps that long (the pointer's ``sleep_until``); when
    that comes first, the step runs again without the event, sets ``timed_out`` and goes on.
    """

    event_name: str = ""
    event_key: Any = None
    effective_date: datetime | None = None
    timeout: timedelta | None = None
    event_data: Any = None
    timed_out: bool = False

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        if ctx.pointer.event_published:
            self.event_data = ctx.pointer.event_data
            return ExecutionResult.next()
        if ctx.persistence_data == _WAITING:  # woken by the timeout, not by an event
            self.timed_out = True
            ctx.pointer.extension_attributes["timed_out"] = True
            return ExecutionResult.next()
        as_of = self.effective_date or EPOCH
        if not isinstance(as_of, datetime) or as_of.tzinfo is None:
            raise ValueError(
                f"the effective_date of wait_for {self.event_name!r} is {as_of!r}; "
                "give a timezone-aware datetime (use UTC), as publish_event requires"
            )
        result = ExecutionResult.wait_for_event(self.event_name, str(self.event_key), as_of)
        if self.timeout is not None:
            result.sleep_for = self.timeout
            result.persistence_data = dict(_WAITING)
        return result


#: What a wait with a timeout keeps while it waits.
_WAITING = {"timeout": True}


class Schedule(Primitive):
    """Runs its body once, after ``interval``, beside the rest of the workflow."""

    interval: timedelta = timedelta(0)

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        state = ctx.persistence_data
        if state is None:
            return ExecutionResult.sleep(self.interval, {"elapsed": False})
        if not state.get("elapsed"):
            return ExecutionResult.branch([ctx.item], {"elapsed": True})
        return self.after_body(ctx, ExecutionResult.next())


class Recur(Primitive):
    """Runs its body every ``interval`` until ``stop_condition`` holds."""

    interval: timedelta = timedelta(0)
    stop_condition: bool = False

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        if self.stop_condition:
            return ExecutionResult.next()
        result = ExecutionResult.branch([ctx.item], {"recurring": True})
        result.sleep_for = self.interval
        return result


class EndStep(Primitive):
    """Completes the workflow at once; the executor acts on it before ``run``."""

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.next()


class SubWorkflow(Primitive):
    """Starts a child workflow and waits until it ends; its final data is ``result``."""

    definition_id: str = ""
    version: int | None = None
    child_data: Any = None
    result: Any = None

    async def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        pointer = ctx.pointer
        attempt = pointer.extension_attributes.get("child_attempt", 0)
        # A deterministic child id makes the start idempotent if this pass runs again; the
        # attempt number gives a retried step a new child.
        child_id = f"{ctx.workflow.id}.{pointer.id}.{attempt}"
        if not pointer.event_published or pointer.event_key != child_id:
            if ctx.host is HOSTLESS:  # an executor run on its own
                raise RuntimeError("sub_workflow needs a host to start its child workflow")
            await ctx.host._start_child(
                self.definition_id, self.child_data, self.version, child_id, ctx.workflow.id
            )
            return ExecutionResult.wait_for_event(WORKFLOW_ENDED_EVENT, child_id, EPOCH)
        ended = pointer.event_data or {}
        if ended.get("status") != "complete":
            pointer.extension_attributes["child_attempt"] = attempt + 1
            raise SubWorkflowFailedError(
                f"child workflow {child_id} of {self.definition_id!r} ended "
                f"{ended.get('status')}, not complete"
            )
        self.result = ended.get("data")
        return ExecutionResult.next()
