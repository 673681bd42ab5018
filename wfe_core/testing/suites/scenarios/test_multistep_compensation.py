"""2.23 MultistepCompensationScenario: in a saga, the failing step's compensation runs first,
then those of its completed siblings, newest first, one after another; a compensation sequence
counts as one link. A saga with no error behaviour then lets the workflow complete."""

from __future__ import annotations

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

fired: dict[str, int] = {}


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    fired.update(counter=0, c1=-1, c2=-1, c3=-1, c4=-1)


def compensation(name: str):
    def step(ctx):
        fired["counter"] += 1
        fired[name] = fired["counter"]

    return step


def fail(ctx):
    raise RuntimeError("the last step of the saga failed")


def noop(ctx):
    return ExecutionResult.next()


compensating_workflow = (
    WorkflowBuilder()
    .start_with(noop)
    .saga(
        lambda s: s.start_with(noop)
        .compensate_with(compensation("c1"))
        .then(noop)
        .compensate_with_sequence(lambda seq: seq.start_with(compensation("c2")))
        .then(noop)
        .compensate_with(compensation("c3"))
        .then(fail)
        .compensate_with(compensation("c4"))
    )
    .build("CompensatingWorkflow", 1)
)


async def test_multistep_compensation(host, error_count):
    host.register(compensating_workflow)

    wid = await host.start_workflow("CompensatingWorkflow", None)
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 1
    assert fired["c1"] == 4
    assert fired["c2"] == 3
    assert fired["c3"] == 2
    assert fired["c4"] == 1
