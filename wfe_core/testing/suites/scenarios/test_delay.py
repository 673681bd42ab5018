"""2.10 DelayScenario: a delay longer than the poll interval is resumed by the poller, and the
delay step runs once.

This scenario is about the poller, so it keeps real time: the poll interval is short and the
delay is longer than it -- longer even than the in-process timer horizon (twice the poll
interval), so only the poller can find the workflow again.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest

from wfe import WorkflowBuilder, WorkflowStatus

POLL_INTERVAL = 0.25
WAIT_TIME = timedelta(seconds=2 * POLL_INTERVAL + 0.5)

ticks: Counter[str] = Counter()
seen_at: dict[str, float] = {}


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()
    seen_at.clear()


@pytest.fixture
def poll_interval() -> float:
    return POLL_INTERVAL


@dataclass
class MyDataClass:
    wait_time: timedelta = timedelta(0)


def step1(ctx):
    ticks["step1"] += 1
    seen_at["step1"] = time.monotonic()


def step2(ctx):
    ticks["step2"] += 1
    seen_at["step2"] = time.monotonic()


delay_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(step1)
    .delay(lambda data: data.wait_time)
    .then(step2)
    .build("DelayWorkflow", 1)
)


async def test_delay(host, error_count):
    host.register(delay_workflow)

    wid = await host.start_workflow("DelayWorkflow", MyDataClass(wait_time=WAIT_TIME))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert ticks["step1"] == 1
    assert ticks["step2"] == 1
    assert seen_at["step2"] - seen_at["step1"] >= WAIT_TIME.total_seconds()
