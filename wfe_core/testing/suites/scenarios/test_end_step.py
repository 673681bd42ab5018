"""2.13 EndStepScenario: an end step completes the workflow at once, from inside an endless
loop, and nothing after it runs."""

from __future__ import annotations

from collections import Counter

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


def start_step(ctx):
    ticks["start"] += 1
    return ExecutionResult.next()


def mid_step(ctx):
    ticks["mid"] += 1
    return ExecutionResult.next()


def end_step(ctx):
    ticks["end"] += 1
    return ExecutionResult.next()


end_step_workflow = (
    WorkflowBuilder()
    .start_with(start_step)
    .while_do(lambda data: True, lambda body: body.start_with(mid_step).end())
    .then(end_step)
    .build("EndStepScenario", 1)
)


async def test_end_step(host):
    host.register(end_step_workflow)

    wid = await host.start_workflow("EndStepScenario", None)
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert ticks["start"] == 1
    assert ticks["mid"] == 1
    assert ticks["end"] == 0
