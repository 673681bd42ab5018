"""``Timers``: an in-memory heap of due times, so a delay or a future event fires on time.

The runtime schedules a workflow when a pass leaves it sleeping, and an event published with a
future effective date. Timers beyond twice the poll interval are left to the poller (which
schedules them again when they come near), so the heap stays small with a million sleepers.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from .clock import Clock
from .providers import QueueKind

__all__ = ["Timers"]

log = logging.getLogger("wfe.runtime")

#: What a due timer calls: ``fire(kind, item_id)``, a workflow or an event by its queue's kind.
Fire = Callable[[QueueKind, str], Awaitable[None]]


class Timers:
    """Due times of workflows and events; ``run`` fires them through ``fire``."""

    def __init__(self, clock: Clock, poll_interval: float, fire: Fire) -> None:
        self.clock = clock
        self.poll_interval = poll_interval
        self.fire = fire
        #: (due, key, kind, item_id): the key orders timers due together (an enum does not).
        self.heap: list[tuple[datetime, str, QueueKind, str]] = []
        self.due: dict[str, datetime] = {}
        self.wake = asyncio.Event()

    def schedule(
        self, due: datetime, kind: QueueKind, item_id: str, *, force: bool = False
    ) -> None:
        """Fire ``item_id`` at ``due``; far-off timers are left to the poller."""
        horizon = self.clock.now() + timedelta(seconds=2 * self.poll_interval)
        # A clock that jumps to the next timer when idle must know every timer.
        if due > horizon and not force and not getattr(self.clock, "auto_advance", False):
            return
        key = f"{kind.value}:{item_id}"
        current = self.due.get(key)
        if current is not None and current <= due:
            return
        self.due[key] = due
        heapq.heappush(self.heap, (due, key, kind, item_id))
        if self.heap[0][0] == due:
            self.wake.set()

    async def run(self, stopping: Callable[[], bool]) -> None:
        while not stopping():
            now = self.clock.now()
            while self.heap and self.heap[0][0] <= now:
                due, key, kind, item_id = heapq.heappop(self.heap)
                if self.due.get(key) != due:
                    continue  # superseded by an earlier timer for the same item
                del self.due[key]
                try:
                    await self.fire(kind, item_id)
                except Exception:
                    log.exception("could not queue %s; the poller will find it", key)
            if stopping():
                # Also the way out when a cancellation at stop was lost inside a driver call
                # that ``fire`` made: ``stop`` sets ``wake`` after it cancels this loop.
                break
            self.wake.clear()
            if self.heap:
                await self.clock.sleep_until(self.heap[0][0], self.wake)
            else:
                await self.wake.wait()
