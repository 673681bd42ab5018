"""One execution pass over one workflow instance.

The host calls ``WorkflowExecutor.execute(instance, definition)`` while it holds the instance's
lease. A pass runs every pointer that is due, one at a time, applies results, handles errors
and cancellations, and works out when the instance should run next. It touches no provider:
what must be written (changed pointers, new subscriptions, errors) comes back in a
``PassResult`` so the host can persist it in one transaction.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

import attrs
from opentelemetry import context as otel_context
from opentelemetry import trace

from . import tracing
from ._definition import WorkflowDefinition, WorkflowStep, arity, call_with_data
from ._lifecycle import LifecycleEvent, LifecycleEventType
from ._models import (
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
)
from ._step import (
    DEFAULT_ERROR_BEHAVIOR,
    MAX_DELAY,
    ErrorBehavior,
    ExecutionResult,
    StepExecutionContext,
)
from ._telemetry import Telemetry, log_fields
from ._threads import StepThreads
from .clock import Clock
from .errors import SerializationError
from .serialization import decode_data, dump_value, encode_data

__all__ = ["MAX_PARALLEL_STEPS", "PassResult", "WorkflowExecutor"]

log = logging.getLogger("wfe.executor")
_Kind = ErrorBehavior.Kind

#: What a step body that returned None proceeds with; private, so nothing can change it.
_NEXT = ExecutionResult.next()

#: Step body class -> whether its ``run`` is ``async def`` (asked once per class, not per run).
_ASYNC_RUN: dict[type, bool] = {}

#: Step bodies of one pass that run at once, by default (``WorkflowHost(max_parallel_steps=)``).
MAX_PARALLEL_STEPS = 64
#: Rounds one pass may run while its rounds run only primitives (``_Pass.run``): a bound, so
#: that a loop of primitives still writes, and yields, as it goes.
PRIMITIVE_ROUNDS = 4


@attrs.define
class PassResult:
    """What a pass produced, for the host to persist and announce."""

    changed: set[str] = attrs.field(factory=set)
    subscriptions: list[EventSubscription] = attrs.field(factory=list)
    errors: list[ExecutionError] = attrs.field(factory=list)
    events: list[LifecycleEvent] = attrs.field(factory=list)
    steps_run: int = 0
    #: The data as stored after the pass's last change, when the pass encoded it already.
    data_text: str | None = None


@attrs.define(slots=True)
class _StepRun:
    """One step body run within a pass: what it returned or raised."""

    pointer: ExecutionPointer
    step: WorkflowStep
    ctx: StepExecutionContext
    was_new: bool
    result: ExecutionResult | None = None
    error: BaseException | None = None
    sleep_until: datetime | None = None
    # Kept only while telemetry observes the pass: the step's span, when its body ended
    # (ns since the epoch) and how long it ran (s).
    span: Any = None
    end_ns: int = 0
    elapsed: float = 0.0


class _Pass:
    """The working state of one pass."""

    def __init__(
        self,
        instance: WorkflowInstance,
        definition: WorkflowDefinition,
        now: datetime,
        host: Any,
        thread_pool: StepThreads | None,
        data_text: str | None,
        max_parallel: int,
        telemetry: Telemetry | None = None,
        span: Any = None,
    ) -> None:
        self.wf = instance
        # Steps are observed (spans, measurements) only when someone records them: the
        # default no-op providers cost the hot path one flag test per step.
        self.telemetry = telemetry
        self.observe = telemetry is not None and telemetry.observing
        self.trace_parent = trace.set_span_in_context(span) if span is not None else None
        self.data_text = data_text  # the data as last stored: what a failed step leaves
        self.max_parallel = max_parallel
        self.defn = definition
        self.steps = definition.steps
        self.pointers = instance.execution_pointers
        self.now = now
        self.host = host
        self.pool = thread_pool
        self.result = PassResult()
        self.last_compensation: ExecutionPointer | None = None
        # Building lifecycle events costs time on every step; skip it when nobody listens.
        hub = getattr(host, "lifecycle", None)
        self.emit = hub is None or hub.active
        self.waiting_on: dict[str, list[ExecutionPointer]] = {}
        for p in self.pointers.open_view():
            if p.status is PointerStatus.PENDING_PREDECESSOR and p.predecessor_id is not None:
                self.waiting_on.setdefault(p.predecessor_id, []).append(p)

    # -- helpers ---------------------------------------------------------------------------

    def event(self, kind: LifecycleEventType, pointer: ExecutionPointer | None = None, **kw: Any) -> None:
        if not self.emit:
            return
        step = self.steps[pointer.step_id] if pointer is not None else None
        self.result.events.append(
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
                scope=list(scope),
                step_name=self.steps[step_id].name,
            )
        )

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

    # -- running steps -----------------------------------------------------------------------

    async def run(self) -> PassResult:
        """Run the due steps; then, while a round ran only primitives, the steps they made due.

        A round that ran no user step (a wait that received its event, a branch or loop
        deciding) changed nothing outside the instance, so running what it made due in the
        same pass loses nothing if the pass is lost, and saves a write: the step after a
        received event runs one commit sooner. A round that opened a wait (starting a child
        workflow opens one too) or recorded an error ends the pass, as does the cap on rounds.
        """
        now, steps, wf, result = self.now, self.steps, self.wf, self.result
        rounds = 0
        while True:  # one round; the usual pass (a user step ran) has only this one
            rounds += 1
            due: list[ExecutionPointer] = []
            users: list[ExecutionPointer] = []
            for p in self.pointers.open():
                if p.active and (p.sleep_until is None or p.sleep_until <= now):
                    due.append(p)
                    if not steps[p.step_id].is_primitive:
                        users.append(p)
            self.process_cancellations()
            # User steps that are due together (parallel branches, parallel foreach items) run
            # at the same time; their results are applied one by one, in pointer order, so the
            # pass's state change is the same as if they had run in that order. Primitives
            # follow, in order: a container then sees the body steps that ended in this pass.
            if users and wf.status is WorkflowStatus.RUNNABLE:
                await self.run_user_steps(users)
            if len(due) > len(users):
                invoke = self.invoke_observed if self.observe else self.invoke
                for pointer in due:
                    if wf.status is not WorkflowStatus.RUNNABLE:
                        break
                    if not pointer.active or pointer.end_time is not None:
                        continue
                    if not steps[pointer.step_id].is_primitive:
                        continue
                    await self.execute_primitive(pointer, invoke)
                    self.process_cancellations()
            if (
                users
                or not due
                or rounds >= PRIMITIVE_ROUNDS
                or wf.status is not WorkflowStatus.RUNNABLE
                or result.subscriptions
                or result.errors
            ):
                break
        self.determine_next_execution()
        return result

    async def run_user_steps(self, pointers: list[ExecutionPointer]) -> None:
        invoke = self.invoke_observed if self.observe else self.invoke
        if len(pointers) == 1:  # the usual pass: one step
            run = self.prepare(pointers[0])
            await invoke(run)
            runs = [run]
        else:
            runs = [self.prepare(p) for p in pointers]
            bound = asyncio.Semaphore(self.max_parallel)

            async def bounded(run: _StepRun) -> None:
                async with bound:
                    await invoke(run)

            tasks = [asyncio.create_task(bounded(run)) for run in runs]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        self.check_data(runs)
        for run in runs:
            if run.pointer.end_time is not None:
                continue  # cancelled while its body ran: the cancellation wins
            self.finish(run)
            self.process_cancellations()

    async def execute_primitive(self, pointer: ExecutionPointer, invoke: Any) -> None:
        step = self.steps[pointer.step_id]
        if step.is_end:
            self.close(pointer, PointerStatus.COMPLETE)
            self.complete_workflow()
            return
        run = self.prepare(pointer)
        await invoke(run)
        if step.outputs and run.error is None:
            self.check_data([run])
        self.finish(run)

    def prepare(self, pointer: ExecutionPointer) -> _StepRun:
        step = self.steps[pointer.step_id]
        was_new = pointer.status is not PointerStatus.RUNNING
        pointer.status = PointerStatus.RUNNING
        if pointer.start_time is None:
            pointer.start_time = self.now
            self.event(LifecycleEventType.STEP_STARTED, pointer)
        self.result.steps_run += 1
        ctx = StepExecutionContext(
            data=self.wf.data,
            workflow=self.wf,
            step=step,
            pointer=pointer,
            item=pointer.context_item,
            persistence_data=pointer.persistence_data,
            host=self.host,
        )
        return _StepRun(pointer, step, ctx, was_new)

    async def invoke(self, run: _StepRun) -> None:
        """Run one step body. Whatever it raises becomes ``run.error``, never the pass's."""
        step, ctx = run.step, run.ctx
        data = ctx.data
        try:
            body = step.make_body()
            for attr, source in step.inputs:
                value = (
                    call_with_data(source, data, ctx)
                    if callable(source) and not isinstance(source, type)
                    else source
                )
                setattr(body, attr, value)
            result = await self.call(step, body, ctx)
            if result is None:
                result = _NEXT
            elif not isinstance(result, ExecutionResult):
                raise TypeError(
                    f"step {step.display_name!r} returned {type(result).__qualname__}; "
                    "return an ExecutionResult or None"
                )
            if result.sleep_for is not None:
                run.sleep_until = self.sleep_until(step, result)
            if (
                result.persistence_data is not None
                or result.outcome_value is not None
                or result.branch_values
            ):
                _check_storable(step, result)
            if ctx.data is not data:
                # The step assigned ctx.data instead of changing it: the new value is the data.
                self.wf.data = data = ctx.data
            if result.proceed:
                self.apply_outputs(step, body, data)
            run.result = result
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the host is stopping this pass, not the step failing
            run.error = exc
        except BaseException as exc:  # noqa: BLE001 - a step body must never stop the host
            run.error = exc

    async def invoke_observed(self, run: _StepRun) -> None:
        """``invoke`` with a span (current while the body runs, so the body's own spans nest
        under it) and a timing; ``finish`` ends the span once the outcome is known."""
        telemetry = self.telemetry
        assert telemetry is not None
        token = None
        if telemetry.tracing:
            run.span = span = telemetry.start_step(self.trace_parent, self.wf, run.step, run.pointer)
            token = otel_context.attach(trace.set_span_in_context(span, self.trace_parent))
        started = time.perf_counter()
        try:
            await self.invoke(run)
        except BaseException:  # the pass is being stopped: the span ends here, unfinished
            if run.span is not None:
                run.span.end()
                run.span = None
            raise
        finally:
            run.elapsed = time.perf_counter() - started
            run.end_ns = time.time_ns()
            if token is not None:
                otel_context.detach(token)

    def sleep_until(self, step: WorkflowStep, result: ExecutionResult) -> datetime | None:
        period = result.sleep_for
        if period is None:
            return None
        if not isinstance(period, timedelta):
            raise TypeError(
                f"step {step.display_name!r} asked to sleep for {period!r} "
                f"({type(period).__qualname__}); give a timedelta"
            )
        if period > MAX_DELAY:
            raise ValueError(
                f"step {step.display_name!r} asked to sleep for {period}, longer than the "
                f"longest delay wfe keeps ({MAX_DELAY.days} days); give a shorter timedelta"
            )
        return self.now + max(period, timedelta(0))

    def check_data(self, runs: list[_StepRun]) -> None:
        """Make sure the data can be stored; if not, the steps that just ran failed.

        Steps that ran together share one data object, so when their combined changes cannot
        be stored, each of them fails (and goes through its error behaviour) and the data
        goes back to what it was before them.
        """
        try:
            self.result.data_text = encode_data(self.wf.data, self.defn.data_type)
        except SerializationError as exc:
            if self.data_text is not None:
                self.wf.data = decode_data(self.data_text, self.defn.data_type)
            for run in runs:
                if run.error is None:
                    run.error = exc
                    run.result = None
        else:
            self.data_text = self.result.data_text

    def finish(self, run: _StepRun) -> None:
        """Apply one step's outcome to the pointers."""
        pointer, step = run.pointer, run.step
        if run.error is not None or run.result is None:
            self.result.changed.add(pointer.id)
            error = run.error or RuntimeError("step did not run")
            if self.observe:
                self.observed(run, tracing.OUTCOME_FAILED, error)
            self.handle_exception(pointer, step, error)
            return
        before = _state(pointer) if step.is_primitive and not run.was_new else None
        self.process_result(pointer, step, run.result, run.sleep_until)
        # A container re-checking its busy body changes nothing: don't rewrite it. (Only for
        # primitives: a user step may have changed its persistence data in place.)
        if before is None or _state(pointer) != before:
            self.result.changed.add(pointer.id)
        if self.observe:
            self.observed(run, _outcome(run.result), None)

    def observed(self, run: _StepRun, outcome: str, error: BaseException | None) -> None:
        assert self.telemetry is not None
        self.telemetry.step_done(
            run.span, run.end_ns, run.elapsed, self.wf, run.step, outcome, error
        )
        run.span = None

    async def call(self, step: WorkflowStep, body: Any, ctx: StepExecutionContext) -> Any:
        run = body.run
        on_loop = _ASYNC_RUN.get(type(body))
        if on_loop is None:
            on_loop = _ASYNC_RUN[type(body)] = inspect.iscoroutinefunction(run)
        if on_loop or step.is_primitive or not step.blocking:
            out = run(ctx)
        elif step.is_async:
            out = step.body(ctx)
        else:
            # Sync user code runs in a worker thread so it cannot stall other workflows.
            if self.pool is not None:
                if self.observe:  # the body's own spans nest under the step's span
                    in_context = contextvars.copy_context().run
                    out = await self.pool.run(lambda c: in_context(run, c), ctx)
                else:
                    out = await self.pool.run(run, ctx)
            else:
                out = await asyncio.to_thread(run, ctx)
        if inspect.isawaitable(out):
            out = await out
        return out

    def apply_outputs(self, step: WorkflowStep, body: Any, data: Any) -> None:
        for target, source in step.outputs:
            if target is None:
                source(body, data)
                continue
            if isinstance(source, str):
                value = getattr(body, source)
            else:
                value = source(body) if arity(source) < 2 else source(body, data)
            if isinstance(data, dict):
                data[target] = value
            else:
                setattr(data, target, value)

    def process_result(
        self,
        pointer: ExecutionPointer,
        step: WorkflowStep,
        result: ExecutionResult,
        sleep_until: datetime | None,
    ) -> None:
        pointer.persistence_data = result.persistence_data
        pointer.outcome = result.outcome_value
        if sleep_until is not None:
            pointer.sleep_until = sleep_until
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
            self.result.subscriptions.append(
                EventSubscription(
                    workflow_id=self.wf.id,
                    step_id=step.id,
                    execution_pointer_id=pointer.id,
                    event_name=result.event_name,
                    event_key=result.event_key or "",
                    subscribe_as_of=result.event_as_of or self.now,
                )
            )
        if result.proceed:
            self.proceed(pointer, step, result.outcome_value)
        elif result.branch_values is not None:
            # Only the latest body's children are kept: a loop's 5,000th iteration must not
            # rewrite the ids of the 4,999 before it (they stay findable through their scope).
            pointer.children = []
            for value in result.branch_values:
                for child_step in step.children:
                    child = self.add_pointer(
                        ExecutionPointer(
                            step_id=child_step,
                            predecessor_id=pointer.id,
                            context_item=value,
                            scope=[pointer.id, *pointer.scope],
                            step_name=self.steps[child_step].name,
                        )
                    )
                    pointer.children.append(child.id)
        elif result.sleep_for is None and result.event_name is None:
            pointer.status = PointerStatus.RUNNING

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

    # -- cancellation ------------------------------------------------------------------------

    def process_cancellations(self) -> None:
        for step in self.defn.cancellable_steps:
            targets = [
                p
                for p in self.pointers.open()
                if p.step_id == step.id and p.status is not PointerStatus.CANCELLED
            ]
            if not targets or not call_with_data(step.cancel_condition, self.wf.data, None):  # type: ignore[arg-type]
                continue
            for pointer in targets:
                if step.proceed_on_cancel:
                    self.proceed(pointer, step, None)
                self.close(pointer, PointerStatus.CANCELLED)
                for inner in self.pointers.open():
                    if pointer.id in inner.scope:
                        self.close(inner, PointerStatus.CANCELLED)

    # -- errors ------------------------------------------------------------------------------

    def handle_exception(
        self, pointer: ExecutionPointer, step: WorkflowStep, exc: BaseException
    ) -> None:
        message = _describe(exc)
        self.result.errors.append(
            ExecutionError(
                workflow_id=self.wf.id,
                execution_pointer_id=pointer.id,
                message=message,
                error_time=self.now,
                step_id=step.id,
                error_type=type(exc).__qualname__,
            )
        )
        self.event(LifecycleEventType.WORKFLOW_ERROR, pointer, message=message)
        pointer.status = PointerStatus.FAILED
        if self.wf.status is not WorkflowStatus.RUNNABLE:
            # A step that ran beside the one that ended the workflow: recorded, nothing more.
            self.log_failure(pointer, step, exc, message)
            return
        self.follow_error_behavior(pointer, exc)
        self.log_failure(pointer, step, exc, message)

    def log_failure(
        self, pointer: ExecutionPointer, step: WorkflowStep, exc: BaseException, message: str
    ) -> None:
        """The one log record of a step's failure, with its traceback, where it is recorded.

        INFO when it will be retried (handled, and the retry may well succeed); WARNING when
        it suspended, terminated or compensated the workflow.
        """
        retrying = (
            self.wf.status is WorkflowStatus.RUNNABLE
            and pointer.end_time is None
            and pointer.sleep_until is not None
        )
        log.log(
            logging.INFO if retrying else logging.WARNING,
            "step %s of workflow %s failed%s: %s",
            step.display_name, self.wf.id, " (retrying)" if retrying else "", message,
            exc_info=exc,
            extra=log_fields(self.wf.id, self.wf.definition_id, step.display_name),
        )

    def follow_error_behavior(self, pointer: ExecutionPointer, exc: BaseException) -> None:
        queue: deque[ExecutionPointer] = deque([pointer])
        while queue:
            failed = queue.popleft()
            failed_step = self.steps[failed.step_id]
            behavior = failed_step.error_behavior
            if behavior is None:
                if self.should_compensate(failed):
                    behavior = ErrorBehavior.compensate()
                else:
                    behavior = self.defn.default_error_behavior or DEFAULT_ERROR_BEHAVIOR
            match behavior.kind:
                case _Kind.RETRY:
                    self.retry(failed, failed_step, behavior, exc)
                case _Kind.SUSPEND:
                    self.suspend(failed)
                case _Kind.TERMINATE:
                    self.terminate()
                case _Kind.COMPENSATE:
                    self.compensate(failed, queue)

    def should_compensate(self, pointer: ExecutionPointer) -> bool:
        for pid in [pointer.id, *pointer.scope]:
            scoped = self.pointers.get(pid)
            if scoped is None:
                continue
            s = self.steps[scoped.step_id]
            if s.compensation_step_id is not None or s.revert_children:
                return True
        return False

    def retry(
        self,
        pointer: ExecutionPointer,
        step: WorkflowStep,
        behavior: ErrorBehavior,
        exc: BaseException,
    ) -> None:
        exhausted = behavior.max_retries is not None and pointer.retry_count >= behavior.max_retries
        if exhausted or isinstance(exc, behavior.non_retryable):
            why = (
                f"retries exhausted after {pointer.retry_count} retries"
                if exhausted
                else f"{type(exc).__qualname__} is not retryable"
            )
            self.result.errors.append(
                ExecutionError(
                    workflow_id=self.wf.id,
                    execution_pointer_id=pointer.id,
                    message=f"step {step.display_name!r}: {why}; workflow suspended — fix the "
                    "cause and resume it",
                    error_time=self.now,
                    step_id=step.id,
                    error_type="RetriesExhaustedError",
                )
            )
            self.suspend(pointer)
            return
        pointer.retry_count += 1
        pointer.sleep_until = self.now + min(behavior.delay_for(pointer.retry_count), MAX_DELAY)
        if self.observe:
            self.telemetry.retried(self.wf, step)  # type: ignore[union-attr]
        self.prime_for_retry(pointer)
        self.result.changed.add(pointer.id)

    def prime_for_retry(self, pointer: ExecutionPointer) -> None:
        # A container that is retried runs its whole body again.
        if self.steps[pointer.step_id].children:
            pointer.persistence_data = None

    def suspend(self, pointer: ExecutionPointer) -> None:
        self.wf.status = WorkflowStatus.SUSPENDED
        self.prime_for_retry(pointer)
        self.event(LifecycleEventType.WORKFLOW_SUSPENDED, pointer)

    def terminate(self) -> None:
        self.wf.status = WorkflowStatus.TERMINATED
        self.wf.complete_time = self.now
        self.wf.next_execution = None
        self.event(LifecycleEventType.WORKFLOW_TERMINATED)

    def compensate(self, failed: ExecutionPointer, bubble_up: deque[ExecutionPointer]) -> None:
        chain = [failed.id, *failed.scope]
        last_compensation = self.last_compensation
        for index, pid in enumerate(chain):
            scoped = self.pointers.get(pid)
            if scoped is None:
                continue
            step = self.steps[scoped.step_id]
            resume, revert = True, False
            for parent_id in chain[index + 1 :]:
                parent = self.pointers.get(parent_id)
                if parent is None:
                    continue
                ps = self.steps[parent.step_id]
                if not ps.resume_children or ps.revert_children:
                    resume, revert = ps.resume_children, ps.revert_children
                    break
            behavior = step.error_behavior
            if behavior is not None and behavior.kind is not _Kind.COMPENSATE:
                bubble_up.append(scoped)
                continue
            self.close(scoped, PointerStatus.FAILED)
            if step.compensation_step_id is not None:
                scoped.status = PointerStatus.COMPENSATED
                last_compensation = self.compensation_pointer(scoped, step, last_compensation)
            if resume and (step.compensation_step_id is not None or step.revert_children):
                for edge in step.outcomes:
                    if edge.matches(None):
                        after = self.next_pointer(scoped, edge.next_step)
                        self.after_compensation(after, last_compensation)
            if revert:
                # Newest first; creation order breaks ties between steps ended in one pass.
                siblings = [
                    (sib.end_time, order, sib)
                    for order, sib in enumerate(self.pointers)
                    if sib.scope == scoped.scope
                    and sib.id != scoped.id
                    and sib.status is PointerStatus.COMPLETE
                ]
                siblings.sort(key=lambda t: (t[0], t[1]), reverse=True)
                for _, _, sib in siblings:
                    sib_step = self.steps[sib.step_id]
                    if sib_step.compensation_step_id is not None:
                        last_compensation = self.compensation_pointer(sib, sib_step, last_compensation)
                        sib.status = PointerStatus.COMPENSATED
                        self.result.changed.add(sib.id)
        self.last_compensation = last_compensation

    def after_compensation(
        self, pointer: ExecutionPointer, compensation: ExecutionPointer | None
    ) -> None:
        """``pointer`` starts only once ``compensation`` (the last of its chain) has ended."""
        if compensation is None or compensation.end_time is not None:
            return
        pointer.predecessor_id = compensation.id
        pointer.status = PointerStatus.PENDING_PREDECESSOR
        pointer.active = False
        self.waiting_on.setdefault(compensation.id, []).append(pointer)

    def compensation_pointer(
        self, of: ExecutionPointer, step: WorkflowStep, previous: ExecutionPointer | None
    ) -> ExecutionPointer:
        """Compensations run strictly one after another: each waits for the previous one."""
        comp = ExecutionPointer(
            step_id=step.compensation_step_id,  # type: ignore[arg-type]
            context_item=of.context_item,
            scope=list(of.scope),
            step_name=self.steps[step.compensation_step_id].name,  # type: ignore[index]
        )
        if previous is not None and previous.end_time is None:
            comp.predecessor_id = previous.id
            comp.status = PointerStatus.PENDING_PREDECESSOR
            comp.active = False
            self.waiting_on.setdefault(previous.id, []).append(comp)
        else:
            comp.predecessor_id = of.id
        return self.add_pointer(comp)

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
                continue
            if p.children and p.id in busy:
                continue  # a container waits for its body, not for the clock
            due = p.sleep_until or self.now
            if soonest is None or due < soonest:
                soonest = due
        self.wf.next_execution = soonest
        if soonest is None and not open_pointers:
            self.complete_workflow()


