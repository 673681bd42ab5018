"""One execution pass over one workflow instance.

The host calls ``WorkflowExecutor.execute(instance, definition)`` while it holds the instance's
lease. A pass runs every pointer that is due, one at a time, applies results, handles errors
and cancellations, and works out when the instance should run next. It touches no provider:
what must be written (changed pointers, new subscriptions, errors) comes back in a
``PassResult`` so the host can persist it in one transaction.

The pass here decides what runs and in what order; the jobs it hands out have their own
modules: running step bodies (``_invoke``), applying their results to the instance
(``_apply``), and what a failure leads to, retries and compensation among it (``_failure``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

import attrs
from opentelemetry import trace
from opentelemetry.trace import Span

from . import tracing
from ._apply import PassResult, PassState
from ._continue import continue_as_new
from ._deadline import deadline_of, expire
from ._definition import WorkflowDefinition
from ._failure import FailurePolicy
from ._invoke import StepInvoker, StepRun, outcome_of
from ._lifecycle import LifecycleEventType
from ._middleware import MiddlewareChain
from ._models import ExecutionPointer, PointerStatus, WorkflowInstance, WorkflowStatus
from ._step import HOSTLESS, StepExecutionContext, StepHost
from ._telemetry import Telemetry
from ._threads import StepThreads
from .clock import Clock
from .errors import SerializationError, WorkflowDeadlineError
from .serialization import decode_data, encode_data

__all__ = ["MAX_PARALLEL_STEPS", "PassResult", "WorkflowExecutor"]

#: Step bodies of one pass that run at once, by default (``WorkflowHost(max_parallel_steps=)``).
MAX_PARALLEL_STEPS = 64
#: Rounds one pass may run while its rounds run only primitives (``_Pass.run``): a bound, so
#: that a loop of primitives still writes, and yields, as it goes.
PRIMITIVE_ROUNDS = 4


class _Pass:
    """One pass: which due steps run, in what order, and where each outcome goes.

    Bodies run through the executor's ``StepInvoker``; results are applied through the pass's
    ``PassState``, failures through a ``FailurePolicy`` made at the first one.
    """

    def __init__(
        self,
        executor: WorkflowExecutor,
        instance: WorkflowInstance,
        definition: WorkflowDefinition,
        now: datetime,
        data_text: str | None,
        span: Span | None,
    ) -> None:
        host = executor.host
        self.clock = executor.clock
        # Building lifecycle events costs time on every step; skip it when nobody listens.
        self.state = PassState(
            instance, definition, now, host is None or host.lifecycle.active
        )
        self.invoker = invoker = executor.invoker
        self.step_host = executor.step_host
        # Steps are observed (spans, measurements) only when someone records them: the
        # default no-op providers cost the hot path one flag test per step.
        self.telemetry = telemetry = executor.telemetry
        self.observe = telemetry is not None
        #: Runs one step body: observed or not, one call that needs nothing more of the pass.
        self.invoke: Callable[[StepRun], Awaitable[None]] = invoker.invoke
        if telemetry is not None:
            parent = trace.set_span_in_context(span) if span is not None else None
            self.invoke = functools.partial(invoker.invoke_observed, parent=parent)
        self.data_text = data_text  # the data as last stored: what a failed step leaves
        self.max_parallel = executor.max_parallel_steps
        self.failures: FailurePolicy | None = None
        #: When the workflow must be over (``_deadline``); None: no deadline.
        self.deadline = self.state.deadline = deadline_of(instance)

    async def run(self) -> PassResult:
        """Run the due steps; then the primitives they made due, and what those make due, up
        to the next user step.

        A primitive (a delay starting, a wait that received its event, a branch or loop
        deciding, the end) changes nothing outside the instance, so running it in the pass of
        the user step before it loses nothing if the pass is lost, and saves a write: the
        step after a received event runs one commit sooner, a step followed by a delay parks
        in one write, the last step and the end complete the workflow in one. Once a user step
        ran, the next user step waits for this pass's write (a pass of primitives alone runs
        the user step they made due: nothing ran that a lost pass would repeat). A round that
        opened a wait (starting a child workflow opens one too) or recorded an error ends the
        pass, as does the cap on rounds.
        """
        state = self.state
        now, steps, wf, result = state.now, state.steps, state.wf, state.result
        if self.deadline is not None and now >= self.deadline:
            expire(state, self.deadline)
            return result
        rounds = 0
        ran_users = False  # once a user step ran, the pass ends before the next one
        while True:  # one round; the usual pass (user step after user step) has only this one
            rounds += 1
            due: list[ExecutionPointer] = []
            users: list[ExecutionPointer] = []
            for p in state.pointers.open():
                if p.active:
                    if p.sleep_until is None or p.sleep_until <= now:
                        due.append(p)
                        if not steps[p.step_id].is_primitive:
                            users.append(p)
                elif (
                    p.sleep_until is not None
                    and p.sleep_until <= now
                    and p.status is PointerStatus.WAITING_FOR_EVENT
                ):
                    # A wait whose timeout passed with no event: it runs to give up.
                    p.active = True
                    due.append(p)
            if ran_users and users:
                break  # the next user step runs after this pass is stored
            state.process_cancellations()
            # User steps that are due together (parallel branches, parallel foreach items) run
            # at the same time; their results are applied one by one, in pointer order, so the
            # pass's state change is the same as if they had run in that order. Primitives
            # follow, in order: a container then sees the body steps that ended in this pass.
            if users and wf.status is WorkflowStatus.RUNNABLE:
                ran_users = True
                state.primitive_added = False
                # Here rather than in a coroutine of its own: one object less a pass.
                if len(users) == 1:  # the usual pass: one step
                    run = self.prepare(users[0])
                    await self.invoke(run)
                    runs = [run]
                else:
                    runs = list(map(self.prepare, users))  # no comprehension: no closure
                    await self.run_together(runs)
                self.users_ran(runs)
            if len(due) > len(users):
                for pointer in due:
                    if wf.status is not WorkflowStatus.RUNNABLE:
                        break
                    if not pointer.active or pointer.end_time is not None:
                        continue
                    if not steps[pointer.step_id].is_primitive:
                        continue
                    await self.execute_primitive(pointer)
                    state.process_cancellations()
            if (
                (users and not state.primitive_added)  # the usual pass ends here
                or not due
                or rounds >= PRIMITIVE_ROUNDS
                or wf.status is not WorkflowStatus.RUNNABLE
                or result.subscriptions
                or result.errors
            ):
                break
            if ran_users:  # primitives follow the user steps: a delay counts from now
                state.primitive_added = False
                now = state.now = self.clock.now()
        state.determine_next_execution()
        return result

    def users_ran(self, runs: list[StepRun]) -> None:
        """Apply what the user steps that ran together gave, in pointer order."""
        if self.deadline is not None and any(
            run.error.__class__ is WorkflowDeadlineError for run in runs
        ):
            # The deadline cut the steps short: their outcomes no longer matter.
            self.state.now = max(self.state.now, self.deadline)
            expire(self.state, self.deadline)
            return
        self.check_data(runs)
        for run in runs:
            if run.pointer.end_time is not None:
                continue  # cancelled while its body ran: the cancellation wins
            self.finish(run)
            self.state.process_cancellations()

    async def run_together(self, runs: list[StepRun]) -> None:
        """Run several bodies at once, at most ``max_parallel`` at a time (a method of its
        own, so that the usual pass, one step, makes no closure)."""
        invoke = self.invoke
        bound = asyncio.Semaphore(self.max_parallel)

        async def bounded(run: StepRun) -> None:
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

    async def execute_primitive(self, pointer: ExecutionPointer) -> None:
        step = self.state.steps[pointer.step_id]
        if step.is_end:
            self.state.close(pointer, PointerStatus.COMPLETE)
            self.state.complete_workflow()
            return
        run = self.prepare(pointer)
        await self.invoke(run)
        if step.outputs and run.error is None:
            self.check_data([run])
        self.finish(run)

    def prepare(self, pointer: ExecutionPointer) -> StepRun:
        state = self.state
        step = state.steps[pointer.step_id]
        status = pointer.status
        was_new = status is not PointerStatus.RUNNING
        pointer.status = PointerStatus.RUNNING
        if pointer.start_time is None:
            pointer.start_time = state.now
            state.event(LifecycleEventType.STEP_STARTED, pointer)
        elif status is PointerStatus.FAILED:  # a retry (or a resume): another attempt starts
            state.event(LifecycleEventType.STEP_STARTED, pointer)
        state.result.steps_run += 1
        ctx = StepExecutionContext(
            data=state.wf.data,
            workflow=state.wf,
            step=step,
            pointer=pointer,
            item=pointer.context_item,
            persistence_data=pointer.persistence_data,
            host=self.step_host,
        )
        run = StepRun(pointer, step, ctx, was_new)
        if step.timeout is not None:
            run.limit = step.timeout.total_seconds()
        if self.deadline is not None and not step.is_primitive:
            left = (self.deadline - state.now).total_seconds()
            if run.limit is None or left < run.limit:
                run.limit, run.limit_is_deadline = max(left, 0.0), True
        return run

    def check_data(self, runs: list[StepRun]) -> None:
        """Make sure the data can be stored; if not, the steps that just ran failed.

        Steps that ran together share one data object, so when their combined changes cannot
        be stored, each of them fails (and goes through its error behaviour) and the data
        goes back to what it was before them. So do they when a step replaced the data of a
        typed workflow with something else (stored, it would be read back as the defaults).
        """
        state = self.state
        data = state.wf.data
        try:
            if data.__class__ is not state.defn.data_type and data is not None:
                _check_data_type(data, state.defn.data_type, runs)
            state.result.data_text = encode_data(data, state.defn.data_type)
        except (SerializationError, TypeError) as exc:
            if self.data_text is not None:
                state.wf.data = decode_data(self.data_text, state.defn.data_type)
            for run in runs:
                if run.error is None:
                    run.error = exc
                    run.result = None
        else:
            self.data_text = state.result.data_text

    def finish(self, run: StepRun) -> None:
        """Apply one step's outcome to the pointers."""
        pointer, step, state = run.pointer, run.step, self.state
        if run.result is not None and run.result.continues and run.error is None:
            if _continue_as_new(self, run):
                return
        if run.error is not None or run.result is None:
            state.result.changed.add(pointer.id)
            error = run.error or RuntimeError("step did not run")
            if self.observe:
                self.invoker.step_done(run, state.wf, tracing.OUTCOME_FAILED, error)
            failures = self.failures
            if failures is None:
                failures = self.failures = FailurePolicy(state, self.telemetry)
            failures.handle(pointer, step, error)
            return
        before = _state(pointer) if step.is_primitive and not run.was_new else None
        state.apply(pointer, step, run.result, run.sleep_for)
        # A container re-checking its busy body changes nothing: don't rewrite it. (Only for
        # primitives: a user step may have changed its persistence data in place.)
        if before is None or _state(pointer) != before:
            state.result.changed.add(pointer.id)
        if self.observe:
            self.invoker.step_done(run, state.wf, outcome_of(run.result), None)


