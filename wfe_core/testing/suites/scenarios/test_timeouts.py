"""Step timeouts and waits with a limit: ``.timeout(period)`` on a step, and
``wait_for(name, key, timeout=period)``.

A step that runs out of its timeout fails with ``StepTimeoutError`` through its error behaviour:
an async body is cancelled, a sync body's result is discarded when its thread ends. A wait with a
timeout goes on without the event when none came in time, and says so in ``step.timed_out``.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

from wfe import ErrorBehavior, ExecutionResult, WorkflowBuilder, WorkflowStatus

SHORT = timedelta(milliseconds=50)

cancelled: list[str] = []
release = threading.Event()
attempts: list[int] = []


async def hangs(ctx):
    try:
        await asyncio.Event().wait()
    finally:
        cancelled.append(ctx.workflow.id)


def blocks(ctx):
    release.wait(10)
    return ExecutionResult.outcome("late")  # discarded: the step timed out long before


async def slow_then_quick(ctx):
    attempts.append(ctx.pointer.retry_count)
    if ctx.pointer.retry_count == 0:
        await asyncio.sleep(10)


def after(ctx):
    ctx.data["after"] = True


async_timeout = (
    WorkflowBuilder()
    .start_with(hangs).name("hangs").timeout(SHORT).on_error(ErrorBehavior.suspend())
    .then(after)
    .build("StepTimeoutAsync", 1)
)
sync_timeout = (
    WorkflowBuilder()
    .start_with(blocks).name("blocks").timeout(SHORT).on_error(ErrorBehavior.terminate())
    .then(after)
    .build("StepTimeoutSync", 1)
)
retried = (
    WorkflowBuilder()
    .start_with(slow_then_quick)
    .timeout(SHORT)
    .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=10), max_retries=2))
    .then(after)
    .build("StepTimeoutRetried", 1)
)
waits = (
    WorkflowBuilder()
    .wait_for("Answer", lambda data: data["key"], timeout=timedelta(milliseconds=200))
    .output(timed_out=lambda step: step.timed_out, answer=lambda step: step.event_data)
    .then(after)
    .build("WaitWithTimeout", 1)
)
waits_long = (
    WorkflowBuilder()
    .wait_for("Answer", lambda data: data["key"], timeout=timedelta(hours=1))
    .output(timed_out=lambda step: step.timed_out, answer=lambda step: step.event_data)
    .then(after)
    .build("WaitWithLongTimeout", 1)
)


async def test_step_timeouts(host):
    """An async step is cancelled, a sync step's late result discarded; both fail with
    ``StepTimeoutError`` through their on_error (suspend, terminate, retry)."""
    for definition in (async_timeout, sync_timeout, retried):
        host.register(definition)
    attempts.clear()
    release.clear()
    try:
        async_id = await host.start_workflow("StepTimeoutAsync", {})
        sync_id = await host.start_workflow("StepTimeoutSync", {})
        retried_id = await host.start_workflow("StepTimeoutRetried", {})
        hung = await host.wait_for_workflow(async_id, timeout=30)
        blocked = await host.wait_for_workflow(sync_id, timeout=30)
        again = await host.wait_for_workflow(retried_id, timeout=30)
    finally:
        release.set()  # the sync step's thread ends now; what it returns goes nowhere

    assert hung.status is WorkflowStatus.SUSPENDED  # its on_error
    assert cancelled.count(async_id) == 1
    errors = await host.get_execution_errors(async_id)
    assert [e.error_type for e in errors] == ["StepTimeoutError"]
    assert "'hangs' ran longer than its timeout of 0:00:00.050000" in errors[0].message
    assert "after" not in hung.data

    assert blocked.status is WorkflowStatus.TERMINATED
    assert [e.error_type for e in await host.get_execution_errors(sync_id)] == ["StepTimeoutError"]
    await asyncio.sleep(0.05)  # let the thread's result arrive, to be dropped
    blocked = await host.get_workflow(sync_id)
    assert blocked.status is WorkflowStatus.TERMINATED
    assert all(p.outcome != "late" for p in blocked.execution_pointers)
    assert "after" not in blocked.data

    assert again.status is WorkflowStatus.COMPLETE
    assert attempts == [0, 1]
    assert again.data["after"] is True
    assert [e.error_type for e in await host.get_execution_errors(retried_id)] == ["StepTimeoutError"]


async def test_waits_with_a_timeout(host, subscriptions, wait_for_subscription):
    """No event in time: the wait goes on with ``timed_out``; an event in time is taken."""
    host.register(waits)
    host.register(waits_long)
    late_key, key = str(uuid.uuid4()), str(uuid.uuid4())
    late_id = await host.start_workflow("WaitWithTimeout", {"key": late_key})
    wid = await host.start_workflow("WaitWithLongTimeout", {"key": key})
    await wait_for_subscription("Answer", key)
    await host.publish_event("Answer", key, "yes")
    answered = await host.wait_for_workflow(wid, timeout=30)
    late = await host.wait_for_workflow(late_id, timeout=30)

    assert answered.status is WorkflowStatus.COMPLETE
    assert answered.data["timed_out"] is False
    assert answered.data["answer"] == "yes"

    assert late.status is WorkflowStatus.COMPLETE
    assert late.data["timed_out"] is True
    assert late.data["answer"] is None
    assert late.data["after"] is True
    assert await host.get_execution_errors(late_id) == []
    # An event that comes too late changes nothing, and spends the wait's subscription.
    await host.publish_event("Answer", late_key, "late")
    for _ in range(500):
        if not await subscriptions("Answer", late_key):
            break
        await asyncio.sleep(0.02)
    assert await subscriptions("Answer", late_key) == []
    assert (await host.get_workflow(late_id)).data["answer"] is None
