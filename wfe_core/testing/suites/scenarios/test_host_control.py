"""Suspend, resume and terminate through the host; each says whether it changed anything."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


@dataclass
class MyDataClass:
    answer: str | None = None


def tail(ctx):
    ticks["tail"] += 1


waiting_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .wait_for("go", lambda data, ctx: ctx.workflow.id)
    .output(answer=lambda step: step.event_data)
    .then(tail)
    .build("WaitingWorkflow", 1)
)


async def test_suspend_and_resume(host, wait_for_subscription, wait_until):
    host.register(waiting_workflow)
    wid = await host.start_workflow("WaitingWorkflow", MyDataClass())
    await wait_for_subscription("go", wid)

    assert await host.suspend_workflow(wid) is True
    assert (await host.get_workflow(wid)).status is WorkflowStatus.SUSPENDED
    assert await host.suspend_workflow(wid) is False

    # The event reaches the suspended workflow, which does not move until it is resumed.
    eid = await host.publish_event("go", wid, "yes")

    async def processed() -> bool:
        event = await host.persistence.get_event(eid)
        return event is not None and event.is_processed

    await wait_until(processed, what="the event being delivered")
    instance = await host.get_workflow(wid)
    assert instance.status is WorkflowStatus.SUSPENDED
    assert ticks["tail"] == 0

    assert await host.resume_workflow(wid) is True
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.answer == "yes"
    assert ticks["tail"] == 1
    assert await host.resume_workflow(wid) is False


async def test_terminate(host, wait_for_subscription, wait_until, error_count):
    host.register(waiting_workflow)
    wid = await host.start_workflow("WaitingWorkflow", MyDataClass())
    await wait_for_subscription("go", wid)

    assert await host.terminate_workflow(wid) is True
    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.TERMINATED
    assert instance.complete_time is not None
    assert await host.terminate_workflow(wid) is False
    assert await host.suspend_workflow(wid) is False
    assert await host.resume_workflow(wid) is False

    # A later event is delivered to no effect: the remaining steps never run.
    eid = await host.publish_event("go", wid, "too late")

    async def processed() -> bool:
        event = await host.persistence.get_event(eid)
        return event is not None and event.is_processed

    await wait_until(processed, what="the event being processed")
    instance = await host.get_workflow(wid)
    assert instance.status is WorkflowStatus.TERMINATED
    assert instance.data.answer is None
    assert ticks["tail"] == 0
    assert await error_count(wid) == 0

