"""2.6 CompensationScenario: a failing step with a compensation step compensates once, is not
retried, and the workflow resumes after the failed step."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

fired: dict[str, bool] = {}


@pytest.fixture(autouse=True)
def reset_flags() -> None:
    fired.update(event1=False, event2=False, tail=False, compensation=False)


@dataclass
class MyDataClass:
    throw_exception: bool = False


def event_step(ctx):
    fired["event1"] = True
    if ctx.data.throw_exception:
        raise RuntimeError("step 2 failed")
    fired["event2"] = True


def compensation(ctx):
    fired["compensation"] = True


def tail(ctx):
    fired["tail"] = True


compensation_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .then(event_step)
    .compensate_with(compensation)
    .then(tail)
    .build("CompensationWorkflow", 1)
)


async def test_no_exception(host, error_count):
    host.register(compensation_workflow)

    wid = await host.start_workflow("CompensationWorkflow", MyDataClass(throw_exception=False))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert fired == {"event1": True, "event2": True, "compensation": False, "tail": True}


async def test_exception(host, error_count):
    host.register(compensation_workflow)

    wid = await host.start_workflow("CompensationWorkflow", MyDataClass(throw_exception=True))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 1
    assert fired == {"event1": True, "event2": False, "compensation": True, "tail": True}
