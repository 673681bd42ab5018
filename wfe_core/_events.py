"""``EventDelivery``: hands published events to the workflows waiting for them.

A published event is queued at once (or timed, for a future effective date); a host takes it
from the event queue under the event's lease, finds the subscriptions it matches, and writes
it into each waiting pointer under that workflow's lease. Events reach a wait oldest first; a
wait that begins after an event was published still receives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from ._capacity import Capacity
from ._leases import Leases, event_key, workflow_key
from ._models import Event, EventSubscription, PointerStatus, WorkflowStatus
from ._timers import Timers
from .clock import Clock
from .errors import ConcurrencyError, WorkflowNotFoundError
from .providers import PersistenceProvider, QueueKind, QueueProvider

__all__ = ["EventDelivery"]

log = logging.getLogger("wfe.runtime")

#: Events delivered at once by one host.
EVENT_SLOTS = 16
#: How long a delivery waits for the lease of a workflow another task of this host holds.
SEED_WAIT = 5.0


class EventDelivery:
    """The event consumer of one host."""

    def __init__(
        self,
        persistence: PersistenceProvider,
        queue: QueueProvider,
        leases: Leases,
        timers: Timers,
        capacity: Capacity,
        clock: Clock,
        spawn: Callable[[Coroutine[Any, Any, Any]], object],
    ) -> None:
        self.persistence = persistence
        self.queue = queue
        self.leases = leases
        self.timers = timers
        self.capacity = capacity
        self.clock = clock
        self.spawn = spawn
        self.slots = asyncio.Semaphore(EVENT_SLOTS)
        self.stopping = False

    async def published(self, event: Event) -> None:
        """A new event was stored: deliver it now, or at its effective date."""
        if event.event_time > self.clock.now():
            self.timers.schedule(event.event_time, "evt", event.id)
        else:
            await self.queue.enqueue(QueueKind.EVENT, event.id)

    async def seed_earlier_events(self, sub: EventSubscription, received: set[str | None]) -> None:
        """Events published before this wait began are still delivered to it.

        Events this workflow already received at an earlier wait are skipped here, from the
        instance in hand: re-queuing them would cost a delivery (and a full load) each, every
        time a loop waits again on the same name and key.
        """
        for eid in await self.persistence.get_events(sub.event_name, sub.event_key, sub.subscribe_as_of):
            if eid in received:
                continue
            await self.persistence.mark_event_unprocessed(eid)
            await self.queue.enqueue(QueueKind.EVENT, eid)

    async def run(self) -> None:
        while not self.stopping:
            await self.slots.acquire()
            try:
                eid = await self.queue.dequeue(QueueKind.EVENT, 0.25)
            except asyncio.CancelledError:
                self.slots.release()
                raise
            except Exception:
                self.slots.release()
                log.exception("dequeue from the event queue failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            if eid is None:
                self.slots.release()
                continue
            self.spawn(self.process(eid))

    async def process(self, eid: str) -> None:
        try:
            done = await self.deliver(eid)
        except Exception:
            log.exception("event %s: delivery failed; retrying", eid)
            done = False
        finally:
            self.slots.release()
        if not done and not self.stopping:
            self.timers.schedule(self.clock.now() + timedelta(milliseconds=50), "evt", eid, force=True)

    async def deliver(self, eid: str) -> bool:
        """Deliver one event to every matching wait. False: try again later."""
        key = event_key(eid)
        if not await self.leases.acquire(key):
            return False
        try:
            event = await self.persistence.get_event(eid)
            if event is None or event.is_processed:
                return True
            if event.event_time > self.clock.now():
                self.timers.schedule(event.event_time, "evt", eid)
                return True
            subs = await self.persistence.get_subscriptions(
                event.event_name, event.event_key, event.event_time
            )
            delivered = True
            for sub in subs:
                if await self.older_event_pending(event, sub):
                    delivered = False
                elif not await self.seed(sub, event):
                    delivered = False
            if not delivered:
                return False
            await self.persistence.mark_event_processed(eid)
            # A wait that began while we delivered re-marks the event unprocessed when it
            # commits; if that landed before our mark above, look again rather than lose it.
            seen = {s.id for s in subs}
            later = await self.persistence.get_subscriptions(
                event.event_name, event.event_key, event.event_time
            )
            if any(s.id not in seen for s in later):
                await self.persistence.mark_event_unprocessed(eid)
                return False
            return True
        finally:
            await self.leases.release(key)

    async def older_event_pending(self, event: Event, sub: EventSubscription) -> bool:
        """Events reach a wait oldest first: queue an older pending one ahead of this one."""
        for other_id in await self.persistence.get_events(
            event.event_name, event.event_key, sub.subscribe_as_of
        ):
            if other_id == event.id:
                return False
            other = await self.persistence.get_event(other_id)
            if other is not None and not other.is_processed and other.event_time < event.event_time:
                await self.queue.enqueue(QueueKind.EVENT, other_id)
                return True
        return False

    async def seed(self, sub: EventSubscription, event: Event) -> bool:
        """Hand an event to one waiting pointer. False: try again later."""
        wid = sub.workflow_id
        key = workflow_key(wid)
        if not await self.leases.acquire_waiting(
            key, SEED_WAIT, lambda: self.capacity.released_event(wid)
        ):
            return False
        handed_over = False
        try:
            try:
                instance = await self.persistence.get_workflow(wid)
            except WorkflowNotFoundError:
                await self.persistence.terminate_subscription(sub.id)
                return True
            pointer = instance.execution_pointers.get(sub.execution_pointer_id)
            if pointer is None or pointer.end_time is not None or pointer.event_published:
                # The wait was cancelled or already served: the subscription is spent.
                await self.persistence.terminate_subscription(sub.id)
                return True
            if any(p.extension_attributes.get("event_id") == event.id for p in instance.execution_pointers):
                return True  # this workflow already received this event at an earlier wait
            pointer.event_data = event.event_data
            pointer.event_published = True
            pointer.active = True
            pointer.status = PointerStatus.PENDING
            pointer.extension_attributes["event_id"] = event.id
            if instance.status is WorkflowStatus.RUNNABLE:
                instance.next_execution = self.clock.now()
            try:
                await self.persistence.persist_workflow(instance, changed_pointers=[pointer.id])
            except ConcurrencyError:
                return False
            await self.persistence.terminate_subscription(sub.id)
            # Go straight on with the instance in hand, lease and all, when there is room.
            if instance.status is WorkflowStatus.RUNNABLE and self.capacity.try_reserve(wid, or_wait=True):
                handed_over = True
                self.capacity.run(wid, instance)
                return True
        finally:
            if not handed_over:
                await self.leases.release(key)
        await self.queue.enqueue(QueueKind.WORKFLOW, wid)
        return True
