"""``ActivityWorker``: a small loop that takes activities of one name, runs them and answers.

For workers written in Python, in the process of a host or beside it (any host on the same
stores hands out the same activities). ``wfe activity NAME --db URL -- COMMAND`` is the same
loop around a shell command (``wfe/_cli_activity.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._activities import PendingActivity

if TYPE_CHECKING:
    from ._host import WorkflowHost

__all__ = ["ActivityWorker"]

log = logging.getLogger("wfe.activity")

#: Seconds one take waits before it looks again whether the worker is stopping.
TAKE_WAIT = 1.0


class ActivityWorker:
    """Runs ``fn(parameters)`` for every activity ``name`` the host hands out, ``concurrency`` at once.

    ``fn`` is a function or an async function of the parameters; what it returns is the
    result (``submit_activity_success``); what it raises is the failure
    (``submit_activity_failure`` with ``"Type: message"``), which the step handles through its
    ``on_error``. Use it as ``async with ActivityWorker(host, "resize", fn):`` or with
    ``start()`` and ``stop()``; ``stop`` lets the activities in hand finish.

    Args:
        host: a started host, or one whose stores are open (``open_stores``).
        name: the activity to work on.
        fn: the work: ``fn(parameters) -> result``.
        concurrency: activities run at once.
        worker_id: names this worker (default: host name and process id).
    """

    def __init__(
        self,
        host: WorkflowHost,
        name: str,
        fn: Callable[[Any], Any] | Callable[[Any], Awaitable[Any]],
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, not {concurrency!r}")
        self.host = host
        self.name = name
        self.fn = fn
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.done = 0
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> ActivityWorker:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        """Start the loops (one per ``concurrency``)."""
        if not self._tasks:
            self._stopping = False
            self._tasks = [
                asyncio.create_task(self._loop(), name=f"wfe.activity.{self.name}.{n}")
                for n in range(self.concurrency)
            ]

    async def stop(self) -> None:
        """Take no more activities; wait for the ones in hand to be answered."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                pending = await self.host.get_pending_activity(self.name, self.worker_id, TAKE_WAIT)
            except Exception:
                log.exception("activity %s: taking one failed; trying again in 1 s", self.name)
                await asyncio.sleep(1.0)
                continue
            if pending is not None:
                await self.work(pending)

    async def work(self, pending: PendingActivity) -> None:
        """Run one activity and answer it."""
        try:
            out = self.fn(pending.parameters)
            if inspect.isawaitable(out):
                out = await out
        except Exception as exc:
            answer = self.host.submit_activity_failure(pending.token, f"{type(exc).__name__}: {exc}")
        else:
            answer = self.host.submit_activity_success(pending.token, out)
        try:
            await answer
            self.done += 1
        except Exception:
            log.exception("activity %s of workflow %s: the answer was refused", self.name,
                          pending.workflow_id)
