"""A start asks for its workflow's lease alongside the store write (``Runtime.launch``), or
first when the lock answers at once (memory://): a start whose write fails leaves neither the
lease nor its slot held either way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wfe import WorkflowBuilder, WorkflowHost
from wfe.errors import ProviderError
from wfe_core._leases import workflow_key
from wfe_core._memory import MemoryLock

ran: list[str] = []
noted = WorkflowBuilder(dict).start_with(lambda ctx: ran.append(ctx.workflow.id)).build("Noted", 1)


@pytest.fixture(params=[True, False], ids=["lease-first", "lease-alongside"])
def at_once(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The memory lock as it is (answers at once), or as a lock that makes the start ask for
    the lease in a task alongside the write."""
    monkeypatch.setattr(MemoryLock, "answers_at_once", request.param)
    return bool(request.param)


async def test_a_start_whose_write_fails_gives_back_its_lease_and_its_slot(at_once: bool) -> None:
    ran.clear()
    async with WorkflowHost("memory://", max_concurrent_workflows=1) as host:
        host.register(noted)
        create = host.persistence.create_workflow
        refused: list[str] = []

        async def refuse(instance: Any) -> str:
            refused.append(instance.id)
            await asyncio.sleep(0.01)  # the lease, asked for alongside, answers meanwhile
            raise ProviderError("refused for the test")

        host.persistence.create_workflow = refuse  # type: ignore[method-assign]
        with pytest.raises(ProviderError, match="refused for the test"):
            await host.start_workflow("Noted")
        host.persistence.create_workflow = create  # type: ignore[method-assign]
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


async def test_a_start_on_a_lock_that_answers_at_once_takes_no_turn_of_the_loop() -> None:
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