def _continue_as_new(pass_: _Pass, run: StepRun) -> bool:
    """Continue the workflow as new with the data ``run``'s step gave; False when that data
    cannot be stored (the step then fails with why, through its error behaviour)."""
    state = pass_.state
    data = run.result.continue_data if run.result is not None else None
    try:
        if data.__class__ is not state.defn.data_type and data is not None:
            _check_data_type(data, state.defn.data_type, [run])
        text = encode_data(data, state.defn.data_type)
    except (SerializationError, TypeError) as exc:
        run.error, run.result = exc, None
        return False
    if pass_.observe:
        pass_.invoker.step_done(run, state.wf, tracing.OUTCOME_NEXT, None)
    continue_as_new(state, data, text)
    pass_.data_text = text
    return True


def _check_data_type(data: Any, data_type: Any, runs: list[StepRun]) -> None:
    """Refuse data that is not of a typed workflow's data class (attrs class or dataclass)."""
    if not isinstance(data_type, type) or not (
        attrs.has(data_type) or dataclasses.is_dataclass(data_type)
    ):
        return
    if isinstance(data, data_type):
        return
    names = ", ".join(repr(run.step.display_name) for run in runs)
    raise TypeError(
        f"step{'s' if len(runs) > 1 else ''} {names} left the workflow data as a {type(data).__qualname__}, but this "
        f"workflow's data is a {data_type.__qualname__}: assign a {data_type.__qualname__} to "
        "ctx.data, or change its fields in place"
    )


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
        host: StepHost | None = None,
        thread_pool: StepThreads | None = None,
        max_parallel_steps: int = MAX_PARALLEL_STEPS,
        telemetry: Telemetry | None = None,
        middleware: MiddlewareChain | None = None,
    ) -> None:
        self.telemetry = telemetry if telemetry is not None and telemetry.observing else None
        self.clock = clock
        self.host = host
        #: What steps see as ``ctx.host``.
        self.step_host: StepHost = host if host is not None else HOSTLESS
        self.thread_pool = thread_pool
        self.max_parallel_steps = max(1, max_parallel_steps)
        self.invoker = StepInvoker(host, thread_pool, self.telemetry, middleware)

    def execute(
        self,
        instance: WorkflowInstance,
        definition: WorkflowDefinition,
        data_text: str | None = None,
        span: Span | None = None,
    ) -> Coroutine[Any, Any, PassResult]:
        """Run one pass over ``instance`` (await it); mutates it and returns what to persist.

        ``data_text`` is the data as last stored: when the steps leave data that cannot be
        stored, they fail and the data goes back to it. ``span``: the pass's span, the parent
        of its steps' spans. Not a coroutine itself: it hands back the pass's, one coroutine
        less a pass.
        """
        return _Pass(self, instance, definition, self.clock.now(), data_text, span).run()

    async def fail_pass(
        self,
        instance: WorkflowInstance,
        definition: WorkflowDefinition,
        error: BaseException,
        data_text: str | None = None,
    ) -> PassResult:
        """The pass over ``instance`` (as stored) whose write the store refused, again, with
        every step that was due failing with ``error`` unrun: recorded, and through its error
        behaviour (retry later, suspend, terminate, compensate)."""
        run = _Pass(self, instance, definition, self.clock.now(), data_text, None)

        async def refused(step_run: StepRun) -> None:
            step_run.error = error

        run.invoke = refused
        return await run.run()
