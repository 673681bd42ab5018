"""``start_workflow`` and ``publish_event`` while Valkey, which holds the host's leases and
queue, is down: the store write needs neither, so both succeed quickly and store their work;
the workflow runs once Valkey is back.

Uses a private ``redis-server`` on a free port (``test_valkey_restart``'s), killed and started
again by this test only, so the shared test server is never disturbed.
"""

from __future__ import annotations

import asyncio
import time

from tests.valkey.test_valkey_restart import _far, _Server, server  # noqa: F401 (fixture)
from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus

#: Seconds a start may take while Valkey is down: the store write, a lease and an enqueue that
#: fail at once (a refused connection), nothing waited out in the caller.
START_WITHIN = 5.0


async def test_start_workflow_with_valkey_down_stores_it_and_it_runs_once_valkey_is_back(
    server: _Server, sqlite_url: str  # noqa: F811
) -> None:
    url = f"valkey://127.0.0.1:{server.port}/0?prefix=startdown"
    definition = (
        WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for("go", lambda d: d["key"])
        .then(lambda ctx: ctx.data.update(done=True)).build("starts-down", 1)
    )
    await asyncio.sleep(0.2)
    async with WorkflowHost(sqlite_url, lock=url, queue=url, poll_interval=0.5, lease_ttl=2) as host:
        host.register(definition)
        server.kill()
        began = time.monotonic()
        wid = await host.start_workflow("starts-down", {"key": "k"})
        took = time.monotonic() - began
        assert took < START_WITHIN, f"start_workflow took {took:.1f} s with Valkey down"
        stored = await host.persistence.get_workflow(wid)
        assert stored.status is WorkflowStatus.RUNNABLE
        began = time.monotonic()
        await host.publish_event("go", "k")
        took = time.monotonic() - began
        assert took < START_WITHIN, f"publish_event took {took:.1f} s with Valkey down"

        server.start()
        instance = await host.wait_for_workflow(wid, timeout=30)
        assert instance.status is WorkflowStatus.COMPLETE and instance.data["done"] is True
