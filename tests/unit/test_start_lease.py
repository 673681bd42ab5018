"""A start takes its workflow's lease before the store write, or in it where the store keeps
the lock's leases (``Runtime.launch``): no other host can run the new workflow first, and a
start whose write fails leaves neither the lease nor its slot held."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wfe import WorkflowBuilder, WorkflowHost
from wfe.errors import ProviderError
from wfe_core._leases import workflow_key
from wfe_core._memory import MemoryLock, MemoryPersistence

ran: list[str] = []
noted = WorkflowBuilder(dict).start_with(lambda ctx: ran.append(ctx.workflow.id)).build("Noted", 1)


class _AsideLock(MemoryLock):
    """A memory lock the store does not take leases in: a start asks it first, then writes."""


@pytest.mark.parametrize("in_the_write", [False, True], ids=["lease-first", "lease-in-the-write"])
async def test_a_start_whose_write_fails_gives_back_its_lease_and_its_slot(in_the_write: bool) -> None:
    ran.clear()
    store = MemoryPersistence()
    lock = MemoryLock() if in_the_write else _AsideLock()
    refused: list[str] = []

    name = "create_workflow_leased" if in_the_write else "create_workflow"
    create = getattr(store, name)

    async def refuse_once(instance: Any, *args: Any, **kwargs: Any) -> Any:
        if refused:
            return await create(instance, *args, **kwargs)
        refused.append(instance.id)
        await asyncio.sleep(0.01)
        raise ProviderError("refused for the test")

    setattr(store, name, refuse_once)  # before the host starts: it picks its way to write then
    async with WorkflowHost(store, lock=lock, max_concurrent_workflows=1) as host:
        host.register(noted)
        with pytest.raises(ProviderError, match="refused for the test"):
            await host.start_workflow("Noted")
        [wid] = refused
        for _ in range(100):  # the release runs in a task of its own
            if await host.lock.acquire(workflow_key(wid), "someone else", 30.0):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the failed start's lease is still held")
        # The one slot is free again: the next start runs at once.
        done = await host.start_workflow("Noted")
        await host.wait_for_workflow(done, timeout=10)
        assert ran == [done]


async def test_a_start_on_memory_takes_no_turn_of_the_loop() -> None:
    # memory:// answers without waiting: the start returns before the loop runs anything else
    # it has ready (with the lease asked in a task, it waited a turn, behind that work).
    ran.clear()
    async with WorkflowHost("memory://") as host:
        host.register(noted)
        other: list[str] = []
        asyncio.get_running_loop().call_soon(other.append, "ran")
        wid = await host.start_workflow("Noted")
        assert other == []
        await host.wait_for_workflow(wid, timeout=10)
        assert ran == [wid] and other == ["ran"]


class _LateLock(MemoryLock):
    """A shared memory lock whose first acquire, for the starting host, waits until another
    host has run a step (or 0.25 s): a lease answer slower than the other host's whole pass."""

    def __init__(self, shared: MemoryLock, other_ran: asyncio.Event) -> None:
        super().__init__()
        self._leases = shared._leases
        self.other_ran = other_ran
        self.delayed = False

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        if not self.delayed:
            self.delayed = True
            try:
                await asyncio.wait_for(self.other_ran.wait(), timeout=0.25)
            except TimeoutError:
                pass
        return await super().acquire(key, owner, ttl)


async def test_a_new_workflow_runs_once_when_its_lease_answers_late() -> None:
    # Two hosts on one store. The starting host's lease answers only after the other host
    # could have seen the new workflow, run its step and let go of it. The step must still
    # run once: no host may see the workflow before its starter holds the lease.
    from wfe_core._memory import MemoryPersistence, MemoryQueue

    ran.clear()
    store, queue, shared = MemoryPersistence(), MemoryQueue(), MemoryLock()
    other_ran = asyncio.Event()

    once = WorkflowBuilder(dict).start_with(lambda ctx: ran.append(ctx.workflow.id)).build("Once", 1)
    starter = WorkflowHost(store, lock=_LateLock(shared, other_ran), queue=queue, poll_interval=0.05)
    other = WorkflowHost(store, lock=shared, queue=queue, poll_interval=0.05)
    for host in (starter, other):
        host.register(once)
    async with other, starter:
        watching = asyncio.create_task(_set_when(lambda: bool(ran), other_ran))
        wid = await starter.start_workflow("Once")
        await starter.wait_for_workflow(wid, timeout=10)
        await asyncio.sleep(0.1)  # a second run, if any, happens meanwhile (a stopping host runs none)
        watching.cancel()
    assert ran == [wid]


async def _set_when(condition: Any, event: asyncio.Event) -> None:
    while not condition():
        await asyncio.sleep(0.005)
    event.set()
