"""WhenScenario: an outcome switch runs every ``when`` whose value equals the outcome, and the
step after the switch waits for all of them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()
moments: dict[str, float] = {}


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()
    moments.clear()


@dataclass
class MyDataClass:
    counter: int = 0


def case(name: str):
    def step(ctx):
        ticks[name] += 1
        moments["last_block"] = time.monotonic()
        time.sleep(0.2)
        return ExecutionResult.next()

    return step


def after(ctx):
    moments["after_block"] = time.monotonic()
    return ExecutionResult.next()


when_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.outcome(2))
    .when(lambda data: 1, lambda b: b.start_with(case("case1")))
    .when(lambda data: 2, lambda b: b.start_with(case("case2")))
    .when(lambda data: 2, lambda b: b.start_with(case("case3")))
    .then(after)
    .build("WhenWorkflow", 1)
)


async def test_when(host, error_count):
    host.register(when_workflow)

    wid = await host.start_workflow("WhenWorkflow", MyDataClass(counter=2))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert ticks["case1"] == 0
    assert ticks["case2"] == 1
    assert ticks["case3"] == 1
    assert moments["after_block"] > moments["last_block"]
    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
