"""2.36 WhileScenario: the condition is re-evaluated on the updated data after each full pass
through the body, and the body runs to completion before the next check."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import pytest

from wfe import ExecutionResult, StepBody, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()
moments: dict[str, float] = {}


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()
    moments.clear()


@dataclass
class MyDataClass:
    counter: int = 0


class DoSomething(StepBody):
    counter: int = 0

    def run(self, ctx):
        ticks["step2"] += 1
        self.counter = ticks["step2"]
        time.sleep(0.05)
        return ExecutionResult.next()


def step1(ctx):
    ticks["step1"] += 1


def pause(ctx):
    time.sleep(0.5)


def last_while_block(ctx):
    moments["last_while_block"] = time.monotonic()


def after_loop(ctx):
    ticks["after_loop_value"] = ticks["step2"]
    ticks["step3"] += 1
    moments["after_while_block"] = time.monotonic()
    return ExecutionResult.next()


while_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(step1)
    .while_do(
        lambda data: data.counter < 3,
        lambda b: b.start_with(DoSomething)
        .output(counter="counter")
        .then(pause)
        .then(last_while_block),
    )
    .then(after_loop)
    .build("WhileWorkflow", 1)
)


async def test_while(host, error_count):
    host.register(while_workflow)

    wid = await host.start_workflow("WhileWorkflow", MyDataClass(counter=0))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert ticks["step1"] == 1
    assert ticks["step2"] == 3
    assert ticks["step3"] == 1
    assert ticks["after_loop_value"] == 3
    assert moments["after_while_block"] > moments["last_while_block"]
    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
