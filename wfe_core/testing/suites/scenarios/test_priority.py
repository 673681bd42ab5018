"""Priority: urgent work started behind a backlog of idle work runs first, on every store set.

A host with one slot holds four workflows in line and queues the rest. The line and the
queue both serve the highest level first (with aging, ``wfe_core._priority``); a critical
workflow that finds the line full of idle ones takes the place of one of them.
"""

from __future__ import annotations

import asyncio

import pytest

from wfe import StepBody, WorkflowBuilder, WorkflowStatus
from wfe_core.errors import DefinitionError
from wfe_core.testing import Stores

finished: list[str] = []
gate: asyncio.Event  # made anew by each test: an Event belongs to one loop


class HoldWhenAsked(StepBody):
    async def run(self, ctx):
        if ctx.data.get("hold"):
            await gate.wait()


def record(ctx) -> None:
    finished.append(ctx.workflow.id)


work = WorkflowBuilder(dict, priority=7).start_with(HoldWhenAsked).then(record).build("Work", 1)


async def _start_backlog(host, holder_priority: int, line_priority: int, queued: int) -> list[str]:
    """One workflow holding the slot at the gate, four in line, ``queued`` idle ones queued."""
    global gate
    gate = asyncio.Event()
    finished.clear()
    await host.start_workflow("Work", {"hold": True}, priority=holder_priority)
    for _ in range(4):
        await host.start_workflow("Work", {}, priority=line_priority)
    return [await host.start_workflow("Work", {}) for _ in range(queued)]  # the default: 7


async def _finish_all(host, count: int) -> None:
    gate.set()
    for _ in range(3000):
        if len(finished) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(finished)} of {count} workflows finished")


async def test_a_critical_workflow_behind_a_full_line_of_idle_ones_runs_next(stores: Stores):
    host = stores.host(max_concurrent_workflows=1)
    host.register(work)
    async with host:
        idle = await _start_backlog(host, 7, 7, 20)
        urgent = await host.start_workflow("Work", {}, priority=0)
        await _finish_all(host, 26)
        assert finished[1] == urgent, finished.index(urgent)
        for wid in idle:
            assert (await host.get_workflow(wid)).status is WorkflowStatus.COMPLETE


async def test_the_queue_serves_a_higher_level_before_an_idle_backlog(stores: Stores):
    host = stores.host(max_concurrent_workflows=1)
    host.register(work)
    async with host:
        # The line holds critical work, so the level-3 workflow is not let in: it is queued
        # behind twenty idle ones, and still runs before most of them.
        idle = await _start_backlog(host, 0, 0, 20)
        normal = await host.start_workflow("Work", {}, priority=3)
        await _finish_all(host, 26)
        after = [w for w in finished[finished.index(normal):] if w in idle]
        assert len(after) >= 12, (finished.index(normal), len(after))


async def test_levels_are_stored_checked_and_changed(stores: Stores):
    host = stores.host()
    host.register(work)
    with pytest.raises(DefinitionError, match="priority"):
        WorkflowBuilder(dict, priority=8).start_with(record).build("Bad", 1)
    async with host:
        global gate
        gate = asyncio.Event()
        for bad in (8, -1, 2.0, "1", True, None):
            with pytest.raises(ValueError, match=r"from 0 \(critical\) to 7 \(idle\)"):
                await host.start_workflow("Work", {}, priority=bad if bad is not None else [])
        assert (await host.search()).total == 0  # nothing was stored
        held = await host.start_workflow("Work", {"hold": True})
        assert (await host.get_workflow(held)).priority == 7  # the definition's default
        with pytest.raises(ValueError, match="set_priority"):
            await host.set_priority(held, 9)
        assert (await host.get_workflow(held)).priority == 7
        assert await host.set_priority(held, 1) is True
        assert await host.set_priority(held, 1) is False
        assert (await host.get_workflow(held)).priority == 1
        gate.set()
        done = await host.wait_for_workflow(held, timeout=30)
        assert done.status is WorkflowStatus.COMPLETE and done.priority == 1
        assert await host.set_priority(held, 2) is False  # finished: nothing to change
        mine = await host.start_workflow("Work", {}, priority=5)
        assert (await host.wait_for_workflow(mine, timeout=30)).priority == 5
