"""A host process for the many-hosts test (run as ``python -m tests.postgres._hosts_worker``).

Usage: python -m tests.postgres._hosts_worker URL LOG_DIR

Runs a host on URL with the ``mix`` definition registered until ``LOG_DIR/stop`` exists. Every
step appends ``<workflow id> <step>[/<item>] <pid>`` to ``LOG_DIR/steps.log`` when its body
finishes (an ``O_APPEND`` write of one line is atomic), a log kept outside the engine.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from wfe import ErrorBehavior, StepBody, WorkflowBuilder, WorkflowHost

LOG_DIR = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".")


def mark(ctx: Any, name: str) -> None:
    line = f"{ctx.workflow.id} {name} {os.getpid()}\n".encode()
    fd = os.open(LOG_DIR / "steps.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class First(StepBody):
    def run(self, ctx: Any) -> None:
        mark(ctx, "first")


class Left(StepBody):
    async def run(self, ctx: Any) -> None:
        await asyncio.sleep(0.01)
        mark(ctx, "left")


class Right(StepBody):
    def run(self, ctx: Any) -> None:
        mark(ctx, "right")


class Item(StepBody):
    async def run(self, ctx: Any) -> None:
        await asyncio.sleep(0.005)
        mark(ctx, f"item/{ctx.item}")


class Flaky(StepBody):
    def run(self, ctx: Any) -> None:
        if ctx.pointer.retry_count == 0:
            raise RuntimeError("fails once, then works")
        mark(ctx, "flaky")


class Last(StepBody):
    def run(self, ctx: Any) -> None:
        mark(ctx, "last")


mix = (
    WorkflowBuilder(dict)
    .start_with(First)
    .parallel(
        lambda p: p.branch(lambda b: b.start_with(Left)).branch(lambda b: b.start_with(Right))
    )
    .for_each(lambda d: [0, 1, 2], lambda b: b.start_with(Item), parallel=True)
    .wait_for("go", lambda d, ctx: ctx.workflow.id)
    .delay(timedelta(milliseconds=100))
    .then(Flaky)
    .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=50)))
    .then(Last)
    .end_workflow()
    .build("mix", 1)
)

#: The steps every workflow of ``mix`` logs once it completes.
STEPS = ["first", "left", "right", "item/0", "item/1", "item/2", "flaky", "last"]


async def main() -> None:
    url = sys.argv[1]
    # A lease long enough that a loaded machine does not lose one mid-pass (a lost lease
    # discards its pass, which then runs again: not what this test counts).
    async with WorkflowHost(url, lease_ttl=5.0, poll_interval=0.5) as host:
        host.register(mix)
        (LOG_DIR / f"ready.{os.getpid()}").write_text("")
        while not (LOG_DIR / "stop").exists():
            await asyncio.sleep(0.1)


if __name__ == "__main__":
    asyncio.run(main())
