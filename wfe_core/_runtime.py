"""The host's background work, assembled: ``Runtime`` starts and stops its parts.

``WorkflowHost.start`` creates one ``Runtime`` from narrow inputs (providers, clock, registry,
lifecycle hub, settings, and the host for steps that start sub-workflows). Each job is a part
named after it:

* ``Capacity`` (``_capacity``): which workflows run here, and which wait here for a slot;
* ``WorkflowRunner`` (``_runner``): passes of one workflow, each stored in one write;
* ``EventDelivery`` (``_events``): published events into the waits that match them;
* ``Timers`` (``_timers``): delays and future events, from an in-memory heap;
* ``Poller`` (``_poller``): the safety net for work the pushes missed;
* ``Leases`` (``_leases``): the leases this host holds, renewed, and noticed when lost;
* ``Indexer`` (``_indexer``): the search index, fed from the store's durable outbox;
* ``GroupCommit`` (``_group_commit``): passes finishing together stored in one batch;
* ``Outage`` (``_outage``): a store unavailable for now, waited out and logged once;
* ``Retention`` (``_retention``): finished workflows past ``retention`` deleted, in batches.

Wake-ups are pushed: a started workflow or a published event runs or is delivered at once in
the host that made it (or is queued for any host when this one is full), a due timer
fires from the heap, and a workflow that is runnable again after a pass goes straight on while
its lease is held. The poller only finds what those pushes missed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from ._capacity import Capacity
from ._events import QUEUE_WAIT, EventDelivery
from ._executor import WorkflowExecutor
from ._group_commit import GroupCommit
from ._heartbeat import Heartbeat
from ._indexer import Indexer
from ._leases import Leases, workflow_key
from ._lifecycle import LifecycleHub
from ._middleware import MiddlewareChain
from ._models import Event, WorkflowInstance, WorkflowStatus, random_hex
from ._outage import Outage
from ._poller import Poller
from ._priority import Priorities, enqueue_workflow
from ._registry import WorkflowRegistry
from ._retention import Retention, purging_store
from ._runner import Publish, WorkflowRunner
from ._settings import RuntimeSettings
from ._step import StepHost
from ._tasks import stop_tasks
from ._telemetry import Telemetry
from ._threads import StepThreads
from ._timers import Timers
from .clock import Clock
from .errors import ProviderError, ProviderUnavailableError
from .providers import (
    HeartbeatStore,
    LeasedCreation,
    LockProvider,
    PersistenceProvider,
    QueueKind,
    QueueProvider,
    SearchIndex,
)

__all__ = ["Runtime", "RuntimeSettings"]

log = logging.getLogger("wfe.runtime")

#: Tasks taking workflows from the queue at once. Each claims one item per store round trip,
#: so they bound how fast a backlog drains: with 8, 20,000 queued sleepers drained with only
#: 16-31 workflows in flight of 256 slots; 16 parked them 10 % faster on SQLite and 18 % on
#: PostgreSQL (more gave nothing more: the store's thread is then the limit).
QUEUE_READERS = 16
#: Seconds ``stop`` waits for a cancelled task to end before it logs the task and goes on.
CANCEL_WAIT = 10.0
#: Seconds between looks at the registry while it is empty (the queue is not read then).
NOTHING_REGISTERED_PAUSE = 0.25


class Runtime:
    """Background tasks of one running host."""

    def __init__(
        self,
        *,
        persistence: PersistenceProvider,
        lock: LockProvider,
        queue: QueueProvider,
        search: SearchIndex,
        clock: Clock,
        registry: WorkflowRegistry,
        lifecycle: LifecycleHub,
        settings: RuntimeSettings,
        publish: Publish,
        step_host: StepHost | None = None,
        telemetry: Telemetry | None = None,
        heartbeats: HeartbeatStore | None = None,
        middleware: MiddlewareChain | None = None,
    ) -> None:
        telemetry = telemetry if telemetry is not None else Telemetry()
        self.persistence = persistence
        self.queue = queue
        self.registry = registry
        self.clock = clock
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{random_hex(8)}"
        self.stopping = False
        self.loops: list[asyncio.Task[None]] = []
        self.work: set[asyncio.Task[Any]] = set()
        self.pool = StepThreads(settings.thread_pool_size)
        self.outage = Outage()
        self.commit = GroupCommit(persistence)
        self.leases = Leases(lock, self.owner, settings.lease_ttl, self.outage)
        #: The store's create that takes the new workflow's lease in its own transaction, when
        #: the lock keeps its leases in the store's database; None otherwise.
        self.create_leased = (
            functools.partial(persistence.create_workflow_leased, lock=lock)
            if isinstance(persistence, LeasedCreation) and persistence.shares_leases_with(lock)
            else None
        )
        self.timers = Timers(clock, settings.poll_interval, self.timer_fired)
        self.capacity = Capacity(settings.max_concurrent_workflows, self.spawn_workflow)
        self.capacity.hand_back = self.displaced
        #: Levels of the workflows seen here, for enqueues that have only an id.
        self.priorities = Priorities()
        self.heartbeat = (
            Heartbeat(heartbeats, self.owner, settings.heartbeat_interval, registry.versions,
                      lambda: len(self.capacity.active))
            if heartbeats is not None else None
        )
        self.indexer = Indexer(
            persistence, search, self.leases, settings.poll_interval, telemetry
        )
        self.events = EventDelivery(
            persistence, queue, self.leases, self.timers, self.capacity, clock, self.spawn,
            self.commit, self.outage, telemetry,
            lambda instance: registry.find(instance.definition_id, instance.version) is not None,
        )
        self.runner = WorkflowRunner(
            persistence=persistence,
            commit=self.commit,
            outage=self.outage,
            queue=queue,
            leases=self.leases,
            capacity=self.capacity,
            timers=self.timers,
            indexer=self.indexer,
            events=self.events,
            executor=WorkflowExecutor(
                clock, step_host, self.pool, settings.max_parallel_steps, telemetry,
                middleware,
            ),
            middleware=middleware,
            registry=registry,
            runs_elsewhere=self.heartbeat.runs_elsewhere if self.heartbeat else None,
            clock=clock,
            lifecycle=lifecycle,
            publish=publish,
            telemetry=telemetry,
        )
        self.poller = Poller(
            persistence, queue, self.timers, clock, settings.poll_interval, self.capacity.active,
            self.outage, self.without_queue,
        )
        self.runner.priorities = self.poller.priorities = self.priorities
        self.retention = (
            Retention(purging_store(persistence), self.leases, clock, settings.retention,
                      settings.poll_interval)
            if settings.retention is not None else None
        )

    @property
    def changed(self) -> dict[str, asyncio.Event]:
        """Workflow id -> event set when it next settles (read by the benchmarks)."""
        return self.runner.changed

    # -- start and stop ----------------------------------------------------------------------

    async def start(self) -> None:
        # Several dequeuers, so that their claims share the store's commits: one alone
        # waits a whole commit (an fsync on SQLite) per queued workflow.
        for n in range(QUEUE_READERS):
            self.loops.append(asyncio.create_task(self.workflow_loop(), name=f"wfe.workflow_loop.{n}"))
        stopping = self.is_stopping
        for name, coro in (
            ("events", self.events.run()),
            ("timers", self.timers.run(stopping)),
            ("poller", self.poller.run(stopping)),
            ("leases", self.leases.renew_loop(stopping)),
            ("indexer", self.indexer.run(stopping)),
            *([("heartbeat", self.heartbeat.run(stopping))] if self.heartbeat else []),
            *([("retention", self.retention.run(stopping))] if self.retention else []),
        ):
            self.loops.append(asyncio.create_task(coro, name=f"wfe.{name}"))
        add_listener = getattr(self.clock, "add_listener", None)
        if add_listener is not None:
            add_listener(self.clock_moved)

    def is_stopping(self) -> bool:
        return self.stopping

    async def stop(self) -> None:
        self.stopping = True
        for part in (self.capacity, self.events, self.runner):
            part.stopping = True
        self.capacity.slots.wake_all()  # readers waiting to admit what they took hand it back
        if self.heartbeat is not None:
            await self.heartbeat.draining()
        remove_listener = getattr(self.clock, "remove_listener", None)
        if remove_listener is not None:
            remove_listener(self.clock_moved)
        # stop_tasks cancels the loops; one whose cancellation a driver swallowed still ends,
        # as it sees ``stopping`` once woken.
        self.timers.wake.set()
        self.poller.wake.set()
        await stop_tasks(self.loops, "background loop", log=log, wait=CANCEL_WAIT)
        await self.hand_back_waiting()
        if self.work:
            done, pending = await asyncio.wait(set(self.work), timeout=self.settings.stop_timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("stop: %d workflow task(s) still running after %.0f s were cancelled",
                            len(pending), self.settings.stop_timeout)
                await stop_tasks(pending, "workflow task", log=log, wait=CANCEL_WAIT)
        await self.hand_back_waiting()  # any a start still in progress handed over
        try:
            await self.indexer.flush()
        except ProviderUnavailableError as exc:
            log.warning("stop: the search index is unavailable; the store's outbox keeps what "
                        "it lacks for the next host (%s)", exc)
        except Exception:
            log.exception("final search indexing failed")
        self.pool.stop()
        if self.heartbeat is not None:
            await self.heartbeat.leave()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.work.add(task)
        task.add_done_callback(self.work.discard)
        return task

    def spawn_workflow(self, wid: str, instance: WorkflowInstance | None) -> None:
        self.spawn(self.runner.process(wid, instance))

    def displaced(self, wid: str, priority: int) -> None:
        """A workflow waiting here for a slot gave its place to one of a higher level: its
        lease goes back and it goes to the shared queue, for this host or another."""

        async def hand_back() -> None:
            try:
                await self.leases.release(workflow_key(wid))
                await enqueue_workflow(self.queue, wid, priority)
            except Exception:
                log.exception("could not queue workflow %s again; the poller will find it", wid)

        self.spawn(hand_back())

    def clock_moved(self) -> None:
        """A test clock jumped: look at timers and due work again now."""
        self.timers.wake.set()
        self.poller.wake.set()

    async def hand_back_waiting(self) -> None:
        """At stop: release the workflows still waiting here and queue them for any host."""
        for wid in self.capacity.take_waiting():
            try:
                await self.leases.release(workflow_key(wid))
                await enqueue_workflow(self.queue, wid, self.priorities.of(wid))
            except Exception:
                log.exception("stop: could not hand back workflow %s; the poller will find it", wid)

    # -- work arriving -----------------------------------------------------------------------

    async def workflow_loop(self) -> None:
        # Waits for the queue without holding a slot, so that every slot stays free for
        # workflows started or woken here, and takes one only for an item it got.
        attempt = 0
        while not self.stopping:
            if self.registry.is_empty():
                # A host that registered nothing (it only starts workflows or publishes
                # events) leaves the shared queue to the hosts that can run what is on it.
                await asyncio.sleep(NOTHING_REGISTERED_PAUSE)
                continue
            pause = self.runner.readers_pause_until - time.monotonic()
            if pause > 0:  # this host handed a workflow on and took it back: leave it a while
                await asyncio.sleep(pause)
                continue
            await self.capacity.take_for_queue()
            if self.stopping:
                self.capacity.done_dequeuing()
                return
            try:
                try:
                    wid = await self.queue.dequeue(QueueKind.WORKFLOW, QUEUE_WAIT)
                finally:
                    self.capacity.done_dequeuing()
            except ProviderUnavailableError as exc:
                self.outage.failed(exc, "taking from the workflow queue")
                attempt += 1
                await asyncio.sleep(self.outage.delay(attempt))
                continue
            except Exception:
                log.exception("dequeue from the workflow queue failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            attempt = 0
            if wid is None:
                continue  # not a sign the store is back (see EventDelivery.run)
            if self.stopping:  # taken as this host stops: back to the queue for another host
                await self.queue_or_poller(wid)
                return
            self.outage.ok()
            # Usually free at once; a reader still waiting for a slot when the host stops
            # gives the item back for another host.
            admitted = await self.capacity.admit_dequeued(wid)
            if admitted is None:
                await self.queue_or_poller(wid)
                return
            if admitted:
                self.spawn_workflow(wid, None)

    async def timer_fired(self, kind: QueueKind, item_id: str) -> None:
        try:
            if kind is QueueKind.WORKFLOW:
                # A host that registered nothing (it only starts workflows or publishes
                # events) hands what falls due to the hosts that can run it.
                if not self.registry.is_empty() and self.capacity.try_reserve(item_id):
                    self.capacity.run(item_id)
                else:
                    await enqueue_workflow(self.queue, item_id, self.priorities.of(item_id))
            else:
                await self.queue.enqueue(QueueKind.EVENT, item_id)
        except ProviderUnavailableError as exc:
            # Fire again later rather than wait a whole poll interval for the poller.
            self.outage.failed(exc, f"queueing {kind.value} {item_id}")
            delay = timedelta(seconds=self.outage.delay(self.outage.failures))
            self.timers.schedule(self.clock.now() + delay, kind, item_id, force=True)

    async def launch(
        self,
        instance: WorkflowInstance,
        create: Callable[[WorkflowInstance], Awaitable[Any]],
        announce: Callable[[], Awaitable[None]],
    ) -> None:
        """Store a new workflow with ``create`` and run it.

        It runs here at once when there is room, or is held here until a slot frees: its
        lease is taken before it exists (or with it, in the store's own transaction, when the
        store keeps the leases: then the store's ``create_workflow_leased`` writes it, not
        ``create``), so no other host can run it too, and it skips the queue round trip and
        the reload. Otherwise it goes to the shared queue.

        The store write is all a start needs: a lock that is unavailable for now (Valkey down)
        leaves the workflow to the queue, or to the poller when the queue is down too, and
        the caller's start succeeds.
        """
        wid = instance.id
        key = workflow_key(wid)
        self.priorities.note(wid, instance.priority)
        here = self.capacity.try_reserve(wid, or_wait=True, priority=instance.priority)
        # The lease is taken before the workflow exists, never alongside its write: another
        # host (its poller) may see the workflow as soon as it is stored, run it and let go
        # of it, and a lease granted after that would run this host's copy, now stale, again.
        # A store that keeps the leases itself writes both in one transaction, so that the
        # workflow appears with its lease held (LeasedCreation): one round trip, one commit.
        leased = False
        try:
            if here and self.create_leased is not None:
                leased = await self._create_leased(instance, key)
            else:
                if here:
                    leased = await self._lease_new(key)
                await create(instance)
            if here and not leased:
                self.capacity.give_back(wid)
                here = False
        except BaseException:  # a failure or a cancelled caller: give the reservation back
            if here:
                self.capacity.give_back(wid)  # first: a place in line must never be left held
            if leased:
                self.spawn(self._drop_lease(key))
            raise
        try:
            await announce()
        finally:
            # The workflow is stored: it runs even if the caller is cancelled from here on.
            self.indexer.index_soon(wid, instance.data, instance)
            if here:
                self.capacity.run(wid, instance)
            else:
                await self.queue_or_run(wid)

    async def _create_leased(self, instance: WorkflowInstance, key: str) -> bool:
        """Store a new workflow and take its lease in one transaction; True if it was taken."""
        assert self.create_leased is not None
        asked = time.monotonic()
        try:
            taken = await self.create_leased(
                instance, key=key, owner=self.leases.owner, ttl=self.leases.ttl
            )
        except BaseException:
            # A caller cancelled (or a write cut off) may leave the write made, lease and all:
            # it is given back. The store orders a release asked now after that write.
            self.spawn(self._drop_lease(key))
            raise
        if taken:
            self.leases.adopt(key, asked)
        return taken

    async def _drop_lease(self, key: str) -> None:
        """Release the lease of a start whose write failed (or whose caller was cancelled)."""
        try:
            await self.leases.release(key)
        except Exception:  # the lease expires on its own
            log.debug("could not release the lease of a failed start %s", key, exc_info=True)

    async def _lease_new(self, key: str) -> bool:
        """Take the lease of a workflow being started; False when the lock is unavailable for
        now (noted as an outage) or fails otherwise (logged), as when another host holds it:
        the start does not wait, and its workflow, stored next, goes to the queue."""
        try:
            return await self.leases.acquire(key)
        except ProviderUnavailableError as exc:
            self.outage.failed(exc, "taking the lease of a new workflow")
            return False
        except Exception:
            log.exception("taking the lease of new workflow %s failed; it is queued", key)
            return False

    async def queue_or_poller(self, wid: str) -> None:
        """Queue a workflow this host will not run; left to the pollers if the queue fails."""
        try:
            await enqueue_workflow(self.queue, wid, self.priorities.of(wid))
        except Exception as exc:
            log.warning("stop: could not queue workflow %s for another host (%s); the poller "
                        "will find it", wid, exc)

    async def queue_or_run(self, wid: str) -> None:
        """Queue a stored workflow for any host. With the queue down it runs here when there
        is room, else the poller finds it: the caller's write stands either way, so a caller
        never sees an error for work that was stored (and never stores it twice)."""
        try:
            await enqueue_workflow(self.queue, wid, self.priorities.of(wid))
        except ProviderError as exc:
            await self.without_queue(QueueKind.WORKFLOW, wid, exc)

    async def without_queue(self, kind: QueueKind, item_id: str, exc: ProviderError) -> None:
        """The queue refused ``item_id``: handle it in this host instead."""
        if isinstance(exc, ProviderUnavailableError):
            self.outage.failed(exc, "queueing work")  # logged once per outage
        else:
            log.warning("the queue refused %s %s (%s); it is handled in this host", kind.value,
                        item_id, exc)
        if kind is QueueKind.WORKFLOW:
            if self.capacity.try_reserve(item_id):
                self.capacity.run(item_id)
        else:
            await self.events.deliver_here(item_id)

    async def publish(self, event: Event, create: Callable[[Event], Awaitable[Any]]) -> None:
        """Store a new event with ``create`` and deliver it: from here at once when there is
        room (``EventDelivery.publish_here``), else through the queue or a timer."""
        if not await self.events.publish_here(event, create):
            await self.event_published(event)

    async def event_published(self, event: Event) -> None:
        try:
            await self.events.published(event)
        except ProviderError as exc:  # stored already: deliver it from here
            await self.without_queue(QueueKind.EVENT, event.id, exc)

    async def flush_index(self) -> None:
        await self.indexer.flush(catch_up=True)

    async def wait_for_change(self, wid: str, timeout: float) -> None:
        await self.runner.wait_for_change(wid, timeout)

    async def priority_changed(self, instance: WorkflowInstance) -> None:
        """After ``set_priority``: later enqueues here use the new level, and a runnable
        workflow not running here is queued at it (a queue keeps the better of two ranks)."""
        self.priorities.note(instance.id, instance.priority)
        if instance.status is WorkflowStatus.RUNNABLE and instance.id not in self.capacity.active:
            await enqueue_workflow(self.queue, instance.id, instance.priority)

    async def after_control(self, instance: WorkflowInstance) -> None:
        await self.runner.after_control(instance)
