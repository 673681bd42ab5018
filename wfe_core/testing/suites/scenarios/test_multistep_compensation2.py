"""MultistepCompensationScenario2: compensation order across a container nested in a saga --
the failed step's, then its completed siblings' inside the if (newest first), then the saga's
earlier steps'; every compensation sequence runs its own steps forward."""

from __future__ import annotations

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

fired: dict[str, int] = {}


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    fired.update(counter=0, c1_1=-1, c1_2=-1, c2_1=-1, c2_2=-1, c3=-1, c4=-1)


def compensation(name: str):
    def step(ctx):
        fired["counter"] += 1
        fired[name] = fired["counter"]

    return step


def fail(ctx):
    raise RuntimeError("the last step in the if failed")


def noop(ctx):
    return ExecutionResult.next()


multistep_compensation_workflow2 = (
    WorkflowBuilder()
    .start_with(noop)
    .saga(
        lambda x: x.start_with(noop)
        .compensate_with_sequence(
            lambda c: c.start_with(compensation("c1_1")).then(compensation("c1_2"))
        )
        .if_do(
            lambda data: True,
            lambda then: then.then(noop)
            .compensate_with_sequence(
                lambda c: c.start_with(compensation("c2_1")).then(compensation("c2_2"))
            )
            .then(noop)
            .compensate_with(compensation("c3"))
            .then(fail)
            .compensate_with(compensation("c4")),
        )
    )
    .build("MultistepCompensationScenario2", 1)
)


async def test_multi_compensation_step_order(host, error_count):
    host.register(multistep_compensation_workflow2)

    wid = await host.start_workflow("MultistepCompensationScenario2", None)
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 1
    assert fired["c1_2"] == 6
    assert fired["c1_1"] == 5
    assert fired["c2_2"] == 4
    assert fired["c2_1"] == 3
    assert fired["c3"] == 2
    assert fired["c4"] == 1
