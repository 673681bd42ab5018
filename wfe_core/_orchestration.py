"""Durable functions: ``@orchestration`` turns an ``async def`` into a workflow definition.

The definition has three steps, so that hosts, providers, the CLI, search and telemetry run it
as any other workflow:

* step 0, the orchestrator (``OrchestratorStep``): each pass replays the function from its
  history (kept in this pointer's persistence data, see ``_history``), runs the activities it
  now waits for (those of one ``gather`` at the same time), records their results, and ends
  the pass, so the next one goes on from a durable record. Waits (timers, events,
  sub-orchestrations) become child pointers of this one, so that no thread is held while a
  workflow waits; the pass that sees a child end records it and replays again.
* step 1, ``AwaitStep``: one wait, described by its context item; it ends when the timer is
  due, the event came or the child workflow ended, and cancels the other waits of the same
  ``select`` then (their orchestrator would otherwise wait for them as for its body).
* step 2, ``FailedStep``: where a function that raised goes; it raises the recorded error,
  so that it is recorded as the workflow's error, and terminates the workflow.

Replay errors (``NonDeterminismError``, an await of something else) fail the orchestrator
step, whose error behaviour suspends the workflow: fix the code and resume it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, get_type_hints

import attrs

from ._definition import StepOutcome, WorkflowDefinition, WorkflowStep
from ._failure import describe_error
from ._history import DEFAULT_MAX_HISTORY, History, HistoryLimitError, OrchestrationFailedError
from ._models import PointerStatus
from ._orchestration_context import (
    WAIT_KINDS,
    Blocked,
    ContinuedAsNew,
    Operation,
    OrchestrationContext,
    Raised,
    RetryPolicy,
    Returned,
    close,
    replay,
)
from ._primitives import EPOCH, WORKFLOW_ENDED_EVENT
from ._step import HOSTLESS, ErrorBehavior, ExecutionResult, StepBody, StepExecutionContext
from .serialization import dump_value

__all__ = ["OrchestrationDefinition", "orchestration"]

log = logging.getLogger("wfe.orchestration")

#: The outcome of an orchestrator whose function raised: it leads to ``FailedStep``.
_FAILED = "wfe.orchestration.failed"
_AWAIT_STEP = 1
_FAILED_STEP = 2


@attrs.define(eq=False)
class OrchestrationDefinition(WorkflowDefinition):
    """The workflow definition of a durable function (``@orchestration``).

    Attributes:
        function: the ``async def`` it replays.
        max_history: events one generation of its history may hold.
    """

    function: Callable[..., Coroutine[Any, Any, Any]] | None = None
    max_history: int = DEFAULT_MAX_HISTORY
    takes_input: bool = True


def orchestration(
    name: str, version: int = 1, *, max_history: int = DEFAULT_MAX_HISTORY,
    description: str | None = None,
) -> Callable[[Callable[..., Coroutine[Any, Any, Any]]], OrchestrationDefinition]:
    """Make ``async def fn(ctx, input)`` a durable function: a workflow definition to register.

    The function's input is the workflow's data (typed by the annotation of its second
    parameter, as a builder's data type); what it returns is ``instance.result``.

    Args:
        name: the definition id (``host.start_workflow(name, input)``).
        version: as for builder definitions: running workflows keep the version they started
            with, so a change to the function's operations is a new version.
        max_history: events one generation may record; beyond it the workflow fails with a
            ``HistoryLimitError`` (``ctx.continue_as_new`` starts a fresh one).
        description: the workflow's description (default: the function's docstring's first line).

    Raises:
        TypeError: the function is not an ``async def`` taking the context (and an input).
    """
    if not isinstance(max_history, int) or max_history < 1:
        raise ValueError(f"max_history must be an int >= 1, not {max_history!r}")

    def decorate(fn: Callable[..., Coroutine[Any, Any, Any]]) -> OrchestrationDefinition:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"@orchestration({name!r}) decorates an async def taking (ctx, input); "
                f"{getattr(fn, '__qualname__', fn)!r} is not one"
            )
        params = list(inspect.signature(fn).parameters.values())
        if not 1 <= len(params) <= 2:
            raise TypeError(
                f"@orchestration({name!r}): {fn.__qualname__} must take (ctx) or (ctx, input), "
                f"not {len(params)} parameters"
            )
        data_type: Any = dict
        if len(params) == 2:
            hints = get_type_hints(fn)
            data_type = hints.get(params[1].name, dict)
        body = type(
            fn.__name__, (OrchestratorStep,),
            {"__module__": fn.__module__, "__qualname__": fn.__qualname__},
        )
        doc = (fn.__doc__ or "").strip().splitlines()
        definition = OrchestrationDefinition(
            id=name,
            version=version,
            steps=[
                WorkflowStep(
                    id=0, body=body, name=name, children=[_AWAIT_STEP],
                    outcomes=[StepOutcome(_FAILED_STEP, _FAILED)],
                    error_behavior=ErrorBehavior.suspend(), blocking=False,
                ),
                WorkflowStep(
                    id=_AWAIT_STEP, body=AwaitStep, name="await", is_primitive=True,
                    blocking=False, parent=0,
                ),
                WorkflowStep(
                    id=_FAILED_STEP, body=FailedStep, name="failed",
                    error_behavior=ErrorBehavior.terminate(), blocking=False,
                ),
            ],
            data_type=data_type,
            default_error_behavior=ErrorBehavior.suspend(),
            description=description or (doc[0] if doc else None),
            function=fn,
            max_history=max_history,
            takes_input=len(params) == 2,
        )
        body.definition = definition  # type: ignore[attr-defined]
        return definition

    return decorate


def _clock_now(ctx: StepExecutionContext) -> datetime:
    host = ctx.host
    clock = getattr(host, "clock", None) if host is not HOSTLESS else None
    return clock.now() if clock is not None else datetime.now(UTC)


class OrchestratorStep(StepBody):
    """Step 0 of a durable function: one replay per pass (see the module docstring)."""

    blocking: ClassVar[bool] = False
    definition: ClassVar[OrchestrationDefinition]

    async def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        return await _Turn(self.definition, ctx).run()


@attrs.define
class _Suspended:
    """A function as its last pass on this process left it, to go on from without a replay.

    ``raw`` is the persistence data that pass returned: only a pass handed that very object
    (the host kept the instance and its lease, and nothing else wrote it) may use the rest;
    any other pass (a reload, another host's write, a refused write) replays from the store.
    """

    raw: Any
    history: History
    octx: OrchestrationContext | None = None
    coro: Coroutine[Any, Any, Any] | None = None

    def discard(self) -> None:
        if self.coro is not None:
            close(self.coro)


#: Functions kept between passes on this process, by workflow id, least recently used first.
_SUSPENDED: OrderedDict[str, _Suspended] = OrderedDict()
_MAX_SUSPENDED = 4096
#: Attempts of a gather's calls still running when their pass ended, by (workflow id,
#: generation, operation): the next pass on this process awaits them instead of starting
#: them again. If the process dies, the next host runs them again (at least once).
_IN_FLIGHT: dict[tuple[str, int, int], asyncio.Task[tuple[bool, Any]]] = {}
_MAX_IN_FLIGHT = 10_000


class _Turn:
    """One pass of the orchestrator."""

    def __init__(self, definition: OrchestrationDefinition, ctx: StepExecutionContext) -> None:
        self.definition = definition
        self.ctx = ctx
        self.wid = ctx.workflow.id
        self.raw = ctx.persistence_data
        kept = _SUSPENDED.pop(self.wid, None)
        if kept is not None and kept.raw is not self.raw:
            kept.discard()
            kept = None
        self.kept = kept
        self.history = kept.history if kept is not None else History(self.raw)
        self.octx: OrchestrationContext | None = None
        self.coro: Coroutine[Any, Any, Any] | None = None
        self.now = _clock_now(ctx)
        self.pointers = ctx.workflow.execution_pointers

    async def run(self) -> ExecutionResult:
        try:
            result = await self.turn()
        except BaseException:
            if self.coro is not None:
                close(self.coro)
            raise
        return result

    def keep(self, result: ExecutionResult) -> ExecutionResult:
        """Keep the history (and the blocked coroutine) for the next pass on this process."""
        _SUSPENDED[self.wid] = _Suspended(result.persistence_data, self.history, self.octx, self.coro)
        self.coro = None
        while len(_SUSPENDED) > _MAX_SUSPENDED:
            _SUSPENDED.popitem(last=False)[1].discard()
        return result

    async def turn(self) -> ExecutionResult:
        history = self.history
        news = self.absorb_waits()
        retry_due = history.retry_at is not None and history.retry_at <= self.now
        kept = self.kept
        if history.waiting and not news and not retry_due:
            # Another wait of a gather ended, or one was just started: nothing to replay.
            if kept is not None:
                self.octx, self.coro = kept.octx, kept.coro
            return self.keep(ExecutionResult.persist(history.dump()))
        history.waiting = False
        history.retry_at = None
        definition = self.definition
        assert definition.function is not None
        if kept is not None and kept.coro is not None and kept.octx is not None:
            octx, coro = kept.octx, kept.coro  # blocked last pass: it goes on from there
            octx._now = self.now
        else:
            octx = OrchestrationContext(history, self.now, self.wid, definition.max_history, log)
            data = self.ctx.data
            coro = definition.function(octx, data) if definition.takes_input else definition.function(octx)
        self.octx, self.coro = octx, coro
        try:
            outcome = replay(coro, octx)
        except HistoryLimitError as exc:
            outcome = Raised(exc)
        if isinstance(outcome, Blocked):
            return self.keep(await self.blocked(outcome))
        self.coro = None  # it returned or raised
        cancel = self.open_waits(keep=())
        pointer = self.ctx.pointer
        if isinstance(outcome, Returned):
            dump_value(outcome.value)  # refuse a result no store could keep, naming its path
            pointer.extension_attributes["result"] = outcome.value
            return ExecutionResult(proceed=True, persistence_data=history.dump(), cancel=cancel)
        if isinstance(outcome, ContinuedAsNew):
            self.ctx.data = outcome.data
            fresh = History(None)
            fresh.generation = history.generation + 1
            return ExecutionResult(persistence_data=fresh.dump(), cancel=cancel)
        pointer.extension_attributes["error"] = _recorded(outcome.error)
        return ExecutionResult(
            proceed=True, outcome_value=_FAILED, persistence_data=history.dump(), cancel=cancel
        )

    def absorb_waits(self) -> bool:
        """Note the waits started last pass, and record the ones that ended since (in the
        order they ended). True when one did."""
        history, pointers = self.history, self.pointers
        for cid in self.ctx.pointer.children:
            child = pointers.get(cid)
            item = child.context_item if child is not None else None
            if isinstance(item, dict) and item.get("gen") == history.generation:
                history.waits.setdefault(str(item["seq"]), cid)
        ended = []
        for key, pid in history.waits.items():
            seq = int(key)
            child = pointers.get(pid)
            if seq in history.done or child is None or child.status is not PointerStatus.COMPLETE:
                continue
            ended.append((child.end_time, seq, child.outcome or {}))
        ended.sort(key=lambda e: (e[0], e[1]))
        for _, seq, outcome in ended:
            event: dict[str, Any] = {"done": seq}
            if "error" in outcome:
                event["error"] = outcome["error"]
            else:
                event["value"] = outcome.get("value")
            self.append(event)
        return bool(ended)

    def append(self, event: dict[str, Any]) -> None:
        self.history.append(event, self.definition.max_history)

    def open_waits(self, keep: Any, wake: datetime | None = None) -> list[str]:
        """Ids of wait pointers still open whose operation is not in ``keep``, and of retry
        timers (``retry_timers``) not due at ``wake``."""
        out = []
        for key, pid in self.history.waits.items():
            if int(key) in keep:
                continue
            child = self.pointers.get(pid)
            if child is not None and child.end_time is None:
                out.append(pid)
        out += [pid for pid, at in self.retry_timers().items() if at != wake]
        return out

    def retry_timers(self) -> dict[str, datetime]:
        """Open retry timers (pointer id -> when): a call's retry while other waits are open.
        The orchestrator pointer then waits for its children, not for its own clock, so the
        retry gets a timer child of its own to wake the workflow when it is due."""
        me = self.ctx.pointer.id
        return {
            p.id: p.context_item["at"] for p in self.pointers.open_view()
            if p.predecessor_id == me and isinstance(p.context_item, dict)
            and p.context_item.get("retry")
        }

    async def blocked(self, blocked: Blocked) -> ExecutionResult:
        history = self.history
        pending = [op for op in blocked.operations if op.seq not in history.done]
        calls = [op for op in pending if op.kind == "call"]
        due = [op for op in calls if self.retry_time(op) <= self.now]
        running = await self.run_calls(due) if due else False
        decided = blocked.mode == "any" and any(op.seq in history.done for op in blocked.operations)
        keep = set() if decided else {op.seq for op in pending}
        starts = []
        if not decided:
            group = f"{history.generation}.{blocked.operations[0].seq}" if blocked.mode == "any" else None
            for op in pending:
                if op.kind in WAIT_KINDS and str(op.seq) not in history.waits:
                    starts.append({**op.spec, "seq": op.seq, "gen": history.generation, "group": group})
        # A call still running ends the pass too, so that what finished is written now; the
        # next pass, at once, awaits the rest.
        progressed = running or any(op.seq in history.done for op in due)
        retries = [self.retry_time(op) for op in calls if op.seq not in history.done]
        if not progressed and retries:
            history.retry_at = min(retries)
        history.waiting = not progressed and not retries
        cancel = self.open_waits(keep, history.retry_at)
        waits_stay = starts or any(
            pid not in cancel and (child := self.pointers.get(pid)) is not None
            and child.end_time is None for pid in history.waits.values()
        )
        if (
            history.retry_at is not None and not progressed and waits_stay
            and history.retry_at not in self.retry_timers().values()
        ):
            starts.append({"kind": "timer", "at": history.retry_at, "retry": True})
        result = ExecutionResult(
            persistence_data=history.dump(), cancel=cancel or None,
            branch_values=starts or None,
        )
        if history.retry_at is not None and not progressed:
            result.sleep_for = max(history.retry_at - self.now, timedelta(0))
        return result

    def retry_time(self, op: Operation) -> datetime:
        attempts = self.history.attempts.get(op.seq)
        return attempts[-1]["at"] if attempts else self.now

    async def run_calls(self, due: list[Operation]) -> bool:
        """Run an attempt of each due call at once; record each that ended. With several, the
        pass ends when the first ends, so that no finished call is lost to a crash while
        another still runs: those go on, and the next pass awaits them. True when one does."""
        if len(due) == 1 and (self.wid, self.history.generation, due[0].seq) not in _IN_FLIGHT:
            ok, outcome = await self.attempt(due[0])  # the usual case: one call, no task
            self.record(due[0], ok, outcome)
            return False
        gen = self.history.generation
        tasks: dict[int, asyncio.Task[tuple[bool, Any]]] = {}
        for op in due:
            task = _IN_FLIGHT.pop((self.wid, gen, op.seq), None)
            tasks[op.seq] = task if task is not None else asyncio.ensure_future(self.attempt(op))
        try:
            await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            for task in tasks.values():
                task.cancel()
            raise
        running = False
        for op in due:
            task = tasks[op.seq]
            if task.done():
                self.record(op, *task.result())
            else:
                _IN_FLIGHT[(self.wid, gen, op.seq)] = task
                running = True
        if len(_IN_FLIGHT) > _MAX_IN_FLIGHT:  # attempts no pass came back for (a lost lease)
            for key in [k for k, t in _IN_FLIGHT.items() if t.done()]:
                del _IN_FLIGHT[key]
        return running

    async def attempt(self, op: Operation) -> tuple[bool, Any]:
        """Run one attempt of an activity: (True, its value) or (False, its error)."""
        fn, args, kwargs, retry, timeout = op.spec
        try:
            if inspect.iscoroutinefunction(fn):
                work: Any = fn(*args, **kwargs)
            else:
                work = asyncio.to_thread(fn, *args, **kwargs)
            value = await (asyncio.wait_for(work, timeout) if timeout is not None else work)
            dump_value(value)  # a result no store could keep fails the attempt, naming its path
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the host is stopping the pass
            return False, TimeoutError(f"{op.name} was cancelled")
        except Exception as exc:  # noqa: BLE001 - the activity's failure, recorded
            return False, exc
        return True, value

    def record(self, op: Operation, ok: bool, outcome: Any) -> None:
        """Record what an attempt came to: the call's value, its failure, or a retry."""
        if ok:
            self.append({"done": op.seq, "value": outcome})
            return
        error: BaseException = outcome
        retry = op.spec[3]
        recorded = _recorded(error)
        failed = len(self.history.attempts.get(op.seq, ())) + 1
        policy = retry or RetryPolicy(max_attempts=1)
        if failed >= policy.max_attempts or isinstance(error, policy.non_retryable):
            self.append({"done": op.seq, "error": recorded})
            return
        at = self.now + policy.delay_for(failed)
        self.append({"attempt": op.seq, "error": recorded, "at": at})


def _recorded(error: BaseException) -> list[str]:
    """An error as the history keeps it: [qualified type name, message]."""
    cls = type(error)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    message, _ = describe_error(error)  # safe for every store; it starts with the type's name
    prefix = f"{cls.__qualname__}: "
    return [name, message[len(prefix):] if message.startswith(prefix) else message]


class AwaitStep(StepBody):
    """Step 1: one wait of a durable function (its context item says which)."""

    blocking: ClassVar[bool] = False

    async def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        spec = ctx.item
        pointer = ctx.pointer
        kind = spec["kind"]
        if kind == "timer":
            if ctx.persistence_data is None:
                assert pointer.start_time is not None
                remaining = spec["at"] - pointer.start_time
                if remaining > timedelta(0):
                    return ExecutionResult.sleep(remaining, {"slept": True})
            return self.done(ctx, {"value": None})
        if kind == "event":
            if not pointer.event_published:
                return ExecutionResult.wait_for_event(spec["name"], spec["key"], EPOCH)
            return self.done(ctx, {"value": pointer.event_data})
        # A sub-orchestration: its id is fixed by its place, so a pass run again starts none.
        child_id = f"{ctx.workflow.id}.{spec['gen']}.{spec['seq']}"
        if not pointer.event_published:
            if ctx.host is HOSTLESS:
                raise RuntimeError("a sub-orchestration needs a host to start its child workflow")
            await ctx.host._start_child(
                spec["definition"], spec["data"], spec["version"], child_id, ctx.workflow.id
            )
            return ExecutionResult.wait_for_event(WORKFLOW_ENDED_EVENT, child_id, EPOCH)
        ended = pointer.event_data or {}
        child = await ctx.host.get_workflow(child_id)
        if ended.get("status") == "complete":
            return self.done(ctx, {"value": child.result})
        first = next(iter(child.execution_pointers), None)
        error = first.extension_attributes.get("error") if first is not None else None
        return self.done(ctx, {"error": error or [
            "wfe.errors.SubWorkflowFailedError", f"child workflow {child_id} ended {ended.get('status')}"
        ]})

    @staticmethod
    def done(ctx: StepExecutionContext, outcome: dict[str, Any]) -> ExecutionResult:
        group = ctx.item.get("group")
        losers = None
        if group is not None:  # the first wait of a select to end: the others lost
            losers = [
                p.id for p in ctx.workflow.execution_pointers.open_view()
                if p.id != ctx.pointer.id and p.step_id == ctx.pointer.step_id
                and isinstance(p.context_item, dict) and p.context_item.get("group") == group
            ]
        return ExecutionResult(proceed=True, outcome_value=outcome, cancel=losers or None)


class FailedStep(StepBody):
    """Step 2: the durable function raised; record its error and terminate the workflow."""

    blocking: ClassVar[bool] = False

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        first = next(iter(ctx.workflow.execution_pointers))
        error_type, message = first.extension_attributes.get("error") or ["?", "?"]
        raise OrchestrationFailedError(f"the durable function raised {error_type}: {message}")
