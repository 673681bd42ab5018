"""2.16 FailingSagaScenario: an exception deep inside a saga bubbles up to the saga's
``terminate``; the workflow is Terminated and nothing after the failure runs."""

from __future__ import annotations

from collections import Counter

import pytest

from wfe import ErrorBehavior, ExecutionResult, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()


def event1(ctx):
    ticks["event1"] += 1
    raise RuntimeError("fails inside the saga")


def event2(ctx):
    ticks["event2"] += 1


def event3(ctx):
    ticks["event3"] += 1


def noop(ctx):
    return ExecutionResult.next()


failing_saga_workflow = (
    WorkflowBuilder()
    .start_with(noop)
    .saga(
        lambda x: x.start_with(noop)
        .if_do(lambda data: True, lambda i: i.start_with(event1))
        .then(event2)
    )
    .on_error(ErrorBehavior.terminate())
    .then(event3)
    .build("NestedRetrySaga2Workflow", 1)
)


async def test_failing_saga(host, error_count):
    host.register(failing_saga_workflow)

    wid = await host.start_workflow("NestedRetrySaga2Workflow", None)
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.TERMINATED
    assert await error_count(wid) == 1
    assert ticks["event1"] == 1
    assert ticks["event2"] == 0
    assert ticks["event3"] == 0
