"""ParallelEventsScenario: five parallel waits whose events are published at once, racing the
passes of the steps that follow them (workflow-core's nearest thing to a stress test).

The steps' waits are workflow-core's divided by five (2 s, 5 s and 100 ms there): still far
longer than the events take to arrive, so every event comes while steps hold the workflow.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest

from wfe import ExecutionResult, StepBody, WorkflowBuilder, WorkflowStatus

EVENT_KEY = "EVENT_KEY"


@pytest.fixture
def poll_interval() -> float:
    return 1.0  # as the C# scenario


@dataclass
class MyDataClass:
    str_value1: str = ""
    str_value2: str = ""


class SomeTask(StepBody):
    delay: timedelta = timedelta(0)

    async def run(self, ctx):
        # A real wait: the point is that events arrive while these steps hold the workflow.
        await asyncio.sleep(self.delay.total_seconds())
        return ExecutionResult.next()


def waits_then_works(event_name: str, delay: timedelta):
    return lambda b: b.wait_for(event_name, lambda data: EVENT_KEY).then(SomeTask).input(
        delay=lambda data: delay
    )


parallel_events_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .parallel(
        lambda p: p.branch(waits_then_works("Event1", timedelta(milliseconds=400)))
        .branch(waits_then_works("Event2", timedelta(milliseconds=400)))
        .branch(waits_then_works("Event3", timedelta(seconds=1)))
        .branch(waits_then_works("Event4", timedelta(milliseconds=20)))
        .branch(waits_then_works("Event5", timedelta(milliseconds=20)))
    )
    .then(lambda ctx: ExecutionResult.next())
    .build("ParallelEventsScenario", 1)
)


async def test_parallel_events(host, error_count):
    host.register(parallel_events_workflow)
    event_key = str(uuid.uuid4())

    wid = await host.start_workflow(
        "ParallelEventsScenario", MyDataClass(str_value1=event_key, str_value2=event_key)
    )
    for n in range(1, 6):
        await host.publish_event(f"Event{n}", EVENT_KEY, f"Pass{n}")
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
