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


def after(ctx):
    ticks["after"] += 1


goto_then_continue = (
    WorkflowBuilder()
    .start_with(step1)
    .id("step1")
    .if_do(lambda data: ticks["step1"] < 3, lambda then: then.start_with(step2).attach("step1"))
    .then(after)
    .build("GotoThenContinue", 1)
)


async def test_steps_after_a_container_left_by_attach_run_once(host, error_count):
    """The jump out of the if-body replaces it: the if does not also finish and go on."""
    host.register(goto_then_continue)

    wid = await host.start_workflow("GotoThenContinue", {})
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert (ticks["step1"], ticks["step2"], ticks["after"]) == (3, 2, 1)
    assert await error_count(wid) == 0
    assert all(not p.scope for p in instance.execution_pointers if p.step_id == 0)
