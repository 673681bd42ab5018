"""2.7 CompensationScenario2: a compensation *sequence* runs fully, then the workflow resumes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

fired: dict[str, bool] = {}


@pytest.fixture(autouse=True)
def reset_flags() -> None:
    fired.update(event1=False, event2=False, tail=False, compensation1=False, compensation2=False)


@dataclass
class MyDataClass:
    throw_exception: bool = False


def event_step(ctx):
    fired["event1"] = True
    if ctx.data.throw_exception:
        raise RuntimeError("step 2 failed")
    fired["event2"] = True


def compensation1(ctx):
    fired["compensation1"] = True


def compensation2(ctx):
    fired["compensation2"] = True


def tail(ctx):
    fired["tail"] = True


compensation_workflow2 = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .then(event_step)
    .compensate_with_sequence(lambda seq: seq.start_with(compensation1).then(compensation2))
    .then(tail)
    .build("CompensationWorkflow2", 1)
)


async def test_no_exception(host, error_count):
    host.register(compensation_workflow2)

    wid = await host.start_workflow("CompensationWorkflow2", MyDataClass(throw_exception=False))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert fired == {
        "event1": True,
        "event2": True,
        "compensation1": False,
        "compensation2": False,
        "tail": True,
    }


async def test_exception(host, error_count):
    host.register(compensation_workflow2)

    wid = await host.start_workflow("CompensationWorkflow2", MyDataClass(throw_exception=True))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 1
    assert fired == {
        "event1": True,
        "event2": False,
        "compensation1": True,
        "compensation2": True,
        "tail": True,
    }
