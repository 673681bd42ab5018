"""``Poller``: the safety net that finds due work the pushed wake-ups missed.

Every poll interval it asks the store for workflows due before the next poll and events due
now: a crashed host's work, timers beyond the heap's horizon, work written by another process.
What is due now is queued; what falls due before the next poll gets a timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta

from ._outage import Outage
from ._priority import Priorities, enqueue_workflow
from ._timers import Timers
from .clock import Clock
from .errors import ProviderError, ProviderUnavailableError
from .providers import PersistenceProvider, QueueKind, QueueProvider

__all__ = ["Poller"]

log = logging.getLogger("wfe.runtime")

#: Handles due work in this host when the queue refuses it: ``(kind, item_id, error)``.
WithoutQueue = Callable[[QueueKind, str, ProviderError], Awaitable[None]]

#: Rows one poll reads of each kind; a full answer makes the next poll come sooner.
POLL_LIMIT = 1000


class Poller:
    def __init__(
        self,
        persistence: PersistenceProvider,
        queue: QueueProvider,
        timers: Timers,
        clock: Clock,
        interval: float,
        active: Collection[str],
        outage: Outage | None = None,
        without_queue: WithoutQueue | None = None,
    ) -> None:
        self.persistence = persistence
        self.queue = queue
        self.timers = timers
        self.clock = clock
        self.interval = interval
        self.active = active
        self.outage = outage if outage is not None else Outage()
        self.without_queue = without_queue
        self.wake = asyncio.Event()
        #: Levels of the workflows seen here (the runtime's): due work is queued at its level.
        self.priorities = Priorities()

    async def run(self, stopping: Callable[[], bool]) -> None:
        attempt = 0
        while not stopping():
            interval = self.interval
            try:
                if await self.poll_once():
                    interval = min(interval, 1.0)
                attempt = 0
                self.outage.ok()
            except asyncio.CancelledError:
                raise
            except ProviderUnavailableError as exc:
                # Sooner than the interval: the poller is the safety net for work whose
                # pushes the outage may have lost.
                self.outage.failed(exc, "polling for due work")
                attempt += 1
                interval = min(interval, self.outage.delay(attempt))
            except Exception:
                log.exception("polling for due work failed; retrying next interval")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), interval)
            except TimeoutError:
                pass

    async def poll_once(self, limit: int = POLL_LIMIT) -> bool:
        """Queue due workflows and events; set timers for what falls due before the next poll.

        Returns True when there may be more due work than one query returned.
        """
        now = self.clock.now()
        horizon = now + timedelta(seconds=self.interval)
        due = await self.persistence.get_runnable_instances(horizon, limit)
        for wid, when in due:
            if when <= now:
                if wid not in self.active:
                    await self.enqueue(QueueKind.WORKFLOW, wid)
            else:
                self.timers.schedule(when, QueueKind.WORKFLOW, wid)
        events = await self.persistence.get_runnable_events(now, limit)
        for eid in events:
            await self.enqueue(QueueKind.EVENT, eid)
        return len(due) >= limit or len(events) >= limit

    async def enqueue(self, kind: QueueKind, item_id: str) -> None:
        """Queue due work; with the queue down, this host handles it (slower, never stuck)."""
        try:
            if kind is QueueKind.WORKFLOW:
                await enqueue_workflow(self.queue, item_id, self.priorities.of(item_id))
            else:
                await self.queue.enqueue(kind, item_id)
        except ProviderError as exc:
            if self.without_queue is None:
                raise
            await self.without_queue(kind, item_id, exc)
