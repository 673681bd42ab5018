"""``schedule`` and ``recur`` (workflow-core's Schedule and Recur primitives): their bodies run
after / every ``interval`` beside the rest of the workflow, which goes on at once. The FakeClock
skips the intervals; each step notes the engine's time of its pass (``ctx.pointer.start_time``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from wfe import FakeClock, StepBody, WorkflowBuilder, WorkflowStatus

INTERVAL = timedelta(seconds=5)

log: list[tuple[str, datetime]] = []


@pytest.fixture(autouse=True)
def reset_log() -> None:
    log.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(auto_advance=True)


def noting(name: str):
    def step(ctx):
        log.append((name, ctx.pointer.start_time))

    return step


def timeline() -> list[tuple[str, timedelta]]:
    """The log, with times relative to the first step's."""
    start = log[0][1]
    return [(name, at - start) for name, at in log]


@dataclass
class MyDataClass:
    counter: int = 0


class Increment(StepBody):
    def run(self, ctx):
        ctx.data.counter += 1
        log.append((f"body {ctx.data.counter}", ctx.pointer.start_time))


schedule_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(noting("first"))
    .schedule(INTERVAL, lambda b: b.start_with(noting("scheduled")))
    .then(noting("beside"))
    .build("ScheduleWorkflow", 1)
)

recur_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(noting("first"))
    .recur(INTERVAL, lambda data: data.counter >= 3, lambda b: b.start_with(Increment))
    .then(noting("beside"))
    .build("RecurWorkflow", 1)
)


async def test_schedule(host, error_count):
    host.register(schedule_workflow)

    wid = await host.start_workflow("ScheduleWorkflow", MyDataClass())
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert timeline() == [
        ("first", timedelta(0)),
        ("beside", timedelta(0)),
        ("scheduled", INTERVAL),
    ]


async def test_recur(host, error_count):
    host.register(recur_workflow)

    wid = await host.start_workflow("RecurWorkflow", MyDataClass())
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert instance.data.counter == 3
    assert timeline() == [
        ("first", timedelta(0)),
        ("beside", timedelta(0)),
        ("body 1", timedelta(0)),
        ("body 2", INTERVAL),
        ("body 3", 2 * INTERVAL),
    ]
