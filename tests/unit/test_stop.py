"""A host's stop returns even when a driver swallows the cancellation of a background loop.

Seen in CI-like runs on Valkey: the timer loop, cancelled at stop while a due timer's queue
call was in the driver, lost the cancellation, went back to waiting for the next timer, and the
host's ``stop`` waited for it for good.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from wfe_core import SystemClock
from wfe_core._tasks import stop_tasks
from wfe_core._timers import Timers
from wfe_core.providers import QueueKind


async def test_the_timer_loop_ends_at_stop_when_a_fire_swallowed_its_cancellation() -> None:
    inside = asyncio.Event()

    async def fire(kind: QueueKind, item_id: str) -> None:
        inside.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # what a driver that loses a cancellation does

    clock = SystemClock()
    timers = Timers(clock, 1.0, fire)
    stopping = False
    timers.schedule(clock.now(), QueueKind.EVENT, "e-1")
    loop = asyncio.create_task(timers.run(lambda: stopping))
    await asyncio.wait_for(inside.wait(), 5)

    stopping = True
    loop.cancel()
    timers.wake.set()  # as Runtime.stop does after cancelling its loops
    done, _ = await asyncio.wait({loop}, timeout=5)

    assert done == {loop}, "the timer loop went back to waiting after its cancellation was lost"


async def test_stop_gives_up_on_a_task_that_will_not_end_and_says_where_it_was(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue  # swallowed, until the test lets it go

    task = asyncio.create_task(stubborn(), name="stubborn-loop")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="wfe.runtime"):
        await asyncio.wait_for(
            stop_tasks([task], "background loop", log=logging.getLogger("wfe.runtime"),
                       attempts=3, wait=0.1),
            5,
        )
    assert not task.done()
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "stubborn-loop" in message and "stubborn" in message and "did not end" in message
    released.set()
    await asyncio.wait_for(task, 5)
