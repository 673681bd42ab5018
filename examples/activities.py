"""Activities and middleware: a photo workflow whose resizing is done by a worker process.

The workflow hands each upload to the activity ``resize`` and waits, durably, for a worker to
answer; the worker is a second process on the same SQLite file (any language could be, with
``wfe activity resize --db URL -- COMMAND``). The first answer for the broken upload is a
failure, which goes through the step's ``on_error`` (retried); a middleware times every step.

Run it with ``python examples/activities.py`` (``--db URL`` for another shared store; the
worker process is this file with ``--worker``).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from wfe import ActivityWorker, ErrorBehavior, StepExecutionContext, WorkflowBuilder, WorkflowHost

photo = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: print(f"received {ctx.data['name']}", flush=True)).name("Receive")
    .activity("resize", parameters=lambda d: {"name": d["name"], "width": 640})
    .output(thumbnail="result")
    .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=100), max_retries=2))
    .then_fn(lambda ctx: print(f"published {ctx.data['thumbnail']}", flush=True)).name("Publish")
    .build("photo", 1)
)


class Timing:
    """Middleware: how long each step's body took (the activity is the engine's wait, not a
    body: it is not timed here)."""

    async def step(self, ctx: StepExecutionContext, call_next: Any) -> Any:
        began = time.perf_counter()
        try:
            return await call_next()
        finally:
            took = (time.perf_counter() - began) * 1000
            print(f"  [timing] {ctx.step.display_name}: {took:.1f} ms", flush=True)


failed_once: set[str] = set()


def resize(parameters: dict[str, Any]) -> str:
    """The worker's work (in the worker process): fails the first time for a broken file."""
    name = parameters["name"]
    if name.startswith("broken") and name not in failed_once:
        failed_once.add(name)
        raise OSError(f"{name}: truncated file, try again")
    print(f"worker: resized {name} to {parameters['width']} px", flush=True)
    return f"{name.rsplit('.', 1)[0]}-{parameters['width']}.jpg"


async def worker(db: str, count: int) -> None:
    """Answer ``count`` activities (a failure counts), then stop."""
    async with WorkflowHost(db).open_stores() as host:  # it runs no workflows, only activities
        answered = 0
        while answered < count:
            pending = await host.get_pending_activity("resize", "worker-1", timeout=30)
            if pending is None:
                sys.exit("worker: no activity came within 30 s")
            try:
                result = resize(pending.parameters)
            except OSError as exc:
                print(f"worker: failed: {exc}", flush=True)
                await host.submit_activity_failure(pending.token, exc)
            else:
                await host.submit_activity_success(pending.token, result)
            answered += 1


async def main(db: str) -> None:
    names = ["beach.jpg", "broken.jpg"]
    # The worker process starts first and waits: each activity is pushed to it when it is due.
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", "--db", db, "--count", str(len(names) + 1)]
    )
    try:
        async with WorkflowHost(db, middleware=[Timing()]) as host:
            host.register(photo)
            ids = [await host.start_workflow("photo", {"name": n}) for n in names]
            for wid in ids:
                done = await host.wait_for_workflow(wid, timeout=60)
                print(f"{done.data['name']}: {done.status.value}, thumbnail {done.data['thumbnail']}")
            print(f"retried after a failure: {len(await host.get_execution_errors(ids[1]))} error(s)")
    finally:
        if process.wait(timeout=30) != 0:
            sys.exit("the worker process failed")
    # In-process workers are one line (a pool of 4 here), for work the host's machine can do:
    async with WorkflowHost("memory://") as host:
        host.register(photo)
        async with ActivityWorker(host, "resize", resize, concurrency=4):
            wid = await host.start_workflow("photo", {"name": "garden.jpg"})
            print(f"in-process worker: {(await host.wait_for_workflow(wid, timeout=30)).data['thumbnail']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=f"sqlite:///{Path('activities.db').resolve()}")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(worker(args.db, args.count) if args.worker else main(args.db))
