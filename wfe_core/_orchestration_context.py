"""``OrchestrationContext``: what a durable function calls, and the replay that drives it.

A durable function is an ``async def`` that awaits only the context's operations. Each pass
of its workflow (``_orchestration.OrchestratorStep``) makes a new context over the function's
``History`` and runs the coroutine with ``replay``: an operation the history records as done
returns its recorded result at once, and the first one that is not done stops the run, which
``replay`` reports as ``Blocked`` with what the function waits for. Every operation issued is
checked against the one recorded at the same position (``NonDeterminismError``).
"""

from __future__ import annotations

import logging
import random as _random
import uuid
from collections.abc import Callable, Coroutine, Generator, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn

import attrs

from ._history import (
    ActivityFailed,
    History,
    HistoryLimitError,
    NonDeterminismError,
    op_text,
)
from ._step import check_period

__all__ = [
    "Blocked",
    "ContinuedAsNew",
    "Operation",
    "OrchestrationContext",
    "Raised",
    "Returned",
    "RetryPolicy",
    "Selected",
    "close",
    "replay",
]

#: What the awaitables yield when what they wait for has not happened yet.
_BLOCKED = object()
#: Kinds of operation that wait in a pointer of their own (the others run in the pass).
WAIT_KINDS = frozenset({"timer", "event", "child"})


@attrs.frozen
class RetryPolicy:
    """How often and how soon ``ctx.call`` tries an activity again after it raised.

    The n-th retry waits ``initial_interval * backoff ** (n - 1)``, at most ``max_interval``;
    each wait is durable (the workflow sleeps in the store, holding no thread).

    Attributes:
        max_attempts: attempts in all, the first included (1: no retry).
        initial_interval: the wait before the first retry.
        backoff: the factor each later wait grows by.
        max_interval: the longest wait (None: no cap).
        non_retryable: exception classes that fail the call at once.
    """

    max_attempts: int = 3
    initial_interval: timedelta = timedelta(seconds=1)
    backoff: float = 2.0
    max_interval: timedelta | None = None
    non_retryable: tuple[type[BaseException], ...] = ()

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"RetryPolicy: max_attempts must be an int >= 1, not {self.max_attempts!r}")
        if not isinstance(self.backoff, (int, float)) or not 1.0 <= self.backoff < float("inf"):
            raise ValueError(f"RetryPolicy: backoff must be a finite number >= 1.0, not {self.backoff!r}")
        for value, what in ((self.initial_interval, "initial_interval"), (self.max_interval, "max_interval")):
            problem = None if value is None else check_period(value, f"RetryPolicy: {what}")
            if problem is not None:
                raise ValueError(problem)

    def delay_for(self, failed_attempts: int) -> timedelta:
        """The wait after ``failed_attempts`` failed attempts (1 or more)."""
        delay = self.initial_interval * (self.backoff ** (failed_attempts - 1))
        if self.max_interval is not None:
            delay = min(delay, self.max_interval)
        return delay


@attrs.frozen
class Selected:
    """What ``ctx.select`` returns: which operation finished first (``index``) and its value."""

    index: int
    value: Any


