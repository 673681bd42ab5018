"""Hosts sharing a SQLite file with leases, queue and lifecycle events on Valkey.

Two hosts in one process, each with its own owner (a host's runtime makes one), stand for two
machines: what one does, the other sees only through the stores.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wfe import LifecycleEvent, LifecycleEventType, StepBody, WorkflowBuilder, WorkflowHost, WorkflowStatus

LEASE = 1.0
STARTS: list[float] = []  # when each run of the long step began


class LongStep(StepBody):
    async def run(self, ctx: Any) -> None:
        STARTS.append(time.monotonic())
        await asyncio.sleep(3 * LEASE)


def _long() -> Any:
    return WorkflowBuilder(dict).start_with(LongStep).build("long", 1)


async def test_a_step_longer_than_the_lease_keeps_its_workflow(sqlite_url: str, valkey_url: str) -> None:
    STARTS.clear()
    coordination = {"lock": valkey_url, "queue": valkey_url, "lease_ttl": LEASE}
    async with WorkflowHost(sqlite_url, poll_interval=0.1, **coordination) as a:
        a.register(_long())
        wid = await a.start_workflow("long", {"host": "A"})
        async with WorkflowHost(sqlite_url, poll_interval=0.1, **coordination) as b:
            b.register(_long())
            # B polls every 100 ms for three lease lengths and finds the workflow runnable.
            done = await b.wait_for_workflow(wid, timeout=10 * LEASE)
    assert done.status is WorkflowStatus.COMPLETE
    assert len(STARTS) == 1  # B never ran it while A renewed its lease


class Quick(StepBody):
    def run(self, ctx: Any) -> None:
        return None


async def test_lifecycle_events_of_one_host_reach_another(sqlite_url: str, valkey_url: str) -> None:
    definition = WorkflowBuilder(dict).start_with(Quick).then(Quick).build("quick", 1)
    seen_on_b: list[LifecycleEvent] = []
    async with (
        WorkflowHost(sqlite_url, lock=valkey_url, queue=valkey_url, lifecycle=valkey_url) as a,
        WorkflowHost("memory://", lifecycle=valkey_url) as b,  # B runs nothing of A's
    ):
        a.register(definition)
        b.lifecycle.subscribe(seen_on_b.append)
        seen_on_a: list[LifecycleEvent] = []
        a.lifecycle.subscribe(seen_on_a.append)
        wid = await a.start_workflow("quick", {})
        await a.wait_for_workflow(wid)
        for _ in range(300):
            if any(e.type is LifecycleEventType.WORKFLOW_COMPLETED for e in seen_on_b):
                break
            await asyncio.sleep(0.01)
    kinds = [e.type for e in seen_on_b if e.workflow_id == wid]
    assert kinds[0] is LifecycleEventType.WORKFLOW_STARTED
    assert kinds[-1] is LifecycleEventType.WORKFLOW_COMPLETED
    assert kinds.count(LifecycleEventType.STEP_COMPLETED) == 2
    # A's own subscribers get each event once (locally), not again from the channel.
    assert [e.type for e in seen_on_a] == kinds
