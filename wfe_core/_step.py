"""What a step is: ``StepBody``, the ``ExecutionResult`` it returns, and the context it runs in.

Users subclass ``StepBody``; primitives in ``_primitives`` do too. The executor builds a fresh
body for every execution, sets its inputs, calls ``run`` and reads the result.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, cast

import attrs

from ._typevars import D

if TYPE_CHECKING:
    from ._definition import WorkflowStep
    from ._lifecycle import LifecycleHub
    from ._models import ExecutionPointer, WorkflowInstance
    from .providers import PersistenceProvider

__all__ = [
    "MAX_DELAY",
    "ErrorBehavior",
    "ExecutionResult",
    "StepBody",
    "StepExecutionContext",
    "StepHost",
]

#: The longest a step may sleep, a delay last or a retry wait (1,000 years): far enough for
#: any real schedule, near enough that "now + delay" never overflows a datetime.
MAX_DELAY = timedelta(days=365_000)


def check_period(value: object, what: str) -> str | None:
    """What is wrong with ``value`` as a delay, or None when it is a usable one."""
    if not isinstance(value, timedelta):
        return f"{what} must be a timedelta, not {value!r}"
    if value < timedelta(0):
        return f"{what} must not be negative ({value})"
    if value > MAX_DELAY:
        return f"{what} is {value}, longer than the longest delay wfe keeps ({MAX_DELAY.days} days)"
    return None


@attrs.define
class ExecutionResult:
    """What a step asks the engine to do next. Build one with the class methods."""

    proceed: bool = False
    outcome_value: Any = None
    persistence_data: Any = None
    sleep_for: timedelta | None = None
    event_name: str | None = None
    event_key: str | None = None
    event_as_of: datetime | None = None
    branch_values: Sequence[Any] | None = None
    #: Stored with the wait's subscription (activities: their parameters; user tasks: the task).
    subscription_data: Any = None
    #: Ids of open pointers this step gives up on (the waits of a durable function that lost
    #: a race): each is closed as cancelled, with whatever runs inside it.
    cancel: Sequence[str] | None = None
    #: Set by ``continue_as_new``: start the workflow over with ``continue_data``.
    continues: bool = False
    continue_data: Any = None

    @classmethod
    def next(cls) -> ExecutionResult:
        """Done; follow the step's outcomes."""
        return cls(proceed=True)

    @classmethod
    def outcome(cls, value: Any) -> ExecutionResult:
        """Done with an outcome value; follow the outcomes that match it."""
        return cls(proceed=True, outcome_value=value)

    @classmethod
    def persist(cls, data: Any) -> ExecutionResult:
        """Not done; keep ``data`` and run the step again on a later pass."""
        return cls(persistence_data=data)

    @classmethod
    def sleep(cls, duration: timedelta, persistence_data: Any = None) -> ExecutionResult:
        """Not done; run the step again after ``duration``."""
        return cls(sleep_for=duration, persistence_data=persistence_data)

    @classmethod
    def branch(cls, values: Sequence[Any], persistence_data: Any = None) -> ExecutionResult:
        """Not done; start the step's children once per value (``ctx.item`` is the value)."""
        return cls(branch_values=list(values), persistence_data=persistence_data)

    @classmethod
    def continue_as_new(cls, data: Any) -> ExecutionResult:
        """Start the workflow over from its first step with ``data`` as its data.

        It keeps its id, reference and deadline; its pointers so far are deleted from the
        store in the same write, so a loop written this way keeps a bounded size however long
        it runs (a ``while_do`` or ``recur`` keeps every iteration's pointers).
        """
        return cls(continues=True, continue_data=data)

    @classmethod
    def wait_for_event(
        cls, name: str, key: str, effective_date: datetime | None = None
    ) -> ExecutionResult:
        """Not done; run again when an event of this name and key at or after the date arrives."""
        return cls(event_name=name, event_key=key, event_as_of=effective_date)


class StepBody(Generic[D]):
    """Base class of step bodies, generic in the workflow's data type.

    Subclasses have a no-argument constructor and a ``run(self, ctx)`` method, ``def`` or
    ``async def``, returning an ``ExecutionResult`` or ``None`` (which means ``next()``).
    Raising an exception is a step failure, handled by the step's error behaviour.

    ``class Charge(StepBody[Order])`` with ``run(self, ctx: StepExecutionContext[Order])``
    gives the checker ``ctx.data`` as an ``Order``; a bare ``StepBody`` is ``StepBody[Any]``.

    Attributes:
        blocking: sync ``run`` methods execute in a worker thread so they cannot stall the
            event loop; set ``blocking = False`` on a cheap, non-blocking sync step to run it
            on the loop instead.
    """

    blocking: ClassVar[bool] = True

    def run(
        self, ctx: StepExecutionContext[D]
    ) -> ExecutionResult | None | Awaitable[ExecutionResult | None]:
        raise NotImplementedError(f"{type(self).__qualname__} must implement run(self, ctx)")


class StepHost(Protocol):
    """What a step may use of the host that runs it (``ctx.host``); ``WorkflowHost`` is one.

    A step may start workflows, publish events and read workflows and the store through it.
    ``_start_child`` is for the ``sub_workflow`` primitive, and ``lifecycle`` for the executor,
    which builds lifecycle events only while someone listens to them.
    """

    @property
    def persistence(self) -> PersistenceProvider: ...

    @property
    def lifecycle(self) -> LifecycleHub: ...

    async def start_workflow(
        self,
        definition_id: str,
        data: Any = None,
        version: int | None = None,
        reference: str | None = None,
        *,
        description: str | None = None,
    ) -> str: ...

    async def publish_event(
        self,
        event_name: str,
        event_key: str,
        data: Any = None,
        effective_date: datetime | None = None,
    ) -> str: ...

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance: ...

    async def _start_child(
        self, definition_id: str, data: Any, version: int | None, child_id: str, parent_id: str
    ) -> None: ...


