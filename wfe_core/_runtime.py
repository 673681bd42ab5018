"""The host's background work: the workflow consumer, the event consumer, timers, the
safety-net poller, lease renewal and the search indexer.

``WorkflowHost.start`` creates one ``Runtime``. Wake-ups are pushed: a started workflow or a
published event is queued at once, a due timer fires from an in-memory heap, and a workflow
that is runnable again after a pass goes straight on while its lease is held. The poller only
finds what those pushes missed (a crashed host's work, timers beyond the heap's horizon).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from ._executor import PassResult, WorkflowExecutor
from ._threads import StepThreads
from ._models import (
    Event,
    EventSubscription,
    ExecutionPointers,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    new_id,
)
from ._definition import WorkflowDefinition
from ._primitives import WORKFLOW_ENDED_EVENT
from .errors import ConcurrencyError, WfeError, WorkflowNotFoundError
from .providers import QueueKind
from .serialization import decode_data, encode_data

if TYPE_CHECKING:
    from ._host import WorkflowHost

__all__ = ["Runtime"]

log = logging.getLogger("wfe.runtime")

#: How long index updates gather before they are written together.
INDEX_BATCH_SECONDS = 0.5
#: The lease one host holds while it drains the index outbox.
INDEX_LEASE = "index-outbox"

#: A workflow that stays runnable yields the event loop this often. It keeps its instance in
#: memory and its lease: reloading a long history to be fair would make it cost more per pass.
YIELD_EVERY_PASSES = 50
#: Workflows indexed side by side in one flush.
INDEX_CHUNK = 256
#: Outbox entries one flush takes at most; a fuller outbox is drained by the next flush.
INDEX_DRAIN = 4 * INDEX_CHUNK
#: Tasks taking workflows from the queue at once.
QUEUE_READERS = 8
#: Workflows held in hand per slot while they wait for one (see ``Runtime.waiting``).
WAITING_PER_SLOT = 4


class _Slots:
    """How many workflows may run here at once; unlike a Semaphore, can be taken without waiting."""

    def __init__(self, capacity: int) -> None:
        self.free = capacity
        self.freed = asyncio.Event()

    def try_take(self) -> bool:
        if self.free <= 0:
            return False
        self.free -= 1
        return True

    async def take(self) -> None:
        while not self.try_take():
            await self.until_free()

    async def until_free(self) -> None:
        """Return once a slot is free, without taking it."""
        while self.free <= 0:
            self.freed.clear()
            await self.freed.wait()

    def give(self) -> None:
        self.free += 1
        self.freed.set()


class Runtime:
    """Background tasks of one running host."""

    def __init__(self, host: WorkflowHost) -> None:
        self.host = host
        self.persistence = host.persistence
        self.lock = host.lock
        self.queue = host.queue
        self.clock = host.clock
        self.registry = host.registry
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self.pool = StepThreads(host.thread_pool_size)
        self.executor = WorkflowExecutor(self.clock, host, self.pool, host.max_parallel_steps)
        self.slots = _Slots(host.max_concurrent_workflows)
        # Workflows this host holds (lease taken, instance in hand) but has no slot for yet:
        # they take the next slot that frees, ahead of the queue, without a queue round trip
        # or a reload. Bounded, so that beyond it work still goes to the shared queue.
        self.waiting: dict[str, WorkflowInstance | None] = {}
        self.waiting_places = WAITING_PER_SLOT * host.max_concurrent_workflows
        self.event_slots = asyncio.Semaphore(16)
        self.active: set[str] = set()
        self.rerun: set[str] = set()
        self.held: set[str] = set()
        self.released: dict[str, asyncio.Event] = {}
        self.changed: dict[str, asyncio.Event] = {}
        self.timers: list[tuple[datetime, str, str]] = []
        self.timer_due: dict[str, datetime] = {}
        self.timer_wake = asyncio.Event()
        self.poll_wake = asyncio.Event()
        self.index_pending: dict[str, WorkflowInstance] = {}
        self.index_wake = asyncio.Event()
        self.index_lock = asyncio.Lock()
        self.stopping = False
        self.loops: list[asyncio.Task[None]] = []
        self.work: set[asyncio.Task[Any]] = set()

    # -- start and stop ----------------------------------------------------------------------

    async def start(self) -> None:
        # Several dequeuers, so that their claims share the store's commits: one alone
        # waits a whole commit (an fsync on SQLite) per queued workflow.
        for n in range(QUEUE_READERS):
            self.loops.append(asyncio.create_task(self.workflow_loop(), name=f"wfe.workflow_loop.{n}"))
        for loop in (
            self.event_loop,
            self.timer_loop,
            self.poll_loop,
            self.lease_loop,
            self.index_loop,
        ):
            self.loops.append(asyncio.create_task(loop(), name=f"wfe.{loop.__name__}"))
        add_listener = getattr(self.clock, "add_listener", None)
        if add_listener is not None:
            add_listener(self.clock_moved)

    async def stop(self) -> None:
        self.stopping = True
        remove_listener = getattr(self.clock, "remove_listener", None)
        if remove_listener is not None:
            remove_listener(self.clock_moved)
        for task in self.loops:
            task.cancel()
        await asyncio.gather(*self.loops, return_exceptions=True)
        await self.hand_back_waiting()
        if self.work:
            done, pending = await asyncio.wait(set(self.work), timeout=self.host.stop_timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("stop: %d workflow task(s) still running after %.0f s were cancelled",
                            len(pending), self.host.stop_timeout)
                await asyncio.gather(*pending, return_exceptions=True)
        await self.hand_back_waiting()  # any a start still in progress handed over
        try:
            await self.flush_index()
        except Exception:
            log.exception("final search indexing failed")
        self.pool.stop()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.work.add(task)
        task.add_done_callback(self.work.discard)
        return task

    def clock_moved(self) -> None:
        """A test clock jumped: look at timers and due work again now."""
        self.timer_wake.set()
        self.poll_wake.set()

    # -- workflows ---------------------------------------------------------------------------

    async def workflow_loop(self) -> None:
        # Waits for the queue without holding a slot, so that every slot stays free for
        # workflows started or woken here, and takes one only for an item it got.
        while not self.stopping:
            await self.slots.until_free()
            try:
                wid = await self.queue.dequeue(QueueKind.WORKFLOW, 0.25)
            except Exception:
                log.exception("dequeue from the workflow queue failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            if wid is None:
                continue
            # Usually free at once. Cancelled (only at stop) while holding the item: it stays
            # runnable in the store, where the poller of the next host finds it.
            await self.slots.take()
            if wid in self.active:
                self.rerun.add(wid)
                self.free_slot()
                continue
            self.active.add(wid)
            self.spawn(self.process(wid))

    def try_run_here(self, wid: str, *, or_wait: bool = False) -> bool:
        """Reserve a slot to run ``wid`` in this host now, skipping the queue.

        With ``or_wait``, the caller takes its turn behind the workflows already waiting here,
        or, when every slot is taken, gets a place among them; it must then hand
        ``run_here`` the instance with its lease held.
        """
        if self.stopping or wid in self.active:
            return False
        if (not or_wait or not self.waiting) and self.slots.try_take():
            self.active.add(wid)
            return True
        if or_wait and self.waiting_places > 0:
            self.waiting_places -= 1
            self.waiting[wid] = None  # its place in line; the instance comes with run_here
            self.active.add(wid)
            return True
        return False

    def done_here(self, wid: str) -> None:
        """Give back a reservation made with ``try_run_here`` that will not be used."""
        self.active.discard(wid)
        if wid in self.waiting:
            del self.waiting[wid]
            self.waiting_places += 1
            self.run_waiting()
        else:
            self.free_slot()

    def run_here(self, wid: str, instance: WorkflowInstance | None = None) -> None:
        """Run a workflow reserved with ``try_run_here``; with ``instance``, its lease is held."""
        if instance is not None:
            self.held.add(f"wf:{wid}")
        if wid in self.waiting:
            assert instance is not None, "a place in line needs the instance in hand"
            self.waiting[wid] = instance
            self.run_waiting()
            return
        self.spawn(self.process(wid, instance))

    def free_slot(self) -> None:
        """A slot is free: the workflows waiting here get it first, else anyone may."""
        self.slots.give()
        self.run_waiting()

    def run_waiting(self) -> None:
        """Start waiting workflows, oldest first, while slots are free and they are ready."""
        while self.waiting and not self.stopping:
            wid, instance = next(iter(self.waiting.items()))
            if instance is None or not self.slots.try_take():
                return  # the oldest is still being created; it starts when run_here comes
            del self.waiting[wid]
            self.waiting_places += 1
            self.spawn(self.process(wid, instance))

    async def process(self, wid: str, instance: WorkflowInstance | None = None) -> None:
        try:
            while True:
                try:
                    await self.run_workflow(wid, instance)
                except Exception:
                    log.exception("workflow %s: pass failed; it will be retried by the poller", wid)
                instance = None
                if wid in self.rerun and not self.stopping:
                    self.rerun.discard(wid)
                    continue
                break
        finally:
            self.active.discard(wid)
            released = self.released.pop(wid, None)
            if released is not None:
                released.set()
            self.free_slot()

    async def hand_back_waiting(self) -> None:
        """At stop: release the workflows still waiting here and queue them for any host."""
        for wid, instance in list(self.waiting.items()):
            if instance is None:
                continue  # still being created; the hand-back after the last work takes it
            del self.waiting[wid]
            self.waiting_places += 1
            self.active.discard(wid)
            try:
                await self.release_workflow(wid)
                await self.queue.enqueue(QueueKind.WORKFLOW, wid)
            except Exception:
                log.exception("stop: could not hand back workflow %s; the poller will find it", wid)

    async def run_workflow(self, wid: str, loaded: WorkflowInstance | None = None) -> None:
        """Run passes while the workflow is due. ``loaded``: fresh from the store, lease held."""
        key = f"wf:{wid}"
        if loaded is None:
            if not await self.lock.acquire(key, self.owner, self.host.lease_ttl):
                return  # another host is on it; if it dies, its lease expires and the poller retries
            self.held.add(key)
        try:
            if loaded is not None:
                instance = loaded
            else:
                try:
                    instance = await self.persistence.get_workflow(wid)
                except WorkflowNotFoundError:
                    return
            definition = self.registry.find(instance.definition_id, instance.version)
            if definition is None:
                log.warning(
                    "workflow %s needs definition %r version %d, which this host has not "
                    "registered; leaving it for a host that has", wid, instance.definition_id,
                    instance.version,
                )
                return
            text = instance.data  # as stored: what a step that leaves bad data goes back to
            instance.data = decode_data(text, definition.data_type)
            passes = 0
            while (
                not self.stopping
                and instance.status is WorkflowStatus.RUNNABLE
                and instance.next_execution is not None
                and instance.next_execution <= self.clock.now()
            ):
                passes += 1
                if passes % YIELD_EVERY_PASSES == 0:
                    await asyncio.sleep(0)  # let other workflows in; keep the instance and lease
                result = await self.executor.execute(instance, definition, text)
                stored = await self.persist_pass(instance, definition, result)
                if stored is None:
                    # Someone changed it under us (suspend, terminate, an event): start over.
                    instance = await self.persistence.get_workflow(wid)
                    text = instance.data
                    instance.data = decode_data(text, definition.data_type)
                else:
                    text = stored
            if instance.status is WorkflowStatus.RUNNABLE and instance.next_execution is not None:
                self.schedule(instance.next_execution, "wf", wid)
        finally:
            self.held.discard(key)
            await self.lock.release(key, self.owner)

    async def persist_pass(
        self, instance: WorkflowInstance, definition: WorkflowDefinition, result: PassResult
    ) -> str | None:
        """Store a pass; returns the data as stored, or None when the instance changed under it."""
        data = instance.data
        text = result.data_text
        if text is None:
            text = encode_data(data, definition.data_type)
        instance.data = text
        try:
            await self.persistence.persist_workflow(
                instance,
                changed_pointers=result.changed,
                subscriptions=result.subscriptions,
                errors=result.errors,
            )
        except ConcurrencyError:
            log.info("workflow %s changed during a pass; the pass is discarded and rerun", instance.id)
            return None
        finally:
            instance.data = data
        hub = self.host.lifecycle
        if hub.active:
            for event in result.events:
                await hub.publish(event)
        if result.subscriptions:
            received = {
                p.extension_attributes.get("event_id")
                for p in instance.execution_pointers
                if p.event_published
            }
            for sub in result.subscriptions:
                await self.seed_earlier_events(sub, received)
        if instance.status is not WorkflowStatus.RUNNABLE:
            await self.workflow_settled(instance, text)
        return text

    async def workflow_settled(self, instance: WorkflowInstance, data_text: str | None) -> None:
        """The workflow stopped being runnable: wake waiters, index it, tell its parent."""
        self.notify_changed(instance.id)
        self.index_soon(instance.id, data_text, instance)
        if instance.parent_workflow_id and instance.status in (
            WorkflowStatus.COMPLETE,
            WorkflowStatus.TERMINATED,
        ):
            await self.host.publish_event(
                WORKFLOW_ENDED_EVENT,
                instance.id,
                {"status": instance.status.value, "data": instance.data},
            )

    async def after_control(self, instance: WorkflowInstance) -> None:
        """After a suspend, resume or terminate (``instance.data`` is still JSON text)."""
        text = instance.data
        if self.waiting.get(instance.id) is not None:
            # It waits here for a slot with the state it had: hand it the new state, so that
            # it does not run a pass the change made void.
            self.waiting[instance.id] = attrs.evolve(instance)
        if instance.status is WorkflowStatus.RUNNABLE:
            await self.queue.enqueue(QueueKind.WORKFLOW, instance.id)
            self.index_soon(instance.id, text, instance)
            return
        definition = self.registry.find(instance.definition_id, instance.version)
        instance.data = decode_data(text, definition.data_type if definition else None)
        await self.workflow_settled(instance, text)

    # -- waiting for changes -----------------------------------------------------------------

    def notify_changed(self, wid: str) -> None:
        event = self.changed.pop(wid, None)
        if event is not None:
            event.set()

    async def wait_for_change(self, wid: str, timeout: float) -> None:
        event = self.changed.setdefault(wid, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    async def acquire_workflow(self, wid: str, wait: float) -> bool:
        """Take a workflow's lease, waiting up to ``wait`` seconds for its holder."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = 0.002
        key = f"wf:{wid}"
        while True:
            if await self.lock.acquire(key, self.owner, self.host.lease_ttl):
                self.held.add(key)
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if wid in self.active:
                released = self.released.setdefault(wid, asyncio.Event())
                try:
                    await asyncio.wait_for(released.wait(), remaining)
                except TimeoutError:
                    return False
            else:
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.05)

    async def release_workflow(self, wid: str) -> None:
        key = f"wf:{wid}"
        self.held.discard(key)
        await self.lock.release(key, self.owner)

    # -- events ------------------------------------------------------------------------------

    async def event_published(self, event: Event) -> None:
        if event.event_time > self.clock.now():
            self.schedule(event.event_time, "evt", event.id)
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

    async def event_loop(self) -> None:
        while not self.stopping:
            await self.event_slots.acquire()
            try:
                eid = await self.queue.dequeue(QueueKind.EVENT, 0.25)
            except asyncio.CancelledError:
                self.event_slots.release()
                raise
            except Exception:
                self.event_slots.release()
                log.exception("dequeue from the event queue failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            if eid is None:
                self.event_slots.release()
                continue
            self.spawn(self.process_event(eid))

    async def process_event(self, eid: str) -> None:
        try:
            done = await self.deliver_event(eid)
        except Exception:
            log.exception("event %s: delivery failed; retrying", eid)
            done = False
        finally:
            self.event_slots.release()
        if not done and not self.stopping:
            self.schedule(self.clock.now() + timedelta(milliseconds=50), "evt", eid, force=True)

    async def deliver_event(self, eid: str) -> bool:
        key = f"evt:{eid}"
        if not await self.lock.acquire(key, self.owner, self.host.lease_ttl):
            return False
        try:
            event = await self.persistence.get_event(eid)
            if event is None or event.is_processed:
                return True
            if event.event_time > self.clock.now():
                self.schedule(event.event_time, "evt", eid)
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
            await self.lock.release(key, self.owner)

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
        if not await self.acquire_workflow(wid, wait=5.0):
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
            if instance.status is WorkflowStatus.RUNNABLE and self.try_run_here(wid, or_wait=True):
                handed_over = True
                self.run_here(wid, instance)
                return True
        finally:
            if not handed_over:
                await self.release_workflow(wid)
        await self.queue.enqueue(QueueKind.WORKFLOW, wid)
        return True

    # -- timers and polling ------------------------------------------------------------------

    def schedule(self, due: datetime, kind: str, item_id: str, *, force: bool = False) -> None:
        """Queue ``item_id`` at ``due``; far-off timers are left to the poller."""
        horizon = self.clock.now() + timedelta(seconds=2 * self.host.poll_interval)
        # A clock that jumps to the next timer when idle must know every timer.
        if due > horizon and not force and not getattr(self.clock, "auto_advance", False):
            return
        key = f"{kind}:{item_id}"
        current = self.timer_due.get(key)
        if current is not None and current <= due:
            return
        self.timer_due[key] = due
        heapq.heappush(self.timers, (due, kind, item_id))
        if self.timers[0][0] == due:
            self.timer_wake.set()

    async def timer_loop(self) -> None:
        while not self.stopping:
            now = self.clock.now()
            while self.timers and self.timers[0][0] <= now:
                due, kind, item_id = heapq.heappop(self.timers)
                key = f"{kind}:{item_id}"
                if self.timer_due.get(key) != due:
                    continue  # superseded by an earlier timer for the same item
                del self.timer_due[key]
                try:
                    if kind == "wf":
                        if self.try_run_here(item_id):
                            self.run_here(item_id)
                        else:
                            await self.queue.enqueue(QueueKind.WORKFLOW, item_id)
                    else:
                        await self.queue.enqueue(QueueKind.EVENT, item_id)
                except Exception:
                    log.exception("could not queue %s; the poller will find it", key)
            self.timer_wake.clear()
            if self.timers:
                await self.clock.sleep_until(self.timers[0][0], self.timer_wake)
            else:
                await self.timer_wake.wait()

    async def poll_loop(self) -> None:
        while not self.stopping:
            interval = self.host.poll_interval
            try:
                if await self.poll_once():
                    interval = min(interval, 1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polling for due work failed; retrying next interval")
            self.poll_wake.clear()
            try:
                await asyncio.wait_for(self.poll_wake.wait(), interval)
            except TimeoutError:
                pass

    async def poll_once(self, limit: int = 1000) -> bool:
        """Queue due workflows and events; set timers for what falls due before the next poll.

        Returns True when there may be more due work than one query returned.
        """
        now = self.clock.now()
        horizon = now + timedelta(seconds=self.host.poll_interval)
        due = await self.persistence.get_runnable_instances(horizon, limit)
        for wid, when in due:
            if when <= now:
                if wid not in self.active:
                    await self.queue.enqueue(QueueKind.WORKFLOW, wid)
            else:
                self.schedule(when, "wf", wid)
        events = await self.persistence.get_runnable_events(now, limit)
        for eid in events:
            await self.queue.enqueue(QueueKind.EVENT, eid)
        return len(due) >= limit or len(events) >= limit

    async def lease_loop(self) -> None:
        period = max(self.host.lease_ttl / 3, 0.05)
        while not self.stopping:
            await asyncio.sleep(period)
            for key in list(self.held):
                try:
                    renewed = await self.lock.renew(key, self.owner, self.host.lease_ttl)
                    if not renewed and key in self.held:
                        log.warning("lost the lease on %s; another host may take it over", key)
                except Exception:
                    log.exception("renewing the lease on %s failed", key)

    # -- search index ------------------------------------------------------------------------
    #
    # What to index is durable: the store records each written workflow in its index outbox
    # in the transaction of the write (see PersistenceProvider.get_index_outbox), and the
    # indexer here drains it: soon after a change in this host (in batches), every poll
    # interval (other processes write too, the wfe command among them), and at start (what a
    # host that crashed, or stopped with its index down, left behind). A store that keeps the
    # search index in the same transaction leaves the outbox empty: nothing to do here.

    def index_soon(
        self, wid: str, data_text: str | None = None, instance: WorkflowInstance | None = None
    ) -> None:
        """``wid`` was written: drain the outbox shortly.

        With ``instance`` and its data as JSON text, the indexer need not reload it.
        """
        if instance is not None and data_text is not None:
            # The index needs the fields and the data, not the pointers.
            self.index_pending[wid] = attrs.evolve(
                instance, data=data_text, execution_pointers=ExecutionPointers()
            )
        self.index_wake.set()

    async def index_loop(self) -> None:
        self.index_wake.set()  # catch up at once with what earlier hosts left in the outbox
        while not self.stopping:
            try:
                await asyncio.wait_for(self.index_wake.wait(), self.host.poll_interval)
                # Gather a batch: a short workflow's start and end then cost one write, not
                # two. host.search() flushes first, so searches never see a stale index.
                await asyncio.sleep(INDEX_BATCH_SECONDS)
            except TimeoutError:
                pass  # look anyway: another process may have written
            self.index_wake.clear()
            try:
                await self.flush_index()
            except Exception:
                log.exception("search indexing failed; the workflows stay in the outbox for later")

    async def flush_index(self) -> None:
        """Index what the store's outbox holds, and take it out of the outbox.

        One drain at a time, in this host (a lock) and across hosts (a lease): two drains of
        one workflow could otherwise store an older state over a newer one.

        Raises:
            WfeError: some workflows could not be indexed; they stay in the outbox.
        """
        async with self.index_lock:
            snapshots, self.index_pending = self.index_pending, {}
            entries = await self.persistence.get_index_outbox(INDEX_DRAIN)
            if not entries:
                return
            if not await self.lock.acquire(INDEX_LEASE, self.owner, self.host.lease_ttl):
                return  # another host is draining it
            self.held.add(INDEX_LEASE)
            try:
                await self.index_entries(entries, snapshots)
            finally:
                self.held.discard(INDEX_LEASE)
                await self.lock.release(INDEX_LEASE, self.owner)
            if len(entries) >= INDEX_DRAIN:
                self.index_wake.set()  # there may be more

    async def index_entries(
        self, entries: list[tuple[str, int]], snapshots: dict[str, WorkflowInstance]
    ) -> None:
        """Index outbox entries, from ``snapshots`` where they are as new, else reloaded."""
        ready: list[WorkflowInstance] = []
        missing: list[str] = []
        for wid, revision in entries:
            snapshot = snapshots.get(wid)
            if snapshot is not None and snapshot.revision >= revision:
                ready.append(snapshot)
            else:
                missing.append(wid)
        if missing:
            ready.extend(await self.persistence.get_workflows(missing))
        found = {instance.id for instance in ready}
        # An entry of a workflow the store no longer has leaves nothing to index.
        done = [(wid, revision) for wid, revision in entries if wid not in found]
        # Written side by side, so that a store with group commit writes a chunk in one
        # transaction rather than one commit (an fsync on SQLite) per workflow.
        index = self.host.search_index.index_workflow
        errors: list[Exception] = []
        for start in range(0, len(ready), INDEX_CHUNK):
            chunk = ready[start : start + INDEX_CHUNK]
            outcomes = await asyncio.gather(*(index(i) for i in chunk), return_exceptions=True)
            for instance, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    errors.append(outcome)
                else:
                    # Only up to the revision indexed: a later write keeps its entry.
                    done.append((instance.id, instance.revision))
        if done:
            await self.persistence.remove_index_outbox(done)
        if errors:
            raise WfeError(f"search indexing failed for {len(errors)} workflow(s)") from errors[0]
