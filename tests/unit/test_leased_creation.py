"""A start on a store that keeps its lock's leases (``LeasedCreation``: SQLite, PostgreSQL)
writes the workflow and its lease in one transaction, and a caller cancelled during that write
leaves neither the lease held nor the workflow stranded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from wfe import WorkflowBuilder, WorkflowHost
from wfe_core._leases import workflow_key
from wfe_core._memory import MemoryLock, MemoryPersistence
from wfe_core.models import WorkflowInstance, WorkflowStatus

ran: list[str] = []
noted = WorkflowBuilder(dict).start_with(lambda ctx: ran.append(ctx.workflow.id)).build("Noted", 1)


async def test_a_start_on_sqlite_takes_its_lease_in_the_write(tmp_path: Path) -> None:
    ran.clear()
    async with WorkflowHost(f"sqlite:///{tmp_path / 'wfe.db'}") as host:
        host.register(noted)
        asked: list[str] = []
        acquire = host.lock.acquire

        async def noting(key: str, owner: str, ttl: float) -> bool:
            asked.append(key)
            return await acquire(key, owner, ttl)

        host.lock.acquire = noting  # type: ignore[method-assign]
        wid = await host.start_workflow("Noted")
        await host.wait_for_workflow(wid, timeout=10)
    assert ran == [wid]
    assert workflow_key(wid) not in asked  # taken by the store's write, not asked for apart


class _GatedStore(MemoryPersistence):
    """A store keeping ``lock``'s leases whose leased creation waits for ``gate`` first. Like
    PostgreSQL's, a call whose caller is cancelled ends only once its write is made."""

    def __init__(self, lock: MemoryLock) -> None:
        super().__init__()
        self.lock = lock
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    def shares_leases_with(self, lock: Any) -> bool:
        return lock is self.lock

    async def create_workflow_leased(
        self, instance: WorkflowInstance, lock: Any, key: str, owner: str, ttl: float
    ) -> bool:
        async def write() -> bool:
            await self.gate.wait()
            await self.create_workflow(instance)
            return bool(await lock.acquire(key, owner, ttl))

        self.waiting.set()
        made = asyncio.ensure_future(write())
        try:
            return await asyncio.shield(made)
        except asyncio.CancelledError:
            await made
            raise


async def test_a_caller_cancelled_in_the_write_gives_the_lease_back_after_it() -> None:
    # The write goes on without the caller. The lease it takes must be given back (the store
    # orders the release after the write), and the stored workflow then runs, found by the
    # poller, long before the lease could run out.
    ran.clear()
    lock = MemoryLock()
    store = _GatedStore(lock)
    async with WorkflowHost(store, lock=lock, poll_interval=0.05, lease_ttl=300) as host:
        host.register(noted)
        start = asyncio.create_task(host.start_workflow("Noted"))
        await asyncio.wait_for(store.waiting.wait(), timeout=5)
        start.cancel()
        await asyncio.sleep(0.01)
        store.gate.set()  # the write ends; only then does the cancelled start end
        await asyncio.gather(start, return_exceptions=True)
        assert start.cancelled()
        for _ in range(500):
            if ran:
                break
            await asyncio.sleep(0.01)
        [wid] = ran
        done = await host.wait_for_workflow(wid, timeout=10)
        assert done.status is WorkflowStatus.COMPLETE