class _Fatal(BaseException):  # noqa: N818 - a control-flow signal, not an error
    """Carries a replay error out through the function's own ``except Exception``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _ContinueAsNew(BaseException):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, data: Any) -> None:
        super().__init__("continue_as_new")
        self.data = data


class Operation:
    """One issued operation: ``await`` it for its result (or pass it to gather / select)."""

    __slots__ = ("ctx", "kind", "name", "seq", "spec")

    def __init__(self, ctx: OrchestrationContext, seq: int, kind: str, name: str, spec: Any) -> None:
        self.ctx = ctx
        self.seq = seq
        self.kind = kind
        self.name = name
        #: What running or waiting needs: the call's (fn, args, kwargs, retry, timeout), or a
        #: wait's description (its pointer's context item).
        self.spec = spec

    def __await__(self) -> Generator[Any, None, Any]:
        return self.ctx._await_all([self], single=True).__await__()


class _Waiting:
    """An awaitable over operations: all of them (gather) or the first to finish (select)."""

    def __init__(self, ctx: OrchestrationContext, ops: list[Operation], mode: str, single: bool) -> None:
        self.ctx, self.ops, self.mode, self.single = ctx, ops, mode, single

    def __await__(self) -> Generator[Any, None, Any]:
        while True:  # a function kept suspended between passes is resumed here
            done = self.ctx.history.done
            if self.mode == "any":
                finished = [(done[op.seq][0], i) for i, op in enumerate(self.ops) if op.seq in done]
                if finished:
                    _, index = min(finished)
                    return Selected(index, self.ctx._result(self.ops[index]))
            elif all(op.seq in done for op in self.ops):
                results = [self.ctx._result(op) for op in self.ops]
                return results[0] if self.single else results
            self.ctx.blocked = (self.mode, self.ops)
            yield _BLOCKED


class OrchestrationContext:
    """What a durable function sees: durable operations and deterministic helpers.

    Only the context's operations may be awaited; anything else a function needs (I/O, the
    clock, randomness) goes through an activity (``call``) or the helpers (``now``,
    ``uuid4``, ``random``), whose values are recorded so that every replay sees the same.

    Attributes:
        workflow_id: the id of the workflow the function runs as.
        log: a logger that is silent while the function replays what it did before.
    """

    def __init__(
        self, history: History, now: datetime, workflow_id: str, max_history: int,
        logger: logging.Logger,
    ) -> None:
        self.history = history
        self.workflow_id = workflow_id
        self._now = now
        self._limit = max_history
        self._issued = 0
        self._recorded = len(history.ops)
        #: What the function blocked on: ("all" | "any", operations), set when it blocks.
        self.blocked: tuple[str, list[Operation]] | None = None
        #: A replay error the function may have swallowed; ``replay`` raises it anyway.
        self.fatal: Exception | None = None
        self.log: logging.LoggerAdapter[logging.Logger] = _ReplaySafeLog(logger, self)

    @property
    def is_replaying(self) -> bool:
        """True while the function re-runs what its history records."""
        return self._issued < self._recorded

    # -- operations --------------------------------------------------------------------------

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        retry: RetryPolicy | None = None,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> Operation:
        """Run ``fn(*args, **kwargs)`` (sync or async) as an activity, at least once.

        Its result is recorded before the function goes on; replays return the record.

        Args:
            retry: how to retry it when it raises (None: one attempt).
            timeout: the longest one attempt may take (a ``timedelta`` or seconds); a sync
                activity that overruns is abandoned, not stopped.

        Raises:
            ActivityFailed: (when awaited) the activity failed for good.
        """
        if not callable(fn):
            raise TypeError(f"ctx.call needs a function, not {fn!r}")
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        return self._issue("call", name, (fn, args, kwargs, retry, seconds))

    def timer(self, delay: timedelta) -> Operation:
        """Wait ``delay`` (durably: the workflow sleeps in the store)."""
        problem = check_period(delay, "ctx.timer's delay")
        if problem is not None:
            raise ValueError(problem)
        op = self._issue("timer", "timer", None)
        recorded = self.history.ops[op.seq]
        if "at" not in recorded:
            recorded["at"] = self._now + delay
        op.spec = {"kind": "timer", "at": recorded["at"]}
        return op

    def wait_for_event(self, name: str, key: str | int) -> Operation:
        """Wait for the event ``name``/``key`` (``host.publish_event``); returns its data."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("ctx.wait_for_event needs a non-empty event name")
        key = str(key)
        return self._issue("event", f"{name}/{key}", {"kind": "event", "name": name, "key": key})

    def sub_orchestration(
        self, orchestration: Any, data: Any = None, *, version: int | None = None
    ) -> Operation:
        """Run another workflow (a durable function or any registered definition) as a child.

        Args:
            orchestration: its definition (what ``@orchestration`` made) or definition id.
            data: its input.
            version: the version to run (None: the definition's, or the newest registered).

        Returns (when awaited) the child's result (``instance.result``).

        Raises:
            ActivityFailed: (when awaited) the child ended terminated.
        """
        if isinstance(orchestration, str):
            definition_id = orchestration
        else:
            definition_id = orchestration.id
            version = orchestration.version if version is None else version
        spec = {"kind": "child", "definition": definition_id, "version": version, "data": data}
        return self._issue("child", definition_id, spec)

    def gather(self, *operations: Operation) -> _Waiting:
        """Wait for every operation; their results in order. The calls among them run at the
        same time. If any failed, raises the first failure (in argument order) once all ended."""
        return self._await_all(list(operations), single=False)

    def select(self, *operations: Operation) -> _Waiting:
        """Wait for the first operation to finish, as the history records it: a ``Selected``
        (``index``, ``value``). The waits that lost are cancelled."""
        ops = self._check_ops(list(operations))
        if not ops:
            raise ValueError("ctx.select needs at least one operation")
        return _Waiting(self, ops, "any", single=False)

    def continue_as_new(self, data: Any) -> NoReturn:
        """End this run and start the function again with ``data`` as its input and a fresh
        history, in the same workflow: the way out of a history that grows without end."""
        raise _ContinueAsNew(data)

    # -- deterministic helpers -----------------------------------------------------------------

    def now(self) -> datetime:
        """The time, as recorded the first time the function got here (UTC)."""
        return self._value("now", lambda: self._now)  # type: ignore[no-any-return]

    def uuid4(self) -> uuid.UUID:
        """A random UUID, the same on every replay."""
        return self._value("uuid", uuid.uuid4)  # type: ignore[no-any-return]

    def random(self) -> float:
        """A random float in [0, 1), the same on every replay."""
        return self._value("random", _random.random)  # type: ignore[no-any-return]

    # -- the machinery -----------------------------------------------------------------------

    def _await_all(self, operations: list[Operation], single: bool) -> _Waiting:
        return _Waiting(self, self._check_ops(operations), "all", single)

    def _check_ops(self, operations: list[Operation]) -> list[Operation]:
        for op in operations:
            if not isinstance(op, Operation) or op.ctx is not self:
                raise TypeError(
                    f"gather and select take this context's operations (ctx.call, ctx.timer, "
                    f"...), not {op!r}"
                )
        return operations

    def _issue(self, kind: str, name: str, spec: Any) -> Operation:
        seq = self._issued
        new = {"op": kind, "name": name}
        if seq < self._recorded:
            recorded = self.history.ops[seq]
            if recorded["op"] != kind or recorded["name"] != name:
                self._fail(NonDeterminismError(seq, op_text(recorded), op_text(new)))
        else:
            self._append(new)
        self._issued += 1
        return Operation(self, seq, kind, name, spec)

    def _value(self, kind: str, make: Callable[[], Any]) -> Any:
        seq = self._issued
        if seq >= self._recorded:
            op = self._issue(kind, kind, None)
            self.history.ops[op.seq]["value"] = make()
        else:
            self._issue(kind, kind, None)
        return self.history.ops[seq]["value"]

    def _append(self, event: dict[str, Any]) -> None:
        try:
            self.history.append(event, self._limit)
        except HistoryLimitError as exc:
            self._fail(exc)

    def _fail(self, error: Exception) -> NoReturn:
        self.fatal = error
        raise _Fatal(error)

    def _result(self, op: Operation) -> Any:
        event = self.history.done[op.seq][1]
        if "error" in event:
            error_type, message = event["error"]
            raise ActivityFailed(op.name, error_type, message)
        return event.get("value")


