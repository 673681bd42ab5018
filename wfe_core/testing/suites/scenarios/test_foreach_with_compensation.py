"""ForeachWithCompensationScenario: a step that fails inside a for-each, behind a decision, is
compensated (by a sequence) once and not retried; the workflow completes."""

from __future__ import annotations

from collections import Counter

import pytest

from wfe import WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


def step1(ctx):
    ticks["step1"] += 1


def step2(ctx):
    ticks["step2"] += 1


def step3(ctx):
    ticks["step3"] += 1
    raise RuntimeError("step 3 failed")


def compensate(ctx):
    ticks["compensate"] += 1


foreach_with_compensation_workflow = (
    WorkflowBuilder()
    .start_with(step1)
    .then(step2)
    .for_each(
        lambda data: [1],
        lambda body: body.decide(lambda data: 1).branch(
            1,
            lambda branch: branch.start_with(step3).compensate_with_sequence(
                lambda seq: seq.start_with(compensate)
            ),
        ),
    )
    .build("ForeachWithCompensationWorkflow", 1)
)


async def test_foreach_with_compensation(host, error_count):
    host.register(foreach_with_compensation_workflow)

    wid = await host.start_workflow("ForeachWithCompensationWorkflow", {})
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert ticks["step1"] == 1
    assert ticks["step2"] == 1
    assert ticks["step3"] == 1
    assert ticks["compensate"] == 1
    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 1
