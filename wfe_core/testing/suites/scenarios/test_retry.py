"""Retries with backoff: a failing step is retried after ``interval``, ``interval * backoff``,
... capped at ``max_interval``; when ``max_retries`` retries have failed, the workflow is
Suspended with an execution error saying so, and ``resume_workflow`` gives the step a fresh
start. The FakeClock skips the waits; the error times show the engine's schedule."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

import pytest

from wfe import (
    ErrorBehavior,
    ExecutionResult,
    FakeClock,
    WorkflowBuilder,
    WorkflowStatus,
)

ticks: Counter[str] = Counter()
#: How many attempts of ``flaky`` fail; ``None``: every one.
failures: dict[str, int | None] = {}


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()
    failures["count"] = None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(auto_advance=True)


@dataclass
class MyDataClass:
    pass


def flaky(ctx):
    ticks["attempts"] += 1
    limit = failures["count"]
    if limit is None or ticks["attempts"] <= limit:
        raise ConnectionError("service unavailable")


def tail(ctx):
    ticks["tail"] += 1


def retrying(behavior: ErrorBehavior, definition_id: str):
    return (
        WorkflowBuilder(MyDataClass)
        .start_with(lambda ctx: ExecutionResult.next())
        .then(flaky)
        .on_error(behavior)
        .then(tail)
        .build(definition_id, 1)
    )


S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("behavior", "gaps"),
    [
        (ErrorBehavior.retry(interval=S, max_retries=3, backoff=2.0), [S, 2 * S, 4 * S]),
        (
            ErrorBehavior.retry(interval=S, max_retries=4, backoff=2.0, max_interval=3 * S),
            [S, 2 * S, 3 * S, 3 * S],
        ),
    ],
    ids=["backoff", "max_interval"],
)
async def test_retries_exhausted_suspend_the_workflow(host, behavior, gaps):
    host.register(retrying(behavior, "RetryWorkflow"))

    wid = await host.start_workflow("RetryWorkflow", MyDataClass())
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.SUSPENDED
    assert ticks["attempts"] == 1 + behavior.max_retries
    assert ticks["tail"] == 0
    errors = await host.get_execution_errors(wid)
    # One error per failed attempt, then the one that says why the workflow was suspended.
    assert len(errors) == 1 + behavior.max_retries + 1
    assert all("service unavailable" in e.message for e in errors[:-1])
    assert "retries exhausted" in errors[-1].message
    attempt_times = [e.error_time for e in errors[:-1]]
    assert [b - a for a, b in pairwise(attempt_times)] == gaps

    failures["count"] = 0
    assert await host.resume_workflow(wid) is True
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert ticks["attempts"] == 2 + behavior.max_retries
    assert ticks["tail"] == 1


async def test_retry_until_the_step_succeeds(host, error_count):
    host.register(retrying(ErrorBehavior.retry(interval=S, max_retries=5), "RetryWorkflow"))
    failures["count"] = 2

    wid = await host.start_workflow("RetryWorkflow", MyDataClass())
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert ticks["attempts"] == 3
    assert ticks["tail"] == 1
    assert await error_count(wid) == 2


async def test_definition_default_error_behavior(host, error_count):
    definition = (
        WorkflowBuilder(MyDataClass, default_error_behavior=ErrorBehavior.suspend())
        .start_with(flaky)
        .then(tail)
        .build("SuspendingWorkflow", 1)
    )
    host.register(definition)

    wid = await host.start_workflow("SuspendingWorkflow", MyDataClass())
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.SUSPENDED
    assert ticks["attempts"] == 1
    assert ticks["tail"] == 0
    assert await error_count(wid) == 1

    failures["count"] = 0
    assert await host.resume_workflow(wid) is True
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert ticks["attempts"] == 2
    assert ticks["tail"] == 1
