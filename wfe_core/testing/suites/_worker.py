"""A host process for the crash and multi-process tests (run as ``python -m``).

Usage: python -m wfe_core.testing.suites._worker MODE STORES LOG_DIR [COUNT]

STORES is :meth:`wfe_core.testing.Stores.to_json` of the test's stores.

MODE ``crash``: start one workflow whose second step hangs on its first run; the test kills
this process with SIGKILL while that step runs. MODE ``resume``: run the host until that
workflow completes. MODE ``share-start`` / ``share``: start COUNT workflows (only the first)
and run until all of them are complete.

Activities (``test_activity_crash``): MODE ``oven-start`` starts one workflow whose step waits
on the activity ``bake`` and then waits (killed there); ``activity-take`` takes that activity
with a 1 s token lease, logs its token and hangs (killed there); ``activity-answer`` takes it
again once the dead worker's lease ran out, answers it, and tries the dead worker's token (it
must be refused). ``resume`` then runs the host until the workflow completes. The activity
modes run no workflows (``open_stores``), as an outside worker does.

Durable functions (``test_durable_crash``): the ``durable-*`` modes, in ``_durable_worker``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from wfe import StepBody, StepExecutionContext, WorkflowBuilder, WorkflowStatus
from wfe_core.testing import Stores
from wfe_core.testing.suites import _durable_worker

LOG_DIR = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(".")


def mark(name: str) -> None:
    """Append ``<name> <pid> <unix time>`` to this test's step log; O_APPEND writes of one line
    are atomic."""
    with open(LOG_DIR / "steps.log", "a") as f:
        f.write(f"{name} {os.getpid()} {time.time():.6f}\n")
        f.flush()
        os.fsync(f.fileno())


class First(StepBody):
    def run(self, ctx: StepExecutionContext) -> None:
        mark(f"{ctx.workflow.id} first")


class Slow(StepBody):
    def run(self, ctx: StepExecutionContext) -> None:
        mark(f"{ctx.workflow.id} slow-start")
        if os.environ.get("WFE_TEST_HANG") == "1":
            time.sleep(600)  # killed here
        mark(f"{ctx.workflow.id} slow-end")


class Last(StepBody):
    def run(self, ctx: StepExecutionContext) -> None:
        mark(f"{ctx.workflow.id} last")


class Ping(StepBody):
    async def run(self, ctx: StepExecutionContext) -> None:
        mark(f"{ctx.workflow.id} ping")
        await ctx.host.publish_event("ping", ctx.workflow.id, {"from": os.getpid()})


crash_definition = (
    WorkflowBuilder(dict).start_with(First).then(Slow).then(Last).end_workflow().build("crash", 1)
)
share_definition = (
    WorkflowBuilder(dict)
    .start_with(Ping)
    .wait_for("ping", lambda d, ctx: ctx.workflow.id)
    .delay(timedelta(milliseconds=50))
    .then(Last)
    .end_workflow()
    .build("share", 1)
)


oven_definition = (
    WorkflowBuilder(dict)
    .start_with(First)
    .activity("bake", parameters=lambda d: {"size": d["size"]})
    .output(baked="result")
    .then(Last)
    .end_workflow()
    .build("oven", 1)
)


async def activity_worker(mode: str, stores: Stores) -> None:
    """Take the ``bake`` activity as an outside worker (see the module docstring)."""
    from wfe.errors import ActivityTokenError

    async with stores.host(activity_ttl=1.0).open_stores() as host:
        pending = await host.get_pending_activity("bake", f"w{os.getpid()}", timeout=60)
        assert pending is not None, "no activity came"
        if mode == "activity-take":
            (LOG_DIR / "token.txt").write_text(pending.token)  # before the line the test waits for
        mark(f"{pending.workflow_id} taken")
        if mode == "activity-take":
            await asyncio.sleep(600)  # killed here, holding the token
        await host.submit_activity_success(pending.token, {"by": os.getpid()})
        mark(f"{pending.workflow_id} answered")
        try:
            await host.submit_activity_success((LOG_DIR / "token.txt").read_text(), "late")
        except ActivityTokenError:
            mark(f"{pending.workflow_id} late-refused")


async def main() -> None:
    mode, stores = sys.argv[1], Stores.from_json(sys.argv[2])
    # The engine's warnings (a lost lease, a refused write) go to stderr, which the tests show
    # when they fail; WFE_TEST_LOG=DEBUG shows more.
    logging.basicConfig(
        level=os.environ.get("WFE_TEST_LOG", "WARNING"),
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    if mode in ("activity-take", "activity-answer"):
        await activity_worker(mode, stores)
        return
    async with stores.host(lease_ttl=2.0, poll_interval=0.5) as host:
        host.register(crash_definition)
        host.register(share_definition)
        host.register(oven_definition)
        for definition in _durable_worker.activities(mark):
            host.register(definition)
        ids_file = LOG_DIR / "ids.txt"
        if mode.startswith("durable-"):  # durable functions (``_durable_worker``)
            await _durable_worker.run(mode, host, LOG_DIR, sys.argv[4] if len(sys.argv) > 4 else None, mark,
                                      stores)
        elif mode == "oven-start":
            ids_file.write_text(await host.start_workflow("oven", {"size": "large"}))
            await asyncio.sleep(600)  # killed here, waiting on the activity
        elif mode == "crash":
            wid = await host.start_workflow("crash", {})
            ids_file.write_text(wid)
            await asyncio.sleep(600)
        elif mode == "resume":
            wid = ids_file.read_text().strip()
            instance = await host.wait_for_workflow(wid, timeout=60)
            print(instance.status.value)
        else:
            count = int(sys.argv[4])
            if mode == "share-start":
                ids = [await host.start_workflow("share", {}) for _ in range(count)]
                ids_file.write_text("\n".join(ids))
            deadline = time.monotonic() + 120
            while not ids_file.exists() or len(ids_file.read_text().split()) < count:
                await asyncio.sleep(0.05)
            ids = ids_file.read_text().split()
            while time.monotonic() < deadline:
                done = 0
                for wid in ids:
                    inst = await host.persistence.get_workflow(wid)
                    done += inst.status is WorkflowStatus.COMPLETE
                if done == len(ids):
                    break
                await asyncio.sleep(0.2)
            print(done)


if __name__ == "__main__":
    asyncio.run(main())
