"""Workflow deadlines: ``start_workflow(..., timeout=)`` and a definition's ``timeout``.

When the deadline passes the workflow is terminated, its running steps are cancelled, and the
reason is recorded as an execution error (``WorkflowDeadlineError``) and a ``WORKFLOW_TERMINATED``
lifecycle event. The deadline is stored with the workflow: a host started after it passed (the
first one stopped) ends the workflow too. Time is a ``FakeClock`` moved by hand, except for the
step cut short by its deadline, which runs in real time (300 ms).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe_core import LifecycleEventType
from wfe_core.testing import FakeClock

HOUR = timedelta(hours=1)

cancelled: list[str] = []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def mark(ctx):
    ctx.data["ran"] = ctx.data.get("ran", 0) + 1


async def hangs(ctx):
    try:
        await asyncio.Event().wait()
    finally:
        cancelled.append(ctx.workflow.id)


waits = (
    WorkflowBuilder()
    .start_with(mark)
    .wait_for("Never", lambda data: data["key"])
    .then(mark)
    .build("DeadlineWaits", 1)
)
delays = (
    WorkflowBuilder(timeout=timedelta(minutes=30))
    .start_with(mark)
    .delay(2 * HOUR)
    .then(mark)
    .build("DeadlineDefault", 1)
)
hanging = WorkflowBuilder().start_with(hangs).then(mark).build("DeadlineHangs", 1)


async def test_a_deadline_terminates_the_workflow_and_says_why(
    host, clock, wait_for_subscription
):
    for definition in (waits, delays, hanging):
        host.register(definition)
    seen = []
    host.lifecycle.subscribe(seen.append)
    key = str(uuid.uuid4())
    waiting = await host.start_workflow("DeadlineWaits", {"key": key}, timeout=HOUR)
    by_default = await host.start_workflow("DeadlineDefault", {})
    overridden = await host.start_workflow("DeadlineDefault", {}, timeout=3 * HOUR)
    hung = await host.start_workflow("DeadlineHangs", {}, timeout=timedelta(milliseconds=300))
    await wait_for_subscription("Never", key)

    # The running step is cancelled at its deadline (real time: the step runs, time does not).
    ended = await host.wait_for_workflow(hung, timeout=30)
    assert ended.status is WorkflowStatus.TERMINATED
    assert cancelled.count(hung) == 1
    assert "ran" not in ended.data

    clock.advance(2 * HOUR)
    for wid in (waiting, by_default):
        ended = await host.wait_for_workflow(wid, timeout=30)
        assert ended.status is WorkflowStatus.TERMINATED
        assert ended.data["ran"] == 1  # the step after the wait (or the delay) never ran
        assert all(p.end_time is not None for p in ended.execution_pointers)
    done = await host.wait_for_workflow(overridden, timeout=30)
    assert done.status is WorkflowStatus.COMPLETE  # its own timeout (3 h) had not passed
    assert done.data["ran"] == 2

    for wid in (waiting, by_default, hung):
        errors = await host.get_execution_errors(wid)
        assert [e.error_type for e in errors] == ["WorkflowDeadlineError"], wid
        assert "deadline" in errors[0].message and "terminated" in errors[0].message
        terminated = [e for e in seen if e.workflow_id == wid and e.type is LifecycleEventType.WORKFLOW_TERMINATED]
        assert len(terminated) == 1
        assert terminated[0].message == errors[0].message
    assert await host.get_execution_errors(overridden) == []


async def test_a_deadline_that_passed_while_no_host_ran_ends_the_workflow_at_the_next_start(
    host, clock, stores, wait_for_subscription
):
    host.register(waits)
    key = str(uuid.uuid4())
    wid = await host.start_workflow("DeadlineWaits", {"key": key}, timeout=HOUR)
    await wait_for_subscription("Never", key)
    await host.stop()

    clock.advance(2 * HOUR)
    if stores.set.persistence == "memory":  # a memory store lives in the first host's objects
        other = WorkflowHost(host.persistence, host.lock, host.queue, host.search_index,
                             clock=clock, poll_interval=0.05)
    else:
        other = stores.host(clock=clock, poll_interval=0.05)
    other.register(waits)
    async with other:
        ended = await other.wait_for_workflow(wid, timeout=30)
    assert ended.status is WorkflowStatus.TERMINATED
    assert [e.error_type for e in await other.get_execution_errors(wid)] == ["WorkflowDeadlineError"]

