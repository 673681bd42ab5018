"""2.20 ForkScenario: routing on a step's outcome value; only the outcome whose value equals the
returned one is followed."""

from __future__ import annotations

from collections import Counter

import pytest

from wfe import ExecutionResult, StepBody, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


class TaskA(StepBody):
    def run(self, ctx):
        ticks["a"] += 1
        return ExecutionResult.outcome(True)


class TaskB(StepBody):
    def run(self, ctx):
        ticks["b"] += 1
        return ExecutionResult.next()


class TaskC(StepBody):
    def run(self, ctx):
        ticks["c"] += 1
        return ExecutionResult.next()


outcome_fork = (
    WorkflowBuilder()
    .start_with(TaskA)
    .branch(False, lambda b: b.start_with(TaskB))
    .branch(True, lambda b: b.start_with(TaskC))
    .build("OutcomeFork", 1)
)


async def test_fork(host):
    host.register(outcome_fork)

    wid = await host.start_workflow("OutcomeFork")
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert ticks["a"] == 1
    assert ticks["b"] == 0
    assert ticks["c"] == 1
