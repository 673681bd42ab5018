"""Built workflow definitions: the step graph the executor walks.

``WorkflowBuilder.build()`` produces a ``WorkflowDefinition``; the registry stores it; the
executor reads it. Definitions are immutable once built.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic

import attrs

from ._step import ErrorBehavior, StepBody, StepExecutionContext
from ._typevars import D

__all__ = ["StepOutcome", "WorkflowDefinition", "WorkflowStep", "call_with_data"]


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()


@functools.lru_cache(maxsize=4096)
def arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (capped at 2), for data/ctx lambdas."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    count = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            count += 1
    return min(count, 2)


def call_with_data(fn: Callable[..., Any], data: Any, ctx: StepExecutionContext | None) -> Any:
    """Call a user function that takes ``(data)`` or ``(data, ctx)``."""
    n = arity(fn)
    if n >= 2:
        return fn(data, ctx)
    return fn(data) if n == 1 else fn()


def _identity(value: Any) -> Any:
    """What makes a configured value the same: code for functions, the value otherwise."""
    if isinstance(value, type):
        return f"{value.__module__}:{value.__qualname__}"
    code = getattr(value, "__code__", None)
    if code is not None:
        return (value.__module__, value.__qualname__, code.co_code, code.co_consts.__repr__())
    return repr(value)


@attrs.define
class StepOutcome:
    """An edge to ``next_step``, taken when the step's outcome equals ``value`` (or always)."""

    next_step: int
    value: Any = NO_VALUE
    label: str | None = None

    def matches(self, outcome: Any) -> bool:
        if self.value is NO_VALUE:
            return True
        return bool(self.value == outcome)


@attrs.define(eq=False)
class WorkflowStep:
    """One node of the graph.

    Attributes:
        body: a ``StepBody`` subclass, or a function for inline steps.
        inputs: (attribute, value or function of data[, ctx]) pairs applied before ``run``.
        outputs: (data attribute or None, source) pairs applied after the step proceeds; the
            source is a step attribute name or a function of the step; with no attribute it is
            an action ``fn(step, data)``.
        children: ids of the first step of each body of a container.
        resume_children / revert_children: what compensation does inside this container
            (a saga reverts its completed children and does not resume after the failed one).
        parent: the container whose body holds this step (None at the top level).
        timeout: how long one run of the body may take (``.timeout(...)``); None: no limit.
    """

    id: int
    body: Any
    name: str | None = None
    external_id: str | None = None
    children: list[int] = attrs.field(factory=list)
    outcomes: list[StepOutcome] = attrs.field(factory=list)
    inputs: list[tuple[str, Any]] = attrs.field(factory=list)
    outputs: list[tuple[str | None, Any]] = attrs.field(factory=list)
    error_behavior: ErrorBehavior | None = None
    compensation_step_id: int | None = None
    cancel_condition: Callable[..., Any] | None = None
    proceed_on_cancel: bool = False
    resume_children: bool = True
    revert_children: bool = False
    is_end: bool = False
    is_primitive: bool = False
    blocking: bool = True
    is_async: bool = False
    parent: int | None = None
    timeout: timedelta | None = None

    def make_body(self) -> StepBody:
        """A fresh body for one execution."""
        if isinstance(self.body, type):
            body: StepBody = self.body()
            return body
        return _FunctionStep(self.body)

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return getattr(self.body, "__qualname__", type(self.body).__qualname__)


class _FunctionStep(StepBody):
    """Wraps an inline step function ``fn(ctx)``."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def run(self, ctx: StepExecutionContext) -> Any:
        return self.fn(ctx)


@attrs.define(eq=False)
class WorkflowDefinition(Generic[D]):
    """A validated, immutable workflow graph. Step 0 is where a workflow starts.

    Generic in the data type: ``WorkflowBuilder(Order)...build(...)`` is a
    ``WorkflowDefinition[Order]``, and ``host.start(definition, Order(...))`` a
    ``WorkflowHandle[Order]``.
    """

    id: str
    version: int
    steps: list[WorkflowStep]
    data_type: Any = dict
    default_error_behavior: ErrorBehavior | None = None
    description: str | None = None
    cancellable_steps: list[WorkflowStep] = attrs.field(factory=list)
    #: The deadline of each workflow started from it, from its start (None: none); a
    #: ``start_workflow(..., timeout=)`` overrides it.
    timeout: timedelta | None = None
    #: The level of each workflow started from it, 0 (critical) to 7 (idle); a
    #: ``start_workflow(..., priority=)`` overrides it.
    priority: int = 4

    def __attrs_post_init__(self) -> None:
        self.cancellable_steps = [s for s in self.steps if s.cancel_condition is not None]

    def fingerprint(self) -> tuple[Any, ...]:
        """The graph and its configuration, for telling a re-registration from a conflicting one.

        Functions count by their code (module, name and bytecode), so rebuilding the same
        definition in another process gives the same fingerprint.
        """
        return (
            self.data_type,
            self.default_error_behavior,
            self.timeout,
            tuple(
                (
                    _identity(s.body),
                    s.name,
                    s.external_id,
                    tuple(s.children),
                    tuple((o.next_step, repr(o.value)) for o in s.outcomes),
                    tuple((k, _identity(v)) for k, v in s.inputs),
                    tuple((k, _identity(v)) for k, v in s.outputs),
                    s.compensation_step_id,
                    s.error_behavior,
                    _identity(s.cancel_condition),
                    s.proceed_on_cancel,
                    s.resume_children,
                    s.revert_children,
                    s.is_end,
                    s.timeout,
                )
                for s in self.steps
            ),
        )

    def new_data(self) -> Any:
        """A default instance of the data type, for workflows started without data."""
        try:
            return self.data_type()
        except TypeError:
            return None
