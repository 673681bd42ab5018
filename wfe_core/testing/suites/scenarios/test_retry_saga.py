"""2.28 RetrySagaScenario and NestedRetrySagaScenario: an error inside a saga (directly, or
nested in an ``if`` inside it) bubbles up to the saga's ``retry``: the saga is compensated,
then run again as a whole (1 s between attempts, skipped by the FakeClock)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest

from wfe import (
    ErrorBehavior,
    ExecutionResult,
    FakeClock,
    WorkflowBuilder,
    WorkflowStatus,
)

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(auto_advance=True)


@dataclass
class MyDataClass:
    pass


def tick(name: str):
    def step(ctx):
        ticks[name] += 1

    return step


def event1(ctx):
    ticks["event1"] += 1
    if ticks["event1"] < 3:
        raise RuntimeError(f"attempt {ticks['event1']} failed")
    ticks["event2"] += 1


def noop(ctx):
    return ExecutionResult.next()


retry_saga_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(noop)
    .compensate_with(tick("c1"))
    .saga(
        lambda x: x.start_with(noop)
        .compensate_with(tick("c2"))
        .then(event1)
        .compensate_with(tick("c3"))
        .then(tick("event3"))
        .compensate_with(tick("c4"))
    )
    .on_error(ErrorBehavior.retry(timedelta(seconds=1)))
    .then(tick("tail"))
    .build("RetrySagaWorkflow", 1)
)


nested_retry_saga_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(noop)
    .compensate_with(tick("c1"))
    .saga(
        lambda x: x.start_with(noop)
        .compensate_with(tick("c2"))
        .if_do(lambda data: True, lambda i: i.start_with(event1).compensate_with(tick("c3")))
        .then(tick("event3"))
        .compensate_with(tick("c4"))
    )
    .on_error(ErrorBehavior.retry(timedelta(seconds=1)))
    .then(tick("tail"))
    .build("NestedRetrySagaWorkflow", 1)
)


@pytest.mark.parametrize(
    "definition", [retry_saga_workflow, nested_retry_saga_workflow], ids=["flat", "nested"]
)
async def test_retry_saga(host, error_count, definition):
    host.register(definition)

    wid = await host.start_workflow(definition.id, MyDataClass())
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 2
    assert ticks["event1"] == 3
    assert ticks["event2"] == 1
    assert ticks["event3"] == 1
    assert ticks["c1"] == 0
    assert ticks["c2"] == 2
    assert ticks["c3"] == 2
    assert ticks["c4"] == 0
    assert ticks["tail"] == 1
