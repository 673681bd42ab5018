"""Durable functions for the crash and two-process tests (``test_durable_crash``), run by
``_worker`` (``python -m wfe_core.testing.suites._worker MODE STORES LOG_DIR [ARG]``).

Every activity appends ``<workflow id> <activity> <pid> <time>`` to the step log (``mark``),
so that the test counts how often each ran. ``durable-crash`` calls ``first``, then a gather of
``part-0``, ``part-1`` and ``slow``, then waits for the event ``go`` or a 2 s timer, then calls
``last``. Its result: 12 when the event came first, 13 when the timer did.

MODE ``durable-gather``: start one with ``slow`` hanging (WFE_TEST_HANG=1); once the store
records ``first`` and both parts, log ``<id> recorded`` (the test kills the process there,
``slow`` running). ``durable-wait``: start one and log ``<id> waiting`` once the store shows
it waiting for the event or the timer (killed there). ``durable-resume [go]``: publish ``go``
if asked, wait for the workflow to end, print its status and result. ``durable-share-start`` /
``durable-share COUNT``: two hosts run COUNT of ``durable-share`` together. The starting host
waits until the other one's heartbeat shows it live, then starts them through a
``WorkflowClient``, which queues them for either host (a host's own start would run them
itself, as the other may still be starting), spread over about a second.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from wfe import OrchestrationContext, WorkflowClient, WorkflowHost, WorkflowStatus, orchestration
from wfe_core._history import History
from wfe_core.testing import Stores


def activities(mark: Callable[[str], None]) -> Any:
    """The definitions, their activities marking through ``mark``."""

    def first(wid: str) -> int:
        mark(f"{wid} first")
        return 0

    async def part(wid: str, i: int) -> int:
        mark(f"{wid} part-{i}")
        return i

    def slow(wid: str) -> int:
        mark(f"{wid} slow-start")
        if os.environ.get("WFE_TEST_HANG") == "1":
            time.sleep(600)  # killed here
        mark(f"{wid} slow-end")
        return 10

    def last(wid: str) -> None:
        mark(f"{wid} last")

    @orchestration("durable-crash")
    async def durable_crash(ctx: OrchestrationContext) -> int:
        wid = ctx.workflow_id
        await ctx.call(first, wid)
        parts = await ctx.gather(ctx.call(part, wid, 0), ctx.call(part, wid, 1), ctx.call(slow, wid))
        went = await ctx.select(ctx.wait_for_event("go", wid), ctx.timer(timedelta(seconds=2)))
        await ctx.call(last, wid)
        return int(sum(parts) + went.index + 1)

    @orchestration("durable-share")
    async def durable_share(ctx: OrchestrationContext) -> int:
        wid = ctx.workflow_id
        await ctx.call(first, wid)
        parts = await ctx.gather(ctx.call(part, wid, 0), ctx.call(part, wid, 1))
        await ctx.timer(timedelta(milliseconds=50))
        await ctx.call(last, wid)
        return int(sum(parts))

    return durable_crash, durable_share


async def _history_of(host: WorkflowHost, wid: str) -> dict[str, Any]:
    instance = await host.persistence.get_workflow(wid)
    first = next(iter(instance.execution_pointers))
    return first.persistence_data or {}


async def run(
    mode: str, host: WorkflowHost, log_dir: Path, arg: str | None, mark: Callable[[str], None],
    stores: Stores | None = None,
) -> None:
    """Run one durable MODE on a started host (see the module docstring)."""
    ids_file = log_dir / "ids.txt"
    if mode in ("durable-gather", "durable-wait"):
        wid = await host.start_workflow("durable-crash")
        ids_file.write_text(wid)
        while True:  # until the store holds what the test kills the process after
            raw = await _history_of(host, wid)
            if mode == "durable-gather" and len(History(raw).done) >= 3:
                mark(f"{wid} recorded")
                break
            if mode == "durable-wait" and raw.get("waiting"):
                mark(f"{wid} waiting")
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(600)  # killed here
    elif mode == "durable-resume":
        wid = ids_file.read_text().strip()
        if arg == "go":
            await host.publish_event("go", wid, None)
        instance = await host.wait_for_workflow(wid, timeout=60)
        print(instance.status.value, instance.result)
    else:
        count = int(arg or "0")
        if mode == "durable-share-start":
            deadline = time.monotonic() + 60
            while len(await host.list_hosts()) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert stores is not None, "durable-share-start needs the stores"
            async with WorkflowClient(**stores.host_options()) as client:
                # Spread over about a second: a SQLite host idle for a while looks at the queue
                # every 250 ms, while this process's host is woken by each enqueue at once and
                # could otherwise claim a burst of starts before the other host's first look.
                ids = []
                for _ in range(count):
                    ids.append(await client.start_workflow("durable-share", version=1))
                    await asyncio.sleep(0.01)
            ids_file.write_text("\n".join(ids))
        while not ids_file.exists() or len(ids_file.read_text().split()) < count:
            await asyncio.sleep(0.05)
        ids = ids_file.read_text().split()
        deadline = time.monotonic() + 60
        results: list[Any] = []
        while time.monotonic() < deadline:
            instances = [await host.persistence.get_workflow(wid) for wid in ids]
            if all(i.status is WorkflowStatus.COMPLETE for i in instances):
                results = [i.result for i in instances]
                break
            await asyncio.sleep(0.2)
        print(len(results), sum(results))
