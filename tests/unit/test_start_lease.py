"""A start asks for its workflow's lease alongside the store write (``Runtime.launch``): a
start whose write fails leaves neither the lease nor its slot held."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wfe import WorkflowBuilder, WorkflowHost
from wfe.errors import ProviderError
from wfe_core._leases import workflow_key

ran: list[str] = []
noted = WorkflowBuilder(dict).start_with(lambda ctx: ran.append(ctx.workflow.id)).build("Noted", 1)


async def test_a_start_whose_write_fails_gives_back_its_lease_and_its_slot() -> None:
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
