"""``StepInvoker``: runs step bodies for the executor, and ``StepRun``, what one run gave.

The executor's pass (``_executor._Pass``) prepares a ``StepRun`` for each due pointer and hands
it to the executor's one ``StepInvoker``, which builds the body, sets its inputs, calls ``run``
(a sync body in a worker thread, an async one on the loop), checks what it returned and sets
its outputs. Whatever the body raises is kept in the run, never raised into the pass. When
telemetry observes steps, ``invoke_observed`` wraps the same run in the step's span and timing.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
from datetime import timedelta
from typing import Any

import attrs
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from . import tracing
from ._definition import WorkflowStep, arity, call_with_data
from ._failure import describe_error
from ._middleware import MiddlewareChain
from ._models import ExecutionPointer, WorkflowInstance
from ._step import MAX_DELAY, ExecutionResult, StepExecutionContext, StepHost
from ._telemetry import Telemetry
from ._threads import RaisedInThread, StepThreads, call_in_thread
from .errors import StepTimeoutError, WorkflowDeadlineError
from .serialization import dump_value

__all__ = ["StepInvoker", "StepRun", "outcome_of"]

#: What a step body that returned None proceeds with; private, so nothing can change it.
_NEXT = ExecutionResult.next()

#: Step body class -> whether its ``run`` is ``async def`` (asked once per class, not per run).
_ASYNC_RUN: dict[type, bool] = {}


@attrs.define(slots=True)
class StepRun:
    """One step body run within a pass: what it returned or raised."""

    pointer: ExecutionPointer
    step: WorkflowStep
    ctx: StepExecutionContext
    was_new: bool
    result: ExecutionResult | None = None
    error: BaseException | None = None
    #: How long the step asked to sleep, checked (and never negative).
    sleep_for: timedelta | None = None
    # Kept only while telemetry observes the pass: the step's span, when its body ended
    # (ns since the epoch) and how long it ran (s).
    span: Span | None = None
    end_ns: int = 0
    elapsed: float = 0.0
    #: Seconds the body may run (its ``.timeout``, or what is left before the workflow's
    #: deadline, whichever is sooner); None: no limit.
    limit: float | None = None
    #: Whether ``limit`` is the workflow's deadline (then running out ends the workflow).
    limit_is_deadline: bool = False


class StepInvoker:
    """Runs step bodies; one per executor, holding nothing of a pass between runs.

    Args:
        host: what steps see as ``ctx.host``.
        pool: the threads sync bodies run in (None: ``asyncio.to_thread``).
        telemetry: given only when it observes steps (spans or measurements).
    """

    def __init__(
        self, host: StepHost | None, pool: StepThreads | None, telemetry: Telemetry | None,
        middleware: MiddlewareChain | None = None,
    ) -> None:
        self.host = host
        self.pool = pool
        self.telemetry = telemetry
        if middleware is not None and middleware.step_hooks:
            # Wrapped only when some middleware has a ``step`` method: none costs nothing.
            self.call = middleware.wrap(self.call)  # type: ignore[method-assign,assignment]

    async def invoke(self, run: StepRun) -> None:
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
            if run.limit is None:
                result = await self.call(step, body, ctx)
            else:
                result = await self.call_within(run, body)
            if result is None:
                result = _NEXT
            elif not isinstance(result, ExecutionResult):
                raise TypeError(
                    f"step {step.display_name!r} returned {type(result).__qualname__}; "
                    "return an ExecutionResult or None"
                )
            if result.sleep_for is not None:
                run.sleep_for = _sleep_period(step, result.sleep_for)
            if (
                result.persistence_data is not None
                or result.outcome_value is not None
                or result.branch_values
            ):
                _check_storable(step, result)
            if ctx.data is not data:
                # The step assigned ctx.data instead of changing it: the new value is the data.
                ctx.workflow.data = data = ctx.data
            if result.proceed:
                _apply_outputs(step, body, data)
            run.result = result
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the host is stopping this pass, not the step failing
            run.error = exc
        except BaseException as exc:  # noqa: BLE001 - a step body must never stop the host
            run.error = exc.error if exc.__class__ is RaisedInThread else exc

    async def invoke_observed(self, run: StepRun, parent: Context | None) -> None:
        """``invoke`` with a span (current while the body runs, so the body's own spans nest
        under it; ``parent``: the pass's) and a timing; ``step_done`` ends the span once the
        outcome is known."""
        telemetry = self.telemetry
        assert telemetry is not None
        token = None
        if telemetry.tracing:
            run.span = span = telemetry.start_step(parent, run.ctx.workflow, run.step, run.pointer)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
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

    def step_done(
        self, run: StepRun, instance: WorkflowInstance, outcome: str, error: BaseException | None
    ) -> None:
        """An observed run's outcome is known: end its span, count it.

        A span records the error's text, so an error whose text no store or exporter could
        take (see ``describe_error``) is recorded as a ``RuntimeError`` with the safe message.
        """
        assert self.telemetry is not None
        if error is not None:
            message, exact = describe_error(error)
            if not exact:
                error = RuntimeError(message).with_traceback(error.__traceback__)
        self.telemetry.step_done(
            run.span, run.end_ns, run.elapsed, instance, run.step, outcome, error
        )
        run.span = None

    async def call_within(self, run: StepRun, body: Any) -> Any:
        """``call`` limited to ``run.limit`` seconds.

        Raises:
            StepTimeoutError: the body ran out of its step's timeout (an async body was
                cancelled; a sync body's result is discarded when its thread ends).
            WorkflowDeadlineError: the body ran out of the workflow's deadline.
        """
        assert run.limit is not None
        scope = asyncio.timeout(run.limit)
        try:
            async with scope:
                return await self.call(run.step, body, run.ctx)
        except TimeoutError:
            if not scope.expired():
                raise  # the body's own TimeoutError: a failure like any other
            if run.limit_is_deadline:
                raise WorkflowDeadlineError(
                    f"step {run.step.display_name!r} was cancelled: the workflow's deadline passed"
                ) from None
            raise StepTimeoutError(
                f"step {run.step.display_name!r} ran longer than its timeout of "
                f"{run.step.timeout}"
            ) from None

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
                if self.telemetry is not None:  # the body's own spans nest under the step's
                    # A partial, not a lambda: a closure would make cells on every call.
                    in_context = functools.partial(contextvars.copy_context().run, run)
                    out = await self.pool.run(in_context, ctx)
                else:
                    out = await self.pool.run(run, ctx)
            else:
                out = await asyncio.to_thread(call_in_thread, run, ctx)
        # What a body usually gives back needs no look at whether it is awaitable.
        if out is not None and out.__class__ is not ExecutionResult and inspect.isawaitable(out):
            out = await out
        return out


def _sleep_period(step: WorkflowStep, period: object) -> timedelta:
    """A step's ``sleep_for``, checked: a step that asks for a bad one fails."""
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
    return max(period, timedelta(0))


def _check_storable(step: WorkflowStep, result: ExecutionResult) -> None:
    """What a step hands back is stored with its pointers: refuse it now if it cannot be,
    so that the step fails (and is retried) instead of the pass failing to be written."""
    if not step.is_primitive:
        for value in (result.persistence_data, result.outcome_value):
            if value is not None:
                dump_value(value)
    if result.branch_values:
        dump_value(list(result.branch_values))


def _apply_outputs(step: WorkflowStep, body: Any, data: Any) -> None:
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


def outcome_of(result: ExecutionResult) -> str:
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
