"""2.30 SagaScenario: on failure inside a saga, the failed step's and its completed siblings'
compensations run, and the saga's own; later saga steps never run; steps outside the saga are
not compensated, and the workflow continues after the saga."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

fired: dict[str, bool] = {}
NAMES = ("e1", "e2", "e3", "tail", "c1", "c2", "c3", "c4", "c5", "c6")


@pytest.fixture(autouse=True)
def reset_flags() -> None:
    fired.update(dict.fromkeys(NAMES, False))


@dataclass
class MyDataClass:
    throw_exception: bool = False


def fire(name: str):
    def step(ctx):
        fired[name] = True

    return step


def event1(ctx):
    fired["e1"] = True
    if ctx.data.throw_exception:
        raise RuntimeError("fails inside the saga")
    fired["e2"] = True


def noop(ctx):
    return ExecutionResult.next()


saga_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(noop)
    .compensate_with(fire("c1"))
    .saga(
        lambda x: x.start_with(noop)
        .compensate_with(fire("c2"))
        .then(event1)
        .compensate_with(fire("c3"))
        .then(fire("e3"))
        .compensate_with(fire("c4"))
    )
    .compensate_with(fire("c5"))
    .then(fire("tail"))
    .compensate_with(fire("c6"))
    .build("SagaWorkflow", 1)
)


async def test_no_exception(host, error_count):
    host.register(saga_workflow)

    wid = await host.start_workflow("SagaWorkflow", MyDataClass(throw_exception=False))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert fired == {
        "e1": True, "e2": True, "e3": True, "tail": True,
        "c1": False, "c2": False, "c3": False, "c4": False, "c5": False, "c6": False,
    }  # fmt: skip


async def test_exception(host, error_count):
    host.register(saga_workflow)

    wid = await host.start_workflow("SagaWorkflow", MyDataClass(throw_exception=True))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 1
    assert fired == {
        "e1": True, "e2": False, "e3": False, "tail": True,
        "c1": False, "c2": True, "c3": True, "c4": False, "c5": True, "c6": False,
    }  # fmt: skip
