"""More workflows than ``max_concurrent_workflows``: the extra ones wait their turn in the host
that started them, and a host that stops hands the ones still waiting to the next host."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from wfe import StepBody, WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe_core.testing import Stores

running = 0
most_running = 0
first_steps: list[str] = []
gate: asyncio.Event  # made anew by each test that uses it: an Event belongs to one loop


class Busy(StepBody):
    async def run(self, ctx):
        global running, most_running
        first_steps.append(ctx.workflow.id)
        running += 1
        most_running = max(most_running, running)
        try:
            # Wait for a partner in the other slot (a start may take longer than a short
            # sleep on a networked store), but never for long: the last one may run alone.
            for _ in range(250):
                if most_running >= 2:
                    break
                await asyncio.sleep(0.02)
        finally:
            running -= 1


class Gated(StepBody):
    async def run(self, ctx):
        await gate.wait()


busy = WorkflowBuilder(dict).start_with(Busy).then(lambda ctx: None).build("Busy", 1)
gated = WorkflowBuilder(dict).start_with(Gated).then(lambda ctx: None).build("Gated", 1)


async def run_busy(stores: Stores, count: int) -> list[str]:
    global most_running
    first_steps.clear()
    most_running = 0
    host = stores.host(max_concurrent_workflows=2)
    host.register(busy)
    async with host:
        wids = [await host.start_workflow("Busy") for _ in range(count)]
        for wid in wids:
            assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
    return wids


async def test_starts_beyond_the_limit_wait_in_line_in_start_order(stores):
    # Two slots hold up to 2 x 4 workflows in line: all six wait here, first come first run.
    wids = await run_busy(stores, 6)
    assert first_steps == wids
    assert most_running == 2


async def test_starts_beyond_the_line_go_to_the_queue_and_all_complete(stores):
    wids = await run_busy(stores, 40)
    assert sorted(first_steps) == sorted(wids)
    assert most_running == 2


async def test_a_stopping_host_hands_its_waiting_workflows_to_the_next(tmp_path: Path):
    global gate
    url = f"sqlite:///{tmp_path}/wf.db"
    gate = asyncio.Event()
    # One slot: the first workflow holds it at the gate, the other three wait behind it.
    first = WorkflowHost(url, max_concurrent_workflows=1, poll_interval=600)
    first.register(gated)
    await first.start()
    wids = [await first.start_workflow("Gated") for _ in range(4)]
    gate.set()
    await first.stop()

    # A long poll interval and lease: only a hand-back (lease released, queued) lets the next
    # host run them within the timeout.
    second = WorkflowHost(url, poll_interval=600, lease_ttl=600)
    second.register(gated)
    async with second:
        for wid in wids:
            assert (await second.wait_for_workflow(wid, timeout=10)).status is WorkflowStatus.COMPLETE


counted: list[str] = []
counted_workflow = (
    WorkflowBuilder(dict).start_with(lambda ctx: counted.append(ctx.workflow.id)).build("Counted", 1)
)


@contextlib.asynccontextmanager
async def one_slot_held(stores: Stores) -> AsyncIterator[tuple[WorkflowHost, str]]:
    """A started host with one slot, taken by a Gated workflow until ``gate`` is set."""
    global gate
    gate = asyncio.Event()
    counted.clear()
    host = stores.host(max_concurrent_workflows=1)
    host.register(gated)
    host.register(counted_workflow)
    async with host:
        yield host, await host.start_workflow("Gated")


async def test_a_workflow_suspended_while_waiting_for_a_slot_does_not_run(stores):
    async with one_slot_held(stores) as (host, holder):
        waiter = await host.start_workflow("Counted")
        assert await host.suspend_workflow(waiter) is True
        gate.set()
        assert (await host.wait_for_workflow(holder, timeout=10)).status is WorkflowStatus.COMPLETE
        assert (await host.get_workflow(waiter)).status is WorkflowStatus.SUSPENDED
        assert counted == []

        assert await host.resume_workflow(waiter) is True
        assert (await host.wait_for_workflow(waiter, timeout=10)).status is WorkflowStatus.COMPLETE
        assert counted == [waiter]


async def test_a_start_cancelled_while_in_line_does_not_block_the_line(stores):
    async with one_slot_held(stores) as (host, holder):
        cancelled = asyncio.create_task(host.start_workflow("Counted"))
        await asyncio.sleep(0)  # the start takes its place in line and begins storing
        cancelled.cancel()
        later = await host.start_workflow("Counted")
        gate.set()
        assert (await host.wait_for_workflow(holder, timeout=10)).status is WorkflowStatus.COMPLETE
        assert (await host.wait_for_workflow(later, timeout=10)).status is WorkflowStatus.COMPLETE
        assert later in counted
