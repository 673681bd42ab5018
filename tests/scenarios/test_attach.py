"""AttachScenario: ``attach`` jumps back to a step by its external id, making a loop."""

from __future__ import annotations

from collections import Counter

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


def step1(ctx):
    ticks["step1"] += 1
    return ExecutionResult.next()


def step2(ctx):
    ticks["step2"] += 1
    return ExecutionResult.next()


goto_workflow = (
    WorkflowBuilder()
    .start_with(step1)
    .id("step1")
    .if_do(lambda data: ticks["step1"] < 4, lambda then: then.start_with(step2).attach("step1"))
    .build("GotoWorkflow", 1)
)


async def test_attach(host, error_count):
    host.register(goto_workflow)

    wid = await host.start_workflow("GotoWorkflow", {})
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert ticks["step1"] == 4
    assert ticks["step2"] == 3
    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