def _check_storable(step: WorkflowStep, result: ExecutionResult) -> None:
    """What a step hands back is stored with its pointers: refuse it now if it cannot be,
    so that the step fails (and is retried) instead of the pass failing to be written."""
    if not step.is_primitive:
        for value in (result.persistence_data, result.outcome_value):
            if value is not None:
                dump_value(value)
    if result.branch_values:
        dump_value(list(result.branch_values))


def _outcome(result: ExecutionResult) -> str:
    """What a step's result led to, as a ``tracing.OUTCOME_*`` value."""
    if result.proceed:
        return tracing.OUTCOME_NEXT
    if result.event_name is not None:
        return tracing.OUTCOME_WAITING
    if result.branch_values is not None:
        return tracing.OUTCOME_BRANCHED
    if result.sleep_for is not None:
        return tracing.OUTCOME_SLEEPING
    return tracing.OUTCOME_RUNNING


def _describe(exc: BaseException) -> str:
    """The message recorded for a failed step: the type, the text and, for an exit, a hint."""
    text = str(exc)
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        message += " (a step body must not stop the process; raise an exception instead)"
    elif isinstance(exc, asyncio.CancelledError):
        message += " (the step body was cancelled from within)"
    return message


def _state(p: ExecutionPointer) -> tuple[Any, ...]:
    return (
        p.status,
        p.active,
        p.sleep_until,
        p.persistence_data,
        p.outcome,
        tuple(p.children),
        p.end_time,
        p.event_name,
        p.event_key,
        p.retry_count,
    )


class WorkflowExecutor:
    """Runs passes. One per host; stateless between passes."""

    def __init__(
        self,
        clock: Clock,
        host: Any = None,
        thread_pool: StepThreads | None = None,
        max_parallel_steps: int = MAX_PARALLEL_STEPS,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.telemetry = telemetry if telemetry is not None and telemetry.observing else None
        self.clock = clock
        self.host = host
        self.thread_pool = thread_pool
        self.max_parallel_steps = max(1, max_parallel_steps)

    async def execute(
        self,
        instance: WorkflowInstance,
        definition: WorkflowDefinition,
        data_text: str | None = None,
        span: Any = None,
    ) -> PassResult:
        """Run one pass over ``instance``; mutates it and returns what to persist.

        ``data_text`` is the data as last stored: when the steps leave data that cannot be
        stored, they fail and the data goes back to it. ``span``: the pass's span, the parent
        of its steps' spans.
        """
        return await _Pass(
            instance,
            definition,
            self.clock.now(),
            self.host,
            self.thread_pool,
            data_text,
            self.max_parallel_steps,
            self.telemetry,
            span,
        ).run()

