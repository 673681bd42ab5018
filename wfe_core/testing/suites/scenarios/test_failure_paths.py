"""Steps that fail in unusual ways still fail like steps (design, semantics 9 and 10).

Whatever a step body raises (``BaseException``, its own cancellation, ``SystemExit``,
``KeyboardInterrupt``), or leaves in ``ctx.data`` that cannot be stored, is a step failure: it
is recorded in ``get_execution_errors``, goes through the step's error behaviour (retry limits,
``on_error``), never loops at the poller and never stops the host. Each case runs on every
provider (the ``host`` fixture).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wfe import ErrorBehavior, ExecutionResult, StepBody, WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.errors import DefinitionError, HostStoppedError
from wfe_core.testing import Stores

RETRY_TWICE = ErrorBehavior.retry(interval=timedelta(milliseconds=10), max_retries=2)

#: Each step appends its name here when its body runs.
CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()


class RaisesBaseException(StepBody):
    async def run(self, ctx: Any) -> None:
        CALLS.append("base")
        raise BaseException("not an Exception")


class CancelsItself(StepBody):
    async def run(self, ctx: Any) -> None:
        CALLS.append("cancel")
        raise asyncio.CancelledError()


class StoresAnObject(StepBody):
    def run(self, ctx: Any) -> None:
        CALLS.append("object")
        ctx.data["handle"] = object()


class PersistsACycle(StepBody):
    def run(self, ctx: Any) -> ExecutionResult:
        CALLS.append("cycle")
        state: dict[str, Any] = {}
        state["self"] = state
        return ExecutionResult.persist(state)


class Exits(StepBody):
    def run(self, ctx: Any) -> None:
        CALLS.append("exit")
        sys.exit(3)


class Interrupted(StepBody):
    def run(self, ctx: Any) -> None:
        CALLS.append("interrupt")
        raise KeyboardInterrupt


class ExitsOnTheLoop(StepBody):
    async def run(self, ctx: Any) -> None:
        CALLS.append("exit-async")
        raise SystemExit(4)


async def _run_failing(host: WorkflowHost, step: type[StepBody], name: str) -> tuple[Any, list[str]]:
    definition = WorkflowBuilder(dict).start_with(step).on_error(RETRY_TWICE).build(name)
    host.register(definition)
    wid = await host.start_workflow(name, {"kept": 1})
    instance = await host.wait_for_workflow(wid, timeout=30)
    errors = [e.message for e in await host.get_execution_errors(wid)]
    return instance, errors


@pytest.mark.parametrize(
    ("step", "call", "type_name"),
    [
        (RaisesBaseException, "base", "BaseException"),
        (CancelsItself, "cancel", "CancelledError"),
        (StoresAnObject, "object", "SerializationError"),
        (PersistsACycle, "cycle", "SerializationError"),
        (Exits, "exit", "SystemExit"),
        (Interrupted, "interrupt", "KeyboardInterrupt"),
        (ExitsOnTheLoop, "exit-async", "SystemExit"),
    ],
    ids=["base-exception", "cancelled", "unstorable-data", "unstorable-result", "sys-exit", "keyboard-interrupt", "exit-async"],
)
async def test_an_unusual_failure_is_recorded_and_retried_within_the_limit(
    host: WorkflowHost, step: type[StepBody], call: str, type_name: str
) -> None:
    instance, errors = await _run_failing(host, step, f"unusual-{call}")

    # Ran once and retried twice, then suspended: the retry limit held, no poll loop.
    assert CALLS == [call] * 3
    assert instance.status is WorkflowStatus.SUSPENDED
    assert len(errors) == 4
    assert all(message.startswith(type_name) for message in errors[:3]), errors
    assert "retries exhausted after 2 retries" in errors[3]
    # The data is what it was before the failing step, not what it left behind.
    assert instance.data == {"kept": 1}


async def test_the_host_keeps_running_after_a_step_exits(host: WorkflowHost) -> None:
    await _run_failing(host, Exits, "exits")
    ok = WorkflowBuilder(dict).then_fn(lambda ctx: ctx.data.update(done=True)).build("after-exit")
    host.register(ok)

    wid = await host.start_workflow("after-exit", {})

    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.COMPLETE and instance.data == {"done": True}
    assert host.running


async def test_on_error_applies_to_a_base_exception(host: WorkflowHost) -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(RaisesBaseException)
        .on_error(ErrorBehavior.terminate())
        .build("base-terminates")
    )
    host.register(definition)

    wid = await host.start_workflow("base-terminates", {})

    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.TERMINATED
    assert CALLS == ["base"]
    assert [e.error_type for e in await host.get_execution_errors(wid)] == ["BaseException"]


# -- data a step replaces ----------------------------------------------------------------------


class ReplacesData(StepBody):
    def run(self, ctx: Any) -> None:
        ctx.data = {"replaced": True, "count": ctx.data["count"] + 1}


async def test_data_assigned_to_ctx_data_is_kept(host: WorkflowHost) -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(ReplacesData)
        .then_fn(lambda ctx: ctx.data.update(seen=ctx.data.get("replaced")))
        .build("replace-data")
    )
    host.register(definition)

    wid = await host.start_workflow("replace-data", {"count": 1})

    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {"replaced": True, "count": 2, "seen": True}


# -- delays --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "period", [timedelta.max, timedelta(seconds=-1), "5 seconds"], ids=["max", "negative", "str"]
)
def test_a_delay_that_can_never_be_kept_is_refused_at_build(period: Any) -> None:
    with pytest.raises(DefinitionError, match="delay"):
        WorkflowBuilder(dict).start_with(lambda ctx: None).delay(period).build("bad-delay")


def test_a_schedule_interval_that_can_never_be_kept_is_refused_at_build() -> None:
    with pytest.raises(DefinitionError, match="interval of schedule"):
        WorkflowBuilder(dict).start_with(lambda ctx: None).schedule(
            timedelta.max, lambda b: b.start_with(lambda ctx: None)
        ).build("bad-schedule")


@pytest.mark.parametrize(
    ("period", "type_name"),
    [("5 seconds", "TypeError"), (timedelta.max, "ValueError")],
    ids=["str", "max"],
)
async def test_a_delay_function_with_a_bad_answer_is_a_step_error(
    host: WorkflowHost, period: Any, type_name: str
) -> None:
    name = f"delay-fn-{type_name}"
    definition = (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: None)
        .delay(lambda data: period)
        .on_error(ErrorBehavior.suspend())
        .build(name)
    )
    host.register(definition)

    wid = await host.start_workflow(name, {})

    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.SUSPENDED
    errors = await host.get_execution_errors(wid)
    assert [e.error_type for e in errors] == [type_name]
    assert "give a" in errors[0].message


def test_a_retry_interval_that_can_never_be_kept_is_refused() -> None:
    with pytest.raises(ValueError, match="longest delay"):
        ErrorBehavior.retry(interval=timedelta.max)


def test_backoff_without_a_cap_never_overflows() -> None:
    behavior = ErrorBehavior.retry(interval=timedelta(seconds=1), backoff=10.0)
    assert behavior.delay_for(1_000) == timedelta(days=365_000)


# -- events ----------------------------------------------------------------------------------


def test_wait_for_refuses_a_naive_effective_date_as_publish_event_does() -> None:
    with pytest.raises(DefinitionError, match="timezone-aware"):
        WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for(
            "go", "k", effective_date=datetime(2026, 1, 1)
        ).build("naive")


async def test_a_naive_effective_date_from_a_function_is_a_step_error(host: WorkflowHost) -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: None)
        .wait_for("go", "k", effective_date=lambda data: datetime(2026, 1, 1))
        .on_error(ErrorBehavior.suspend())
        .build("naive-fn")
    )
    host.register(definition)

    wid = await host.start_workflow("naive-fn", {})

    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.SUSPENDED
    [error] = await host.get_execution_errors(wid)
    assert "timezone-aware" in error.message


# -- parallel means parallel ---------------------------------------------------------------------


class _Meeting:
    """Steps that each wait until ``expected`` of them are running at once (or time out)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.all_here = threading.Event()

    def arrive(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            if self.running >= self.expected:
                self.all_here.set()

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


MEETING = _Meeting(3)


class MeetAsync(StepBody):
    async def run(self, ctx: Any) -> None:
        MEETING.arrive()
        try:
            for _ in range(500):  # up to 10 s: in turn they would never all be here
                if MEETING.all_here.is_set():
                    return
                await asyncio.sleep(0.02)
            raise TimeoutError("the other branches never ran beside this one")
        finally:
            MEETING.leave()


class MeetSync(StepBody):
    def run(self, ctx: Any) -> None:
        MEETING.arrive()
        try:
            if not MEETING.all_here.wait(10):
                raise TimeoutError("the other branches never ran beside this one")
        finally:
            MEETING.leave()


@pytest.fixture
def meeting() -> _Meeting:
    global MEETING
    MEETING = _Meeting(3)
    return MEETING


PARALLEL_BRANCHES = (
    WorkflowBuilder(dict)
    .parallel(
        lambda p: p.branch(lambda b: b.start_with(MeetAsync))
        .branch(lambda b: b.start_with(MeetSync))
        .branch(lambda b: b.start_with(MeetAsync))
    )
    .on_error(ErrorBehavior.suspend())
    .build("meet-parallel")
)
PARALLEL_FOR_EACH = (
    WorkflowBuilder(dict)
    .for_each(lambda d: [1, 2, 3], lambda b: b.start_with(MeetSync), parallel=True)
    .on_error(ErrorBehavior.suspend())
    .build("meet-foreach")
)


@pytest.mark.parametrize(
    "definition", [PARALLEL_BRANCHES, PARALLEL_FOR_EACH], ids=["branches", "for-each"]
)
async def test_ready_steps_of_one_workflow_run_at_the_same_time(
    host: WorkflowHost, meeting: _Meeting, definition: Any
) -> None:
    host.register(definition)

    wid = await host.start_workflow(definition.id, {})

    instance = await host.wait_for_workflow(wid, timeout=30)
    assert await host.get_execution_errors(wid) == []
    assert instance.status is WorkflowStatus.COMPLETE
    assert meeting.most == 3


class Counted(StepBody):
    async def run(self, ctx: Any) -> None:
        MEETING.arrive()
        try:
            for _ in range(5):
                await asyncio.sleep(0.01)
        finally:
            MEETING.leave()


async def test_max_parallel_steps_bounds_a_pass(stores: Stores, meeting: _Meeting) -> None:
    definition = (
        WorkflowBuilder(dict)
        .for_each(lambda d: list(range(6)), lambda b: b.start_with(Counted), parallel=True)
        .build("bounded")
    )
    async with stores.host(max_parallel_steps=2) as host:
        host.register(definition)
        wid = await host.start_workflow("bounded", {})
        instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert meeting.most == 2


# -- sagas -----------------------------------------------------------------------------------


def _recorder(name: str, pause: float = 0.0) -> type[StepBody]:
    async def run(self: StepBody, ctx: Any) -> None:
        if pause:
            await asyncio.sleep(pause)
        CALLS.append(name)

    return type(name, (StepBody,), {"run": run})


class Fails(StepBody):
    def run(self, ctx: Any) -> None:
        CALLS.append("fail")
        raise RuntimeError("card declined")


async def test_a_failed_saga_compensates_to_the_end_before_the_next_step(host: WorkflowHost) -> None:
    definition = (
        WorkflowBuilder(dict)
        .saga(
            lambda s: s.start_with(_recorder("A"))
            .compensate_with(_recorder("undo-A", pause=0.2))
            .then(_recorder("B"))
            .compensate_with(_recorder("undo-B"))
            .then(Fails)
        )
        .then(_recorder("after-saga"))
        .build("saga-order")
    )
    host.register(definition)

    wid = await host.start_workflow("saga-order", {})

    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.COMPLETE
    assert CALLS == ["A", "B", "fail", "undo-B", "undo-A", "after-saga"]


# -- a stopped host ----------------------------------------------------------------------------


async def test_a_stopped_host_refuses_new_work(stores: Stores) -> None:
    host = stores.host()
    host.register(WorkflowBuilder(dict).start_with(lambda ctx: None).build("late"))
    async with host:
        pass

    with pytest.raises(HostStoppedError, match="create a new host"):
        await host.start_workflow("late", {})
    with pytest.raises(HostStoppedError):
        await host.publish_event("go", "k", effective_date=datetime.now(UTC))
    with pytest.raises(HostStoppedError):
        await host.start()
