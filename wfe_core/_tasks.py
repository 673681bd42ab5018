"""``stop_tasks``: cancel background tasks and wait for them, but never forever.

A task whose cancellation is lost (swallowed inside a driver, say, when it lands while a
connection goes back to its pool) would otherwise hold a ``stop()`` or ``close()`` for good.
The host's runtime and the providers' background loops stop theirs with it.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["stop_tasks"]


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any]],
    what: str,
    *,
    log: logging.Logger,
    attempts: int = 1,
    wait: float = 1.0,
) -> None:
    """Cancel ``tasks`` and wait ``wait`` seconds for them to end, ``attempts`` times over.

    One still running after that is logged on ``log`` with its stack, and left running, so
    that the caller goes on. ``what`` names the tasks in that message ("background loop").
    """
    pending = {task for task in tasks if not task.done()}
    for _ in range(attempts):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=wait)
    for task in pending:
        stack = io.StringIO()
        task.print_stack(file=stack)
        log.warning("stop: a %s (%s) did not end %.0f s after it was cancelled; left "
                    "running:\n%s", what, task.get_name(), attempts * wait, stack.getvalue())
