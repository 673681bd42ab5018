"""2.18 ForeachSyncScenario: a sequential for-each runs its iterations one at a time, in list
order, with a delay of ``item`` seconds in each (15 s in all, skipped by the FakeClock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from wfe import ExecutionResult, FakeClock, StepBody, WorkflowBuilder, WorkflowStatus

items_seen: list[int] = []


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    items_seen.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(auto_advance=True)


@dataclass
class MyDataClass:
    counter: int = 0


class DoSomething(StepBody):
    counter: int = 0

    def run(self, ctx):
        items_seen.append(self.counter)
        return ExecutionResult.next()


foreach_sync_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .for_each(
        lambda data: [10, 2, 3],
        lambda body: body.delay(lambda data, ctx: timedelta(seconds=int(ctx.item)))
        .then(DoSomething)
        .input(counter=lambda data, ctx: int(ctx.item))
        .output(counter="counter"),
        parallel=False,
    )
    .build("ForeachSyncWorkflow", 1)
)


async def test_foreach_sync(host, clock, error_count):
    host.register(foreach_sync_workflow)
    started = clock.now()

    wid = await host.start_workflow("ForeachSyncWorkflow", None)
    # The FakeClock skips the 15 s of delays, so this takes well under a second.
    instance = await host.wait_for_workflow(wid, timeout=5)

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.counter == 3
    assert await error_count(wid) == 0
    assert items_seen == [10, 2, 3]
    assert clock.now() - started >= timedelta(seconds=15)
