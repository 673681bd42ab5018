"""A host process for the search-after-kill test (run as ``python -m``).

Usage: python -m tests.integration._search_worker PERSISTENCE_URL SEARCH_URL COUNT IDS_FILE

Starts COUNT one-step workflows, waits until every one is complete in the store, writes their
ids to IDS_FILE, prints ``complete`` and then waits to be killed: the test sends SIGKILL at
once, before the host's indexer would run (it gathers changes for half a second).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from wfe import WorkflowBuilder, WorkflowHost

one_step = WorkflowBuilder(dict).start_with(lambda ctx: None).build("one-step", 1)


async def main() -> None:
    persistence, search, count, ids_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    async with WorkflowHost(persistence, search=search) as host:
        host.register(one_step)
        wids = [
            await host.start_workflow("one-step", {"n": n}, reference=f"order-{n}")
            for n in range(count)
        ]
        for wid in wids:
            await host.wait_for_workflow(wid, timeout=60)
        Path(ids_file).write_text("\n".join(wids))
        print("complete", flush=True)
        await asyncio.Event().wait()  # killed here


if __name__ == "__main__":
    asyncio.run(main())