class _Hostless:
    """``ctx.host`` of a step that a ``WorkflowExecutor`` runs on its own, without a host."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"ctx.host.{name}: this step runs in an executor without a host; run the workflow "
            "in a WorkflowHost to start workflows or publish events from a step"
        )

    def __repr__(self) -> str:
        return "<no host>"


#: ``ctx.host`` where no host runs the step: using it raises a ``RuntimeError`` saying so.
HOSTLESS: StepHost = cast("StepHost", _Hostless())


@attrs.define(slots=True)
class StepExecutionContext(Generic[D]):
    """What a running step sees; generic in the workflow's data type (``ctx.data``).

    Attributes:
        data: the workflow's data; changes are persisted with the pass.
        workflow: the instance.
        step: the step's definition.
        pointer: this execution pointer (``retry_count`` and more).
        item: the foreach item or branch value of this activation.
        persistence_data: what the step persisted on its previous run.
        host: the running host (``StepHost``: start workflows, publish events, read the
            store). A step run by an executor on its own, without a host, gets a stand-in
            that raises ``RuntimeError`` on use.
    """

    data: D
    workflow: WorkflowInstance[D]
    step: WorkflowStep
    pointer: ExecutionPointer
    item: Any = None
    persistence_data: Any = None
    host: StepHost = HOSTLESS


class _Kind(enum.Enum):
    RETRY = "retry"
    SUSPEND = "suspend"
    TERMINATE = "terminate"
    COMPENSATE = "compensate"


@attrs.frozen
class ErrorBehavior:
    """What happens when a step raises. Build one with the class methods.

    A retry waits ``interval``, then ``interval * backoff``, ... capped at ``max_interval``.
    When ``max_retries`` attempts have failed, or the error is one of ``non_retryable``,
    the workflow is suspended and the reason recorded as an execution error.
    """

    kind: _Kind
    interval: timedelta | None = None
    max_retries: int | None = None
    backoff: float = 1.0
    max_interval: timedelta | None = None
    non_retryable: tuple[type[BaseException], ...] = ()

    Kind: ClassVar[type[_Kind]] = _Kind

    def __attrs_post_init__(self) -> None:
        # Checked however it is made (the class methods, the constructor, a stored definition):
        # a value that cannot give a delay would fail every pass of the step it guards.
        problem = _retry_problem(self)
        if problem is not None:
            raise ValueError(f"ErrorBehavior: {problem}")

    @classmethod
    def retry(
        cls,
        interval: timedelta = timedelta(seconds=1),
        max_retries: int | None = None,
        backoff: float = 1.0,
        max_interval: timedelta | None = None,
        non_retryable: Sequence[type[BaseException]] = (),
    ) -> ErrorBehavior:
        """Retry the step after ``interval``, then ``interval * backoff``, ... (see the class).

        Raises:
            ValueError: a parameter that cannot give a delay (a negative or too long period,
                a ``backoff`` below 1, infinite or NaN, a negative ``max_retries``), or a
                ``non_retryable`` entry that is not an exception class; the message names it.
        """
        return cls(_Kind.RETRY, interval, max_retries, backoff, max_interval, tuple(non_retryable))

    @classmethod
    def suspend(cls) -> ErrorBehavior:
        return cls(_Kind.SUSPEND)

    @classmethod
    def terminate(cls) -> ErrorBehavior:
        return cls(_Kind.TERMINATE)

    @classmethod
    def compensate(cls) -> ErrorBehavior:
        return cls(_Kind.COMPENSATE)

    def delay_for(self, attempt: int) -> timedelta:
        """The wait before retry number ``attempt`` (1 for the first retry)."""
        base = self.interval or timedelta(seconds=1)
        try:
            delay = base * (self.backoff ** max(attempt - 1, 0))
        except OverflowError:  # a long run of retries with backoff and no max_interval
            delay = MAX_DELAY
        delay = min(delay, MAX_DELAY)
        if self.max_interval is not None and delay > self.max_interval:
            return self.max_interval
        return delay


def _retry_problem(behavior: ErrorBehavior) -> str | None:
    """What is wrong with ``behavior``'s retry parameters, or None."""
    if not isinstance(behavior.kind, _Kind):
        return f"kind must be an ErrorBehavior.Kind, not {behavior.kind!r}"
    for value, what in ((behavior.interval, "interval"), (behavior.max_interval, "max_interval")):
        if value is not None:
            problem = check_period(value, f"the retry {what}")
            if problem is not None:
                return problem
    retries = behavior.max_retries
    if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool) or retries < 0):
        return f"max_retries must be None (no limit) or an int >= 0, not {retries!r}"
    backoff = behavior.backoff
    if (
        not isinstance(backoff, (int, float))
        or isinstance(backoff, bool)
        or not math.isfinite(backoff)
        or backoff < 1.0
    ):
        return f"the backoff multiplier must be a finite number >= 1.0, not {backoff!r}"
    for entry in behavior.non_retryable:
        if not (isinstance(entry, type) and issubclass(entry, BaseException)):
            return f"non_retryable must hold exception classes, not {entry!r}"
    return None


#: Used when neither the step nor the definition says what to do on an error.
DEFAULT_ERROR_BEHAVIOR = ErrorBehavior.retry(
    interval=timedelta(seconds=1), backoff=2.0, max_interval=timedelta(minutes=1), max_retries=10
)
