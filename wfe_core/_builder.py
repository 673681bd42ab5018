"""The fluent builder: ``WorkflowBuilder`` and the ``StepBuilder`` returned by each call.

Builders only record; ``build(id, version)`` checks the whole graph and raises one
``DefinitionError`` listing every problem. Container bodies are functions that receive a fresh
builder sharing the same graph; the first step they add becomes the container's child.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, overload

import attrs

from . import _primitives as p
from ._activities import Activity
from ._continue import ContinueAsNew
from ._deadline import deadline_problem
from ._definition import StepOutcome, WorkflowDefinition, WorkflowStep
from ._priority import DEFAULT_PRIORITY, priority_problem
from ._step import ErrorBehavior, StepBody, StepExecutionContext, check_period
from ._typevars import D, S
from ._user_tasks import UserTask
from .errors import DefinitionError

__all__ = ["ParallelBuilder", "StepBuilder", "WorkflowBuilder"]

#: A container body: a function that adds steps to the fresh builder it is given.
Body = Callable[["WorkflowBuilder[D]"], object]
#: A function of the data, or of the data and the step's context (the builder counts the
#: parameters). Named functions are checked; a lambda's parameters are not, as mypy infers
#: them only where one callable type is possible.
DataFn = Callable[[D], Any] | Callable[[D, StepExecutionContext[D]], Any]
#: A step: a ``StepBody`` subclass, or a function of the step's context.
Step = type[StepBody[Any]] | Callable[[StepExecutionContext[D]], object]
#: The step body class that ``then``/``start_with`` were given (``StepBuilder[D, S]``).
S2 = TypeVar("S2", bound=StepBody[Any])


class _Graph:
    """The steps under construction and the problems found so far."""

    def __init__(self) -> None:
        self.steps: list[WorkflowStep] = []
        self.problems: list[str] = []
        self.attachments: list[tuple[int, str]] = []

    def add(self, body: Any, *, name: str | None = None, **config: Any) -> WorkflowStep:
        step_id = len(self.steps)
        if isinstance(body, type) and issubclass(body, StepBody):
            primitive = issubclass(body, p.Primitive)
            blocking = body.blocking
        elif callable(body) and not isinstance(body, type):
            primitive, blocking = False, True
        else:
            self.problems.append(
                f"step {step_id} ({name or body!r}) is neither a StepBody subclass nor a callable"
            )
            primitive, blocking = False, True
        step = WorkflowStep(
            id=step_id,
            body=body,
            name=name,
            is_primitive=primitive,
            blocking=blocking,
            is_async=not isinstance(body, type) and inspect.iscoroutinefunction(body),
            **config,
        )
        self.steps.append(step)
        return step

    def body(self, container: WorkflowStep, body: Body, what: str) -> None:
        """Run a container body function; its first step becomes a child of ``container``."""
        start = len(self.steps)
        if not callable(body):
            self.problems.append(f"{what} of step {container.id} must be a function of a builder")
            return
        body(WorkflowBuilder._sub(self))
        if len(self.steps) == start:
            self.problems.append(f"{what} of step {container.id} ({container.display_name}) is empty")
            return
        container.children.append(start)
        for step in self.steps[start:]:
            if step.parent is None and step is not container:  # inner bodies set theirs first
                step.parent = container.id


class WorkflowBuilder(Generic[D]):
    """Starts a workflow definition.

    Args:
        data_type: the workflow data's class (attrs class, dataclass) or ``dict``.
        default_error_behavior: what a failing step does when it says nothing itself.
        description: a line shown in search results.
        timeout: the deadline of every workflow started from it, counted from its start
            (``start_workflow(..., timeout=)`` overrides it); None: no deadline.
        priority: the level of every workflow started from it, 0 (critical) to 7 (idle),
            4 by default (``start_workflow(..., priority=)`` overrides it).
    """

    @overload
    def __init__(
        self: WorkflowBuilder[dict[str, Any]],
        data_type: None = None,
        *,
        default_error_behavior: ErrorBehavior | None = None,
        description: str | None = None,
        timeout: timedelta | None = None,
        priority: int = DEFAULT_PRIORITY,
    ) -> None: ...

    @overload
    def __init__(
        self,
        data_type: type[D],
        *,
        default_error_behavior: ErrorBehavior | None = None,
        description: str | None = None,
        timeout: timedelta | None = None,
        priority: int = DEFAULT_PRIORITY,
    ) -> None: ...

    def __init__(
        self,
        data_type: type[D] | Any = dict,
        *,
        default_error_behavior: ErrorBehavior | None = None,
        description: str | None = None,
        timeout: timedelta | None = None,
        priority: int = DEFAULT_PRIORITY,
    ) -> None:
        self._graph = _Graph()
        self._data_type = data_type
        self._default_error_behavior = default_error_behavior
        self._description = description
        self._started = False
        self._timeout = timeout
        self._priority = priority

    @classmethod
    def _sub(cls, graph: _Graph) -> WorkflowBuilder[Any]:
        builder: WorkflowBuilder[Any] = cls.__new__(cls)
        builder._graph = graph
        builder._data_type = None
        builder._default_error_behavior = None
        builder._description = None
        builder._started = False
        builder._timeout = None
        builder._priority = DEFAULT_PRIORITY
        return builder

    @overload
    def start_with(self, step: type[S2], *, name: str | None = None) -> StepBuilder[D, S2]: ...

    @overload
    def start_with(
        self, step: Callable[[StepExecutionContext[D]], object], *, name: str | None = None
    ) -> StepBuilder[D]: ...

    def start_with(self, step: Any, *, name: str | None = None) -> StepBuilder[D, Any]:
        """Add the first step: a ``StepBody`` subclass or a function ``fn(ctx)``."""
        self._started = True
        return StepBuilder(self, self._graph.add(step, name=name))

    def default_error_behavior(self, behavior: ErrorBehavior) -> WorkflowBuilder[D]:
        """Set what a failing step does when it has no ``on_error`` of its own."""
        self._default_error_behavior = behavior
        return self

    def __getattr__(self, name: str) -> Any:
        # Inside a body, ``b.if_do(...)``/``b.wait_for(...)`` without ``start_with`` chain from
        # an implicit no-op first step, as in workflow-core.
        if name.startswith("_") or not hasattr(StepBuilder, name) or name in ("build", "end_workflow"):
            raise AttributeError(name)
        if self._started:
            raise AttributeError(
                f"WorkflowBuilder.{name}: chain from the step builder that start_with() returned"
            )
        return getattr(self.start_with(_Start, name="start"), name)

    def build(self, definition_id: str, version: int = 1) -> WorkflowDefinition[D]:
        """Check the graph and return the definition.

        Raises:
            DefinitionError: listing every problem found.
        """
        graph = self._graph
        problems = list(graph.problems)
        if not isinstance(definition_id, str) or not definition_id.strip():
            problems.append("the definition id must be a non-empty string")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            problems.append(f"the version must be an integer >= 1, not {version!r}")
        if not graph.steps:
            problems.append("the workflow has no steps; begin with start_with(step)")
        if self._default_error_behavior is not None and not isinstance(
            self._default_error_behavior, ErrorBehavior
        ):
            problems.append(
                "the default error behaviour must be an ErrorBehavior, not "
                f"{self._default_error_behavior!r}"
            )
        problem = deadline_problem(self._timeout, "the workflow timeout")
        if problem is not None:
            problems.append(problem)
        problem = priority_problem(self._priority, "the workflow priority")
        if problem is not None:
            problems.append(problem)
        dt = self._data_type
        if not (
            dt in (dict, None)
            or getattr(dt, "__origin__", None) is dict
            or attrs.has(dt)
            or (isinstance(dt, type) and dataclasses.is_dataclass(dt))
        ):
            problems.append(
                f"the data type {dt!r} must be an attrs class, a dataclass or dict"
            )
        by_external: dict[str, int] = {}
        for step in graph.steps:
            if step.external_id is None:
                continue
            if step.external_id in by_external:
                problems.append(
                    f"external id {step.external_id!r} is used by steps "
                    f"{by_external[step.external_id]} and {step.id}"
                )
            else:
                by_external[step.external_id] = step.id
        for source, target in graph.attachments:
            if target in by_external:
                graph.steps[source].outcomes.append(StepOutcome(by_external[target]))
            else:
                problems.append(f"step {source} attaches to unknown external id {target!r}")
        if problems:
            raise DefinitionError(str(definition_id), problems)
        return WorkflowDefinition(
            id=definition_id,
            version=version,
            steps=graph.steps,
            data_type=dict if dt is None else dt,
            default_error_behavior=self._default_error_behavior,
            description=self._description,
            timeout=self._timeout,
            priority=self._priority,
        )


class _Start(p.Primitive):
    """The implicit first step of a body that did not call ``start_with``."""

    def run(self, ctx: Any) -> None:
        return None


class StepBuilder(Generic[D, S]):
    """Acts on the current step; chaining methods add steps after it.

    ``D`` is the workflow's data type and ``S`` the current step's body class (``Any`` for
    function steps and the builder's own steps), which types ``.output``.
    """

    #: The task step of a ``user_task`` (this builder is its options' switch): ``escalate``'s.
    _user_task: WorkflowStep | None = None

    def __init__(self, workflow: WorkflowBuilder[D], step: WorkflowStep) -> None:
        self._wf = workflow
        self._graph = workflow._graph
        self.step = step

    # -- the current step -------------------------------------------------------------------

    def name(self, name: str) -> StepBuilder[D, S]:
        """Name the step (shown in logs, lifecycle events and errors)."""
        self.step.name = name
        return self

    def id(self, external_id: str) -> StepBuilder[D, S]:
        """Give the step an external id that ``attach`` can jump to."""
        self.step.external_id = external_id
        return self

    def input(self, **mappings: Any) -> StepBuilder[D, S]:
        """Set step attributes before ``run``: a value, or a function of ``(data[, ctx])``."""
        self.step.inputs.extend(mappings.items())
        return self

    def output(
        self, *actions: Callable[[S, D], object], **mappings: str | Callable[[S], object]
    ) -> StepBuilder[D, S]:
        """Copy results into the data after the step proceeds.

        ``output(total="sum")`` copies ``step.sum``; ``output(total=lambda step: step.sum)``
        computes it; ``output(lambda step, data: ...)`` runs an action.
        """
        for action in actions:
            if not callable(action):
                self._graph.problems.append(f"output action of step {self.step.id} is not callable")
            self.step.outputs.append((None, action))
        self.step.outputs.extend(mappings.items())
        return self

    def on_error(self, behavior: ErrorBehavior) -> StepBuilder[D, S]:
        """Choose retry, suspend, terminate or compensate when this step raises."""
        if not isinstance(behavior, ErrorBehavior):
            self._graph.problems.append(
                f"on_error of step {self.step.id} needs an ErrorBehavior, not {behavior!r}"
            )
        self.step.error_behavior = behavior
        return self

    def compensate_with(self, step: Step[D]) -> StepBuilder[D, S]:
        """Undo this step with ``step`` if it (or its saga) fails."""
        comp = self._graph.add(step, name=f"compensate {self.step.display_name}")
        self.step.compensation_step_id = comp.id
        return self

    def compensate_with_sequence(self, body: Body[D]) -> StepBuilder[D, S]:
        """Undo this step with a sequence of steps built by ``body``."""
        comp = self._graph.add(p.Sequence, name=f"compensate {self.step.display_name}")
        self._graph.body(comp, body, "compensation sequence")
        self.step.compensation_step_id = comp.id
        return self

    def timeout(self, period: timedelta) -> StepBuilder[D, S]:
        """Limit one run of this step's body to ``period``.

        An async body still running then is cancelled; a sync body (in its worker thread)
        cannot be stopped, so its result is discarded when it comes. Either way the step
        fails with ``StepTimeoutError``, which goes through its error behaviour (``on_error``).
        """
        problem = check_period(period, f"the timeout of step {self.step.id}")
        if problem is None and period <= timedelta(0):
            problem = f"the timeout of step {self.step.id} must be more than zero, not {period}"
        if problem is not None:
            self._graph.problems.append(f"{problem}; give a positive timedelta")
        self.step.timeout = period
        return self

    def cancel_condition(
        self, condition: DataFn[D], proceed_after_cancel: bool = False
    ) -> StepBuilder[D, S]:
        """Cancel this step (and what it started) once ``condition(data)`` holds."""
        self.step.cancel_condition = condition
        self.step.proceed_on_cancel = proceed_after_cancel
        return self

    def attach(self, external_id: str) -> StepBuilder[D, S]:
        """Continue, after this step, at the step with that external id."""
        self._graph.attachments.append((self.step.id, external_id))
        return self

    def branch(self, value: Any, body: Body[D]) -> StepBuilder[D, S]:
        """Run ``body`` after this step when its outcome equals ``value``."""
        start = len(self._graph.steps)
        body(WorkflowBuilder._sub(self._graph))
        if len(self._graph.steps) == start:
            self._graph.problems.append(f"branch {value!r} of step {self.step.id} is empty")
        else:
            self.step.outcomes.append(StepOutcome(start, value))
        return self

    # -- adding steps -------------------------------------------------------------------------

    def _then(self, body: Any, name: str | None = None, **config: Any) -> StepBuilder[D]:
        step = self._graph.add(body, name=name, **config)
        self.step.outcomes.append(StepOutcome(step.id))
        return StepBuilder(self._wf, step)

    @overload
    def then(self, step: type[S2], *, name: str | None = None) -> StepBuilder[D, S2]: ...

    @overload
    def then(
        self, step: Callable[[StepExecutionContext[D]], object], *, name: str | None = None
    ) -> StepBuilder[D]: ...

    def then(self, step: Any, *, name: str | None = None) -> StepBuilder[D, Any]:
        """Add a step after this one: a ``StepBody`` subclass or a function ``fn(ctx)``."""
        return self._then(step, name)

    def then_fn(
        self, fn: Callable[[StepExecutionContext[D]], object], *, name: str | None = None
    ) -> StepBuilder[D]:
        """Add an inline function step ``fn(ctx)``."""
        if not callable(fn) or isinstance(fn, type):
            self._graph.problems.append(f"then_fn needs a function, not {fn!r}")
        return self._then(fn, name)

    def _container(self, body_cls: type, name: str, body: Body[D], **inputs: Any) -> StepBuilder[D]:
        nxt = self._then(body_cls, name)
        nxt.step.inputs.extend(inputs.items())
        self._graph.body(nxt.step, body, f"the body of {name}")
        return nxt

    def if_do(self, condition: DataFn[D], body: Body[D]) -> StepBuilder[D]:
        """Run ``body`` once if ``condition(data)`` holds, then continue."""
        return self._container(p.If, "if", body, condition=condition)

    def while_do(self, condition: DataFn[D], body: Body[D]) -> StepBuilder[D]:
        """Run ``body`` again and again while ``condition(data)`` holds."""
        return self._container(p.While, "while", body, condition=condition)

    def for_each(
        self, items: DataFn[D], body: Body[D], parallel: bool = True
    ) -> StepBuilder[D]:
        """Run ``body`` once per item of ``items(data)`` (``ctx.item``), together or in order."""
        return self._container(p.Foreach, "for each", body, collection=items, parallel=parallel)

    def parallel(self, branches: Callable[[ParallelBuilder[D]], object]) -> StepBuilder[D]:
        """Run several bodies together: ``parallel(lambda p: p.branch(a).branch(b))``."""
        nxt = self._then(p.Sequence, "parallel")
        before = len(nxt.step.children)
        branches(ParallelBuilder[D](self._graph, nxt.step))
        if len(nxt.step.children) == before:
            self._graph.problems.append(f"parallel step {nxt.step.id} has no branches")
        return nxt

    def saga(self, body: Body[D]) -> StepBuilder[D]:
        """Run ``body`` as a saga: on failure, compensate its completed steps newest first."""
        nxt = self._then(p.Saga, "saga", resume_children=False, revert_children=True)
        self._graph.body(nxt.step, body, "the body of saga")
        return nxt

    def wait_for(
        self,
        event_name: str,
        key: str | DataFn[D],
        effective_date: datetime | DataFn[D] | None = None,
        *,
        timeout: timedelta | None = None,
    ) -> StepBuilder[D]:
        """Wait for an event; ``key`` and ``effective_date`` may be functions of the data.

        With ``timeout``, the wait gives up when no event came within it and the workflow
        goes on: the wait step's ``timed_out`` is then True (``event_data`` None), so
        ``.output(late=lambda step: step.timed_out)`` tells the steps after it.
        """
        if not isinstance(event_name, str) or not event_name:
            self._graph.problems.append(f"wait_for after step {self.step.id} needs an event name")
        nxt = self._then(p.WaitFor, f"wait for {event_name}")
        nxt.step.inputs.extend([("event_name", event_name), ("event_key", key)])
        if timeout is not None:
            problem = check_period(timeout, f"the timeout of wait_for {event_name!r}")
            if problem is not None:
                self._graph.problems.append(f"{problem}; give a timedelta")
            nxt.step.inputs.append(("timeout", timeout))
        if effective_date is not None:
            if isinstance(effective_date, datetime) and effective_date.tzinfo is None:
                self._graph.problems.append(
                    f"the effective_date of wait_for {event_name!r} after step {self.step.id} "
                    "must be timezone-aware (use UTC), as publish_event requires"
                )
            elif not (isinstance(effective_date, datetime) or callable(effective_date)):
                self._graph.problems.append(
                    f"the effective_date of wait_for {event_name!r} after step {self.step.id} "
                    f"must be a datetime or a function of the data, not {effective_date!r}"
                )
            nxt.step.inputs.append(("effective_date", effective_date))
        return nxt

    def activity(
        self,
        name: str,
        parameters: Any = None,
        effective_date: datetime | Callable[..., datetime] | None = None,
    ) -> StepBuilder[D]:
        """Hand work to an outside worker and wait for its answer; the result is ``step.result``.

        Args:
            name: the activity's name; workers take it by name (``get_pending_activity``).
            parameters: what the worker gets: JSON values, or a function of the data.
            effective_date: not handed out before then (a datetime or a function of the data).
        """
        if not isinstance(name, str) or not name:
            self._graph.problems.append(f"activity after step {self.step.id} needs a name")
        nxt = self._then(Activity, f"activity {name}")
        nxt.step.inputs.extend([("activity_name", name), ("parameters", parameters)])
        if effective_date is not None:
            if isinstance(effective_date, datetime) and effective_date.tzinfo is None:
                self._graph.problems.append(
                    f"the effective_date of activity {name!r} after step {self.step.id} must be "
                    "timezone-aware (use UTC)"
                )
            nxt.step.inputs.append(("effective_date", effective_date))
        return nxt

    def user_task(
        self,
        prompt: str | Callable[..., str],
        assigner: str | Callable[..., str] | None = None,
        options: dict[str, Body[D] | None] | None = None,
    ) -> StepBuilder[D]:
        """Ask a person to choose one of ``options``; the chosen option's body runs.

        ``options`` maps each value to the body that runs when it is chosen (None: nothing);
        ``.then()`` continues after that body. Chain ``.escalate(after=, to=)`` to reassign
        the task when nobody answered in time. The chosen value and user are on the task
        step as ``value`` and ``user``.
        """
        if not isinstance(options, dict) or not options:
            self._graph.problems.append(
                f"user_task after step {self.step.id} needs options, e.g. "
                '{"approve": body, "reject": body}'
            )
            options = {}
        task = self._then(UserTask, "user task")
        task.step.inputs.extend(
            [("prompt", prompt), ("assigner", assigner), ("options", [str(o) for o in options])]
        )
        switch = task._then(p.OutcomeSwitch, "switch")
        for value, body in options.items():
            if body is not None:
                switch.when(value, body)
        switch._user_task = task.step
        return switch

    def escalate(
        self, after: timedelta, to: str | Callable[..., str]
    ) -> StepBuilder[D]:
        """Reassign the ``user_task`` before this call to ``to`` once ``after`` passed unanswered."""
        task = self._user_task if self._user_task is not None else (
            self.step if self.step.body is UserTask else None
        )
        if task is None:
            self._graph.problems.append(f"escalate after step {self.step.id} must follow user_task")
            return self
        problem = check_period(after, f"the escalation of step {task.id}")
        if problem is not None:
            self._graph.problems.append(problem)
        task.inputs.extend([("escalate_after", after), ("escalate_to", to)])
        return self

    def delay(self, period: timedelta | DataFn[D]) -> StepBuilder[D]:
        """Pause for ``period`` (or ``period(data)``), at most ``MAX_DELAY``."""
        if not callable(period):
            problem = check_period(period, f"the delay after step {self.step.id}")
            if problem is not None:
                self._graph.problems.append(f"{problem}; give a timedelta or a function of the data")
        nxt = self._then(p.Delay, "delay")
        nxt.step.inputs.append(("period", period))
        return nxt

    def decide(self, expression: DataFn[D]) -> StepBuilder[D]:
        """Add a step whose outcome is ``expression(data)``; route with ``branch(value, body)``."""
        nxt = self._then(p.Decide, "decide")
        nxt.step.inputs.append(("expression", expression))
        return nxt

    def when(self, value: Any, body: Body[D]) -> StepBuilder[D, Any]:
        """Run ``body`` if this step's outcome equals ``value``; chain more ``when`` calls."""
        switch = self if self.step.body is p.OutcomeSwitch else self._then(p.OutcomeSwitch, "switch")
        case = self._graph.add(p.When, name=f"when {value!r}")
        case.inputs.append(("expected", value))
        switch.step.children.append(case.id)
        self._graph.body(case, body, f"the body of when {value!r}")
        return switch

    def schedule(self, interval: timedelta, body: Body[D]) -> StepBuilder[D, S]:
        """Run ``body`` once after ``interval``, beside the rest of the workflow."""
        self._check_interval(interval, "schedule")
        self._container(p.Schedule, "schedule", body, interval=interval)
        return self

    def recur(self, interval: timedelta, until: DataFn[D], body: Body[D]) -> StepBuilder[D, S]:
        """Run ``body`` every ``interval`` until ``until(data)`` holds, beside the workflow."""
        self._check_interval(interval, "recur")
        nxt = self._container(p.Recur, "recur", body, interval=interval, stop_condition=until)
        nxt.step.cancel_condition = until
        return self

    def _check_interval(self, interval: Any, what: str) -> None:
        problem = check_period(interval, f"the interval of {what} after step {self.step.id}")
        if problem is not None:
            self._graph.problems.append(problem)

    def sub_workflow(
        self,
        definition_id: str,
        data: Callable[..., Any] | Any = None,
        version: int | None = None,
    ) -> StepBuilder[D]:
        """Start a child workflow and wait for it; its final data is on the step as ``result``."""
        nxt = self._then(p.SubWorkflow, f"sub-workflow {definition_id}")
        nxt.step.inputs.extend(
            [("definition_id", definition_id), ("version", version), ("child_data", data)]
        )
        return nxt

    def continue_as_new(self, data: Callable[..., Any] | Any) -> StepBuilder[D]:
        """Start the workflow over from its first step, with ``data(data[, ctx])`` (or ``data``)
        as its data; see ``ExecutionResult.continue_as_new``. Nothing after this step runs."""
        nxt = self._then(ContinueAsNew, "continue as new")
        nxt.step.inputs.append(("new_data", data))
        return nxt

    def end(self) -> StepBuilder[D]:
        """Add a step that completes the workflow at once, wherever it is reached."""
        return self._then(p.EndStep, "end", is_end=True)

    def end_workflow(self) -> WorkflowBuilder[D]:
        """Close the chain and return the workflow builder."""
        return self._wf

    def build(self, definition_id: str, version: int = 1) -> WorkflowDefinition[D]:
        """Shortcut for ``end_workflow().build(...)``."""
        return self._wf.build(definition_id, version)


class ParallelBuilder(Generic[D]):
    """Collects the branches of ``parallel``."""

    def __init__(self, graph: _Graph, container: WorkflowStep) -> None:
        self._graph = graph
        self._container = container

    def branch(self, body: Body[D]) -> ParallelBuilder[D]:
        """Add a branch built by ``body``."""
        self._graph.body(self._container, body, "a parallel branch")
        return self

