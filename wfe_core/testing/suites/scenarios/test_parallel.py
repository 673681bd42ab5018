"""2.27 ParallelScenario: branches advance independently, the join waits for the branch that is
blocked on an event, and every step runs exactly once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from wfe import WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


@dataclass
class MyDataClass:
    pass


def tick(name: str):
    def step(ctx):
        ticks[name] += 1

    return step


parallel_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(tick("start"))
    .parallel(
        lambda p: p.branch(lambda b: b.start_with(tick("step11")).then(tick("step12")))
        .branch(
            lambda b: b.start_with(tick("step21"))
            .wait_for("MyEventInParallel", "0")
            .then(tick("step22"))
        )
        .branch(lambda b: b.start_with(tick("step31")).then(tick("step32")))
    )
    .then(tick("end"))
    .build("ParallelWorkflow", 1)
)


async def test_parallel(host, wait_until, wait_for_subscription, error_count):
    host.register(parallel_workflow)

    wid = await host.start_workflow("ParallelWorkflow", MyDataClass())
    await wait_until(
        lambda: ticks["step12"] > 0 or ticks["step32"] > 0, what="a branch reaching its 2nd step"
    )
    await wait_for_subscription("MyEventInParallel", "0")
    assert ticks["step22"] == 0
    await host.publish_event("MyEventInParallel", "0", "Pass")
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    for name in ("start", "end", "step11", "step12", "step21", "step22", "step31", "step32"):
        assert ticks[name] == 1, name
