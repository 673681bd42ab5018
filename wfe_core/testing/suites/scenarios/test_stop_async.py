"""2.31 StopAsyncScenario: a graceful ``stop()`` waits for a step that is already running.

The step really awaits 2 s and ``stop()`` is timed with real time: that is what is tested.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from wfe import (
    ExecutionResult,
    PointerStatus,
    StepBody,
    WorkflowBuilder,
    WorkflowStatus,
)

times: dict[str, float | None] = {}


@pytest.fixture(autouse=True)
def reset_times() -> None:
    times.update(step_start=None, step_end=None)


class LongRunningStep(StepBody):
    async def run(self, ctx):
        times["step_start"] = time.monotonic()
        await asyncio.sleep(2.0)
        times["step_end"] = time.monotonic()
        return ExecutionResult.next()


stop_async_workflow = WorkflowBuilder().start_with(LongRunningStep).build("StopAsyncWorkflow", 1)


async def test_stop_async(host, stores, wait_until):
    host.register(stop_async_workflow)

    wid = await host.start_workflow("StopAsyncWorkflow", None)
    await wait_until(lambda: times["step_start"] is not None, timeout=5, what="the step starting")
    assert times["step_start"] is not None
    assert times["step_end"] is None

    began = time.monotonic()
    await host.stop()
    elapsed = time.monotonic() - began

    assert times["step_end"] is not None
    assert elapsed >= 1.5  # the step had nearly 2 s to go
    # ...and the pass that finished it was stored before stop() returned.
    if stores.set.persistence != "memory":  # a durable store: read it with a new host
        async with stores.host() as reopened:
            reopened.register(stop_async_workflow)
            instance = await reopened.get_workflow(wid)
    else:
        instance = await host.get_workflow(wid)  # the in-process store outlives the host
    assert instance.status is WorkflowStatus.COMPLETE
    assert [p.status for p in instance.execution_pointers] == [PointerStatus.COMPLETE]