class _ReplaySafeLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    def __init__(self, logger: logging.Logger, ctx: OrchestrationContext) -> None:
        super().__init__(logger, {"workflow_id": ctx.workflow_id})
        self.ctx = ctx

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        return not self.ctx.is_replaying and super().isEnabledFor(level)


@attrs.frozen
class Returned:
    value: Any


@attrs.frozen
class Raised:
    error: BaseException


@attrs.frozen
class ContinuedAsNew:
    data: Any


@attrs.frozen
class Blocked:
    mode: str
    operations: Sequence[Operation]


def close(coro: Coroutine[Any, Any, Any]) -> None:
    """Close a blocked function's coroutine (it is replayed next time, not resumed)."""
    try:
        coro.close()
    except RuntimeError:
        pass  # a ``finally`` that awaited an operation: it cannot run until the next pass


def replay(coro: Coroutine[Any, Any, Any], ctx: OrchestrationContext) -> Returned | Raised | ContinuedAsNew | Blocked:
    """Run a durable function's coroutine over its history until it returns, raises or blocks.

    Starts the coroutine, or resumes one that blocked in an earlier pass over the same history
    (it goes on from its await). A coroutine that blocked is left open: ``close`` it, or keep
    it to resume.

    Raises:
        NonDeterminismError: the function issued another operation than the one recorded,
            or returned where the history records more.
        HistoryLimitError: the history reached its cap.
        TypeError: the function awaited something that is not one of the context's operations.
    """
    ctx.blocked = None
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        outcome: Returned | Raised | ContinuedAsNew | Blocked = Returned(stop.value)
    except _ContinueAsNew as signal:
        outcome = ContinuedAsNew(signal.data)
    except _Fatal:
        outcome = Raised(RuntimeError("unreachable"))
    except Exception as exc:  # noqa: BLE001 - the function's own failure, recorded
        outcome = Raised(exc)
    else:
        if yielded is not _BLOCKED:
            close(coro)
            raise TypeError(
                f"a durable function awaited {yielded!r}, which is not an operation of its "
                "context: do I/O and sleeps in an activity (ctx.call) or with ctx.timer, so "
                "that a replay can skip them"
            )
        assert ctx.blocked is not None
        outcome = Blocked(*ctx.blocked)
    if ctx.fatal is not None:
        raise ctx.fatal
    if isinstance(outcome, Returned) and ctx._issued < ctx._recorded:
        raise NonDeterminismError(ctx._issued, op_text(ctx.history.ops[ctx._issued]), None)
    return outcome
