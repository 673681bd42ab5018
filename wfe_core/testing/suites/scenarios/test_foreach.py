"""2.17 ForeachScenario: each iteration sees its item as ``ctx.item``; the step after the loop
runs after every iteration; an empty collection is skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from wfe import ExecutionResult, StepBody, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


@dataclass
class MyDataClass:
    numbers: list[int] = field(default_factory=list)
    is_parallel: bool = True


class DoSomething(StepBody):
    def run(self, ctx):
        ticks["step2"] += 1
        ticks["check_sum"] += int(ctx.item)
        return ExecutionResult.next()


def step1(ctx):
    ticks["step1"] += 1
    return ExecutionResult.next()


def after_loop(ctx):
    ticks["after_loop_value"] = ticks["step2"]
    ticks["step3"] += 1
    return ExecutionResult.next()


foreach_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(step1)
    .for_each(
        lambda data: data.numbers,
        lambda body: body.start_with(DoSomething),
        parallel=lambda data: data.is_parallel,
    )
    .then(after_loop)
    .build("ForeachWorkflow", 1)
)


async def test_foreach(host, error_count):
    host.register(foreach_workflow)

    wid = await host.start_workflow("ForeachWorkflow", MyDataClass(numbers=[2, 2, 3]))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert ticks["step1"] == 1
    assert ticks["step2"] == 3
    assert ticks["step3"] == 1
    assert ticks["after_loop_value"] == 3
    assert ticks["check_sum"] == 7
    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0


async def test_empty_collection_sequential(host, error_count):
    host.register(foreach_workflow)

    wid = await host.start_workflow("ForeachWorkflow", MyDataClass(is_parallel=False))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert ticks["step1"] == 1
    assert ticks["step2"] == 0
    assert ticks["step3"] == 1
    assert ticks["after_loop_value"] == 0
    assert ticks["check_sum"] == 0
