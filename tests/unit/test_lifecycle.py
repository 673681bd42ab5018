"""Lifecycle events through ``host.lifecycle``: order, failures, control, broken subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from wfe import (
    ErrorBehavior,
    LifecycleEvent,
    LifecycleEventType,
    StepBody,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
)
from wfe_core import LifecycleHub
from wfe_core.testing import FakeClock

T = LifecycleEventType


class First(StepBody):
    def run(self, ctx: Any) -> None:
        return None


class Second(StepBody):
    async def run(self, ctx: Any) -> None:
        return None


class Third(StepBody):
    def run(self, ctx: Any) -> None:
        return None


class Explodes(StepBody):
    def run(self, ctx: Any) -> None:
        raise RuntimeError("kaboom")


@pytest.fixture
async def host() -> AsyncIterator[WorkflowHost]:
    async with WorkflowHost("memory://", clock=FakeClock(auto_advance=True)) as running:
        yield running


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (in real time) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting for the condition"
        await asyncio.sleep(0.005)


def kinds(events: list[LifecycleEvent], workflow_id: str | None = None) -> list[tuple[T, Any]]:
    return [
        (e.type, e.step_name) for e in events if workflow_id is None or e.workflow_id == workflow_id
    ]


async def test_a_workflow_reports_its_steps_in_order(host: WorkflowHost) -> None:
    events: list[LifecycleEvent] = []
    host.lifecycle.subscribe(events.append)
    host.register(WorkflowBuilder().start_with(First).then(Second).then(Third).build("ordered", 2))
    wid = await host.start_workflow("ordered", {}, reference="ref-1")
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.COMPLETE
    await until(lambda: any(e.type is T.WORKFLOW_COMPLETED for e in events))
    assert kinds(events) == [
        (T.WORKFLOW_STARTED, None),
        (T.STEP_STARTED, "First"),
        (T.STEP_COMPLETED, "First"),
        (T.STEP_STARTED, "Second"),
        (T.STEP_COMPLETED, "Second"),
        (T.STEP_STARTED, "Third"),
        (T.STEP_COMPLETED, "Third"),
        (T.WORKFLOW_COMPLETED, None),
    ]
    for event in events:
        assert (event.workflow_id, event.definition_id, event.version, event.reference) == (
            wid,
            "ordered",
            2,
            "ref-1",
        )
        assert event.time.tzinfo is not None
    steps = [e for e in events if e.step_id is not None]
    assert [e.step_id for e in steps] == [0, 0, 1, 1, 2, 2]
    assert all(e.pointer_id for e in steps)
    assert steps[0].pointer_id == steps[1].pointer_id


async def test_async_subscribers_receive_events(host: WorkflowHost) -> None:
    events: list[T] = []

    async def subscriber(event: LifecycleEvent) -> None:
        await asyncio.sleep(0)
        events.append(event.type)

    host.lifecycle.subscribe(subscriber)
    host.register(WorkflowBuilder().start_with(First).build("async-sub"))
    wid = await host.start_workflow("async-sub", {})
    await host.wait_for_workflow(wid, timeout=5)
    await until(lambda: T.WORKFLOW_COMPLETED in events)
    assert events == [T.WORKFLOW_STARTED, T.STEP_STARTED, T.STEP_COMPLETED, T.WORKFLOW_COMPLETED]


async def test_a_failing_step_reports_workflow_error(host: WorkflowHost) -> None:
    events: list[LifecycleEvent] = []
    host.lifecycle.subscribe(events.append)
    host.register(
        WorkflowBuilder()
        .start_with(First)
        .then(Explodes)
        .on_error(ErrorBehavior.suspend())
        .build("fails")
    )
    wid = await host.start_workflow("fails", {})
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.SUSPENDED
    await until(lambda: any(e.type is T.WORKFLOW_SUSPENDED for e in events))
    errors = [e for e in events if e.type is T.WORKFLOW_ERROR]
    assert len(errors) == 1
    assert errors[0].step_name == "Explodes" and errors[0].step_id == 1
    assert errors[0].message is not None and "kaboom" in errors[0].message
    order = [e.type for e in events]
    assert (
        order.index(T.STEP_STARTED)
        < order.index(T.WORKFLOW_ERROR)
        < order.index(T.WORKFLOW_SUSPENDED)
    )
    assert T.WORKFLOW_COMPLETED not in order


async def test_a_retried_step_reports_each_error(host: WorkflowHost) -> None:
    attempts: list[int] = []

    class FailsTwice(StepBody):
        def run(self, ctx: Any) -> None:
            attempts.append(ctx.pointer.retry_count)
            if len(attempts) < 3:
                raise ValueError(f"attempt {len(attempts)}")

    events: list[LifecycleEvent] = []
    host.lifecycle.subscribe(events.append)
    host.register(
        WorkflowBuilder()
        .start_with(FailsTwice)
        .on_error(ErrorBehavior.retry(interval=timedelta(seconds=2)))
        .build("retried")
    )
    wid = await host.start_workflow("retried", {})
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.COMPLETE
    await until(lambda: any(e.type is T.WORKFLOW_COMPLETED for e in events))
    assert [e.message for e in events if e.type is T.WORKFLOW_ERROR] == [
        "ValueError: attempt 1",
        "ValueError: attempt 2",
    ]
    assert attempts == [0, 1, 2]
    # each attempt starts (issue 19: a retry reported no second start), one completes
    assert [e.type for e in events].count(T.STEP_STARTED) == 3


async def test_suspend_resume_and_terminate_report_their_events(host: WorkflowHost) -> None:
    events: list[LifecycleEvent] = []
    host.lifecycle.subscribe(events.append)
    host.register(
        WorkflowBuilder().start_with(First).wait_for("go", "k").then(Third).build("controlled")
    )
    wid = await host.start_workflow("controlled", {})
    await until(
        lambda: any(e.type is T.STEP_STARTED and e.step_name == "wait for go" for e in events)
    )

    assert await host.suspend_workflow(wid) is True
    assert await host.suspend_workflow(wid) is False
    assert await host.resume_workflow(wid) is True
    assert await host.resume_workflow(wid) is False
    assert await host.terminate_workflow(wid) is True
    assert await host.terminate_workflow(wid) is False

    control = [
        e.type
        for e in events
        if e.type in (T.WORKFLOW_SUSPENDED, T.WORKFLOW_RESUMED, T.WORKFLOW_TERMINATED)
    ]
    assert control == [T.WORKFLOW_SUSPENDED, T.WORKFLOW_RESUMED, T.WORKFLOW_TERMINATED]
    assert all(e.workflow_id == wid for e in events)
    assert (await host.get_workflow(wid)).status is WorkflowStatus.TERMINATED
    assert T.WORKFLOW_COMPLETED not in [e.type for e in events]


async def test_a_subscriber_that_raises_does_not_break_the_workflow(
    host: WorkflowHost, caplog: pytest.LogCaptureFixture
) -> None:
    good: list[T] = []

    def broken(event: LifecycleEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def broken_async(event: LifecycleEvent) -> None:
        raise RuntimeError("async subscriber bug")

    host.lifecycle.subscribe(broken)
    host.lifecycle.subscribe(broken_async)
    host.lifecycle.subscribe(lambda e: good.append(e.type))
    host.register(WorkflowBuilder().start_with(First).then(Second).build("robust"))
    wid = await host.start_workflow("robust", {})
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.COMPLETE
    await until(lambda: T.WORKFLOW_COMPLETED in good)
    assert good.count(T.STEP_COMPLETED) == 2
    assert "subscriber bug" in caplog.text or "lifecycle subscriber" in caplog.text

    assert (
        await host.terminate_workflow(wid) is False
    )  # control still works with broken subscribers


async def test_unsubscribe_stops_delivery(host: WorkflowHost) -> None:
    events: list[T] = []
    unsubscribe = host.lifecycle.subscribe(lambda e: events.append(e.type))
    unsubscribe()
    unsubscribe()  # twice is harmless
    assert not host.lifecycle.active
    host.register(WorkflowBuilder().start_with(First).build("quiet"))
    wid = await host.start_workflow("quiet", {})
    await host.wait_for_workflow(wid, timeout=5)
    assert events == []


async def test_hub_delivers_to_every_subscriber_in_order() -> None:
    hub = LifecycleHub()
    seen: list[str] = []
    hub.subscribe(lambda e: seen.append("one"))
    hub.subscribe(lambda e: (_ for _ in ()).throw(ValueError("bad")))
    hub.subscribe(lambda e: seen.append("three"))
    await hub.publish(
        LifecycleEvent(type=T.WORKFLOW_STARTED, workflow_id="w", definition_id="d", version=1)
    )
    assert seen == ["one", "three"]
