"""2.4 BasicScenario: a class step followed by an inline step, started without data."""

from __future__ import annotations

from collections import Counter

import pytest

from wfe import ExecutionResult, StepBody, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


class Step1(StepBody):
    def run(self, ctx):
        ticks["step1"] += 1
        return ExecutionResult.next()


def step2(ctx):
    ticks["step2"] += 1
    return ExecutionResult.next()


basic_workflow = WorkflowBuilder().start_with(Step1).then(step2).build("BasicWorkflow", 1)


async def test_basic(host, error_count):
    host.register(basic_workflow)

    wid = await host.start_workflow("BasicWorkflow", None)
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert ticks["step1"] == 1
    assert ticks["step2"] == 1
