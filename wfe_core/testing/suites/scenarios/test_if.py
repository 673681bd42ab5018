"""2.21 IfScenario: chained ifs run in sequence, a false if is skipped, and the step after an
if waits for the if's block to finish."""

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


def step1(ctx):
    ticks["step1"] += 1
    return ExecutionResult.next()


def if_block(name: str):
    def step(ctx):
        ticks[name] += 1
        moments["last_if_block"] = time.monotonic()
        time.sleep(0.2)
        return ExecutionResult.next()

    return step


def step2(ctx):
    ticks["step2"] += 1
    moments["after_if_block"] = time.monotonic()
    return ExecutionResult.next()


if_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(step1)
    .if_do(lambda data: data.counter < 3, lambda b: b.start_with(if_block("if1")))
    .if_do(lambda data: data.counter == 5, lambda b: b.start_with(if_block("if2")))
    .if_do(lambda data: data.counter == 2, lambda b: b.start_with(if_block("if3")))
    .then(step2)
    .build("IfWorkflow", 1)
)


async def test_if(host, error_count):
    host.register(if_workflow)

    wid = await host.start_workflow("IfWorkflow", MyDataClass(counter=2))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert ticks["step1"] == 1
    assert ticks["step2"] == 1
    assert ticks["if1"] == 1
    assert ticks["if2"] == 0
    assert ticks["if3"] == 1
    assert moments["after_if_block"] > moments["last_if_block"]
    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
