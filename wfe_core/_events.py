"""``EventDelivery``: hands published events to the workflows waiting for them.

A published event that is due is delivered at once by the host that published it, with the
event in hand, when that host has a delivery slot free; otherwise it is queued (or timed, for a
future effective date) and a host takes it from the event queue. Either way it is delivered
under the event's lease: the subscriptions it matches are found, and it is written into each
waiting pointer under that workflow's lease. Events reach a wait oldest first; a wait that
begins after an event was published still receives it.

An event that one wait matches, in a workflow this host can run now (a slot is free), is
not written on its own: the workflow's lease and its instance, with the event in the waiting
pointer, go to the runner, whose first pass writes the event with the steps after the wait
(``Carried``, which holds the event's lease from then on: ``HeldLease``). The step after the wait so starts one commit sooner, and a wake-up costs one
write, not two. Until that write is durable the event stays unprocessed and the subscription
in place, under the event's lease: a pass that is not written (a crash, a lost lease, a
revision that moved) leaves both for the event to be delivered again, and the step runs again,
as any step of an unwritten pass does. Otherwise (several waits match, no slot is free, the
workflow is suspended) the delivery is written first and the workflow handed on after it.

Ending the subscription and marking the event processed come after the write. A crash in
between leaves a subscription whose pointer was served, which the next delivery for it ends,
and an event that the poller delivers again, which the workflow's own record (``received``)
skips. A delivery that does not run here skips the queue's three round trips (queue, notify,
claim) and the event's reload, which are most of a wake-up's latency on a networked store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

import attrs

from ._capacity import Capacity
from ._group_commit import GroupCommit
from ._leases import HeldLease, Leases, event_key, workflow_key
from ._models import Event, EventSubscription, PointerStatus, WorkflowInstance, WorkflowStatus
from ._outage import Outage
from ._priority import enqueue_workflow
from ._telemetry import Telemetry, log_fields
from ._timers import Timers
from .clock import Clock
from .errors import ConcurrencyError, ProviderUnavailableError, WorkflowNotFoundError
from .providers import PersistenceProvider, QueueKind, QueueProvider, WorkflowWrite

__all__ = ["QUEUE_WAIT", "Carried", "EventDelivery"]

log = logging.getLogger("wfe.runtime")

#: Seconds a queue reader waits in one ``dequeue`` call before it calls again. An item queued
#: in this process wakes it at once, and each queue watches for items from other processes on
#: its own cadence (SQLite every 5-250 ms, PostgreSQL on notifications), so the wait bounds
#: only how often an idle reader comes round: 9 readers at 0.25 s made 36 empty returns a
#: second, the biggest part of an idle host's CPU; 17 at 2 s make 8.5.
QUEUE_WAIT = 2.0

#: The event names of waits answered from outside (``_activities``, ``_user_tasks``).
_EXTERNAL_WAITS = ("wfe.activity", "wfe.user_task")
_ACTIVITY_EVENT = "wfe.activity"
#: Events delivered at once by one host.
EVENT_SLOTS = 16
#: How long a delivery waits for the lease of a workflow another task of this host holds.
SEED_WAIT = 5.0


@attrs.define(eq=False)
class Carried:
    """An event handed to a runner inside the instance, for its first pass to write.

    ``instance``: the instance that carries it (its lease held), ``pointer_id``: the waiting
    pointer it was put into, ``lease``: the event's, given back when the runner ``settle`` s it.
    """

    instance: WorkflowInstance
    pointer_id: str
    event: Event
    subscription: EventSubscription
    lease: HeldLease


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
        commit: GroupCommit | None = None,
        outage: Outage | None = None,
        telemetry: Telemetry | None = None,
        runs_here: Callable[[WorkflowInstance], bool] | None = None,
    ) -> None:
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.persistence = persistence
        self.commit = commit if commit is not None else GroupCommit(persistence)
        self.outage = outage if outage is not None else Outage()
        self.queue = queue
        self.leases = leases
        self.timers = timers
        self.capacity = capacity
        self.clock = clock
        self.spawn = spawn
        #: Whether this host can run a woken workflow (it has registered its definition);
        #: one it cannot is queued for a host that can, rather than left to the poller.
        self.runs_here = runs_here if runs_here is not None else (lambda instance: True)
        self.slots = asyncio.Semaphore(EVENT_SLOTS)
        self.stopping = False
        #: workflow id -> the event its runner's first pass is to write (``Carried``).
        self.carried: dict[str, Carried] = {}

    async def publish_here(
        self, event: Event, create: Callable[[Event], Awaitable[Any]]
    ) -> bool:
        """Store a new event with ``create`` and start its delivery from this host.

        When the event is due and a delivery slot is free, its lease is taken and its
        subscriptions read while it is stored (its id is made here, so the lease can come
        first, as a started workflow's does): three round trips in the time of one. A wait
        that begins meanwhile is caught by the check after the delivery (``deliver``).

        Returns:
            True when the delivery started here; False when the event was stored but is the
            caller's to queue (not due yet, no slot, or the lease or read failed).

        Raises:
            What ``create`` raises; then nothing was started, and no lease is kept.
        """
        if event.event_time > self.clock.now() or self.stopping or self.slots.locked():
            await create(event)
            return False
        await self.slots.acquire()  # free: does not wait
        key = event_key(event.id)
        started = False
        leased: object = None
        created = asyncio.ensure_future(create(event))
        try:
            outcomes: tuple[Any, ...] = await asyncio.gather(
                self.leases.acquire(key),
                self.persistence.get_subscriptions(
                    event.event_name, event.event_key, event.event_time
                ),
                return_exceptions=True,
            )
            leased, subs = outcomes
            if leased is True and isinstance(subs, list):
                # The delivery reads the waiting workflow while the event is being stored,
                # and runs nothing, writes nothing, before it is (``stored``).
                lease = HeldLease(self.leases, key)
                self.spawn(self.process(event.id, event, subs, created, lease))
                started = True
            await created
            return started
        finally:
            if not created.done():  # a cancelled caller: its outcome is nobody's to report
                created.add_done_callback(_quiet)
            if not started:
                self.slots.release()
                if leased is not False:  # held, or unknown (a failure, a cancelled caller)
                    self.spawn(self.leases.release(key))

    async def published(self, event: Event) -> None:
        """A stored event that is not being delivered from here: queue it, or time it for its
        effective date."""
        if event.event_time > self.clock.now():
            self.timers.schedule(event.event_time, QueueKind.EVENT, event.id)
        else:
            await self.queue.enqueue(QueueKind.EVENT, event.id)

    async def deliver_here(self, eid: str) -> None:
        """Deliver an event from this host, without the queue (it is down)."""
        await self.slots.acquire()
        self.spawn(self.process(eid))

    async def seed_earlier_events(self, sub: EventSubscription, received: set[str | None]) -> None:
        """Events published before this wait began are still delivered to it.

        Events this workflow already received at an earlier wait are skipped here, from the
        instance in hand: re-queuing them would cost a delivery (and a full load) each, every
        time a loop waits again on the same name and key.

        Activity and user task waits are answered without events (``_external``): an
        activity's wait is queued on its name's queue instead, so that a worker waiting
        for that name takes it at once.
        """
        if sub.event_name.startswith(_EXTERNAL_WAITS):
            if sub.event_name == _ACTIVITY_EVENT:
                await self.queue.enqueue(QueueKind.activity(sub.event_key), sub.id)
            return
        for event in await self.persistence.get_events(
            sub.event_name, sub.event_key, sub.subscribe_as_of
        ):
            if event.id in received:
                continue
            await self.persistence.mark_event_unprocessed(event.id)
            await self.queue.enqueue(QueueKind.EVENT, event.id)

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            await self.slots.acquire()
            try:
                eid = await self.queue.dequeue(QueueKind.EVENT, QUEUE_WAIT)
            except asyncio.CancelledError:
                self.slots.release()
                raise
            except ProviderUnavailableError as exc:
                self.slots.release()
                self.outage.failed(exc, "taking from the event queue")
                attempt += 1
                await asyncio.sleep(self.outage.delay(attempt))
                continue
            except Exception:
                self.slots.release()
                log.exception("dequeue from the event queue failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            attempt = 0
            if eid is None:
                # Not a sign the store is back: a queue may answer an empty wait without
                # reaching it (PostgreSQL waits for a notification).
                self.slots.release()
                continue
            self.outage.ok()
            self.spawn(self.process(eid))

    async def process(
        self, eid: str, event: Event | None = None, subs: list[EventSubscription] | None = None,
        created: asyncio.Future[Any] | None = None, lease: HeldLease | None = None,
    ) -> None:
        """Deliver one event; try again soon when a lease was busy or the store unavailable.

        ``event``, ``subs``, ``created`` and ``lease``: the event this host is storing, the
        subscriptions it matched, the call storing it and the event's lease (``publish_here``),
        which saves taking and reading them. Any other failure is logged with its traceback,
        and the event, still unprocessed in the store, is left to the poller.
        """
        retry = timedelta(milliseconds=50)
        try:
            done = await self.deliver(eid, event, subs, created, lease)
        except ProviderUnavailableError as exc:
            self.outage.failed(exc, f"delivering event {eid}")
            done = False
            retry = timedelta(seconds=self.outage.delay(self.outage.failures))
        except Exception:
            log.exception("event %s: delivery failed; the poller will try it again", eid,
                          extra=log_fields(None))
            done = True
        else:
            self.outage.ok()
        finally:
            self.slots.release()
        if not done and not self.stopping:
            self.timers.schedule(self.clock.now() + retry, QueueKind.EVENT, eid, force=True)

    async def deliver(
        self, eid: str, stored: Event | None = None, subs: list[EventSubscription] | None = None,
        created: asyncio.Future[Any] | None = None, lease: HeldLease | None = None,
    ) -> bool:
        """Deliver one event to every matching wait. False: try again later.

        ``lease``: the event's lease, taken already (``subs`` were read with it); it is given
        back here unless the event goes to a runner with it (``Carried``).
        ``created``: the call storing the event, still under way; nothing is written or run
        for the event before it succeeded, and nothing at all if it failed (its publisher
        got the error).
        """
        if lease is None:
            key = event_key(eid)
            if not await self.leases.acquire(key):
                return False
            lease = HeldLease(self.leases, key)
        try:
            event = stored if stored is not None else await self.persistence.get_event(eid)
            if event is None or event.is_processed:
                return True
            if event.event_time > self.clock.now():
                self.timers.schedule(event.event_time, QueueKind.EVENT, eid)
                return True
            if subs is None:
                subs = await self.persistence.get_subscriptions(
                    event.event_name, event.event_key, event.event_time
                )
            if not subs:
                delivered = True
            else:
                # Traced only when it reaches a wait: an event nobody waits for yet is looked
                # at again each time a wait begins, and would leave an empty span each time.
                span = self.telemetry.delivery_span(event)
                try:
                    if len(subs) == 1:
                        delivered = await self.seed(subs[0], event, created, carry=lease)
                    else:
                        delivered = await self.seed_all(subs, event, created)
                finally:
                    if span is not None:
                        span.end()
            if not lease.held:
                return True  # the runner holds the event's lease now, and settles it (``settle``)
            if not await _stored(created):
                return True
            if not delivered:
                return False
            return await self.conclude(event, subs)
        finally:
            await lease.release()

    async def conclude(self, event: Event, subs: list[EventSubscription]) -> bool:
        """Mark a delivered event processed. False: a wait began meanwhile; deliver again."""
        await self.persistence.mark_event_processed(event.id)
        # A wait that began while we delivered re-marks the event unprocessed when it
        # commits; if that landed before our mark above, look again rather than lose it.
        seen = {s.id for s in subs}
        later = await self.persistence.get_subscriptions(
            event.event_name, event.event_key, event.event_time
        )
        if any(s.id not in seen for s in later):
            await self.persistence.mark_event_unprocessed(event.id)
            return False
        return True

    def take_carried(self, wid: str, instance: WorkflowInstance | None) -> Carried | None:
        """The event ``instance`` carries for its runner's first pass to write, if any."""
        carried = self.carried.pop(wid, None)
        if carried is not None and carried.instance is not instance:
            self.settle(carried, False)  # not the instance it went into: deliver it again
            return None
        return carried

    def settle(
        self, carried: Carried, written: bool, error: BaseException | None = None
    ) -> None:
        """The runner's first pass with ``carried`` was written (or not, ``written=False``):
        end the subscription and mark the event processed, or deliver it again.

        ``error``: what stopped the runner before a pass was written. Unset (the pass met a
        moved revision or a lost lease), the event is delivered again soon; a store that is
        unavailable, once it may be back; anything else is left to the poller, so that a
        failure that comes back each time is not retried many times a second.
        """
        retry: timedelta | None = timedelta(milliseconds=50)
        if isinstance(error, ProviderUnavailableError):
            retry = timedelta(seconds=self.outage.delay(max(self.outage.failures, 1)))
        elif error is not None:
            retry = None
        self.spawn(self.finish_carried(carried, written, retry))

    async def finish_carried(
        self, carried: Carried, written: bool, retry: timedelta | None
    ) -> None:
        event = carried.event
        done = False
        try:
            if written:
                self.telemetry.event_delivered(event.event_name)
                await self.persistence.terminate_subscription(carried.subscription.id)
                done = await self.conclude(event, [carried.subscription])
        except ProviderUnavailableError as exc:
            self.outage.failed(exc, f"ending the delivery of event {event.id}")
            retry = timedelta(seconds=self.outage.delay(self.outage.failures))
        except Exception:
            log.exception("event %s: ending its delivery failed; the poller will look at it "
                          "again", event.id, extra=log_fields(None))
            done = True
        finally:
            await carried.lease.release()
        if not done and retry is not None and not self.stopping:
            self.timers.schedule(self.clock.now() + retry, QueueKind.EVENT, event.id, force=True)

    async def seed_all(
        self, subs: list[EventSubscription], event: Event,
        created: asyncio.Future[Any] | None = None,
    ) -> bool:
        delivered = True
        for sub in subs:
            if not await self.seed(sub, event, created):
                delivered = False
        return delivered

    async def older_event_pending(
        self, event: Event, others: list[Event], received: set[str | None]
    ) -> bool:
        """Events reach a wait oldest first: queue an older one the workflow lacks ahead of this.

        ``others``: the events of this name and key since the wait began, oldest first.
        "Lacks" is judged from the instance in hand (``received``: the events its pointers
        got), not from the events' processed flags: a wait that begins re-queues the earlier
        events one by one, and an event marked processed a moment before it was re-queued
        must still hold back the newer ones.
        """
        for other in others:
            if other.id == event.id:
                return False
            if other.id not in received and other.event_time < event.event_time:
                if other.is_processed:
                    await self.persistence.mark_event_unprocessed(other.id)
                await self.queue.enqueue(QueueKind.EVENT, other.id)
                return True
        return False

    async def load(self, sub: EventSubscription) -> tuple[WorkflowInstance | None, list[Event]]:
        """The waiting workflow (``None``: gone) and the events since its wait began, read
        at the same time: on a networked store two round trips cost one."""
        persistence = self.persistence
        loaded, others = await asyncio.gather(
            persistence.get_workflow(sub.workflow_id),
            persistence.get_events(sub.event_name, sub.event_key, sub.subscribe_as_of),
            return_exceptions=True,
        )
        if isinstance(others, BaseException):
            raise others
        if isinstance(loaded, WorkflowNotFoundError):
            return None, others
        if isinstance(loaded, BaseException):
            raise loaded
        return loaded, others

    async def lease_and_load(
        self, sub: EventSubscription
    ) -> tuple[WorkflowInstance | None, list[Event]] | None:
        """Take the waiting workflow's lease and read it (``load``). None: the lease is busy.

        When no pass of the workflow runs here, the lease is taken while it is read: a read
        that a pass on another host overtook is caught by the write's revision check (and
        what it could end a delivery early for, a served or gone wait, never comes undone).
        Else this waits for the pass here to end and reads what it left.
        """
        wid = sub.workflow_id
        key = workflow_key(wid)
        if wid not in self.capacity.active:
            leased, loaded = await asyncio.gather(
                self.leases.acquire(key), self.load(sub), return_exceptions=True
            )
            if leased is True:
                if isinstance(loaded, BaseException):
                    await self.leases.release(key)
                    raise loaded
                # Named: mypy reads gather's result as Any once WorkflowInstance[Any] is in it.
                found: tuple[WorkflowInstance | None, list[Event]] = loaded
                return found
            if isinstance(leased, BaseException):
                raise leased
        if not await self.leases.acquire_waiting(
            key, SEED_WAIT, lambda: self.capacity.released_event(wid)
        ):
            return None
        try:
            return await self.load(sub)
        except BaseException:
            await self.leases.release(key)
            raise

    async def seed(
        self, sub: EventSubscription, event: Event, created: asyncio.Future[Any] | None = None,
        *, carry: HeldLease | None = None,
    ) -> bool:
        """Hand an event to one waiting pointer. False: try again later.

        The step after the wait runs here at once when there is room, the workflow's lease
        handed to its runner with the instance. With ``carry`` (the event's lease) and a slot
        free, the event is not written here: it goes to the runner inside the instance
        (``Carried``), and ``carry`` is handed over with it. Else it is written, and the
        subscription ended after that: the pointer's ``event_published`` already marks it
        served.
        """
        wid = sub.workflow_id
        loaded = await self.lease_and_load(sub)
        if loaded is None:
            return False
        lease = HeldLease(self.leases, workflow_key(wid))
        try:
            instance, others = loaded
            if instance is None:
                await self.persistence.terminate_subscription(sub.id)
                return True
            pointer = instance.execution_pointers.get(sub.execution_pointer_id)
            if pointer is None or pointer.end_time is not None or pointer.event_published:
                # The wait was cancelled or already served: the subscription is spent.
                await self.persistence.terminate_subscription(sub.id)
                return True
            received = {p.extension_attributes.get("event_id") for p in instance.execution_pointers}
            if event.id in received:
                return True  # this workflow already received this event at an earlier wait
            if await self.older_event_pending(event, others, received):
                return False
            if not await _stored(created):
                return True  # the event was not stored: there is nothing to deliver
            pointer.event_data = event.event_data
            pointer.event_published = True
            pointer.active = True
            pointer.sleep_until = None  # a wait's timeout (wait_for(..., timeout=)) is void now
            pointer.status = PointerStatus.PENDING
            pointer.extension_attributes["event_id"] = event.id
            if event.trace_context is not None:
                # The step span of the wait links to the publish_event span (wfe_core.tracing).
                pointer.extension_attributes["event_traceparent"] = event.trace_context
            if instance.status is WorkflowStatus.RUNNABLE:
                instance.next_execution = self.clock.now()
                if (
                    carry is not None
                    and not self.capacity.waiting
                    and self.runs_here(instance)
                    and self.capacity.try_reserve(wid)
                ):
                    self.carried[wid] = Carried(instance, pointer.id, event, sub, carry.hand_over())
                    self.run_here(lease, instance)
                    return True
            try:
                await self.commit.persist(WorkflowWrite(instance, [pointer.id]))
            except ConcurrencyError:
                return False
            self.telemetry.event_delivered(event.event_name)
            # Go straight on with the instance in hand, lease and all, when there is room.
            if (
                instance.status is WorkflowStatus.RUNNABLE
                and self.runs_here(instance)
                and self.capacity.try_reserve(wid, or_wait=True, priority=instance.priority)
            ):
                self.run_here(lease, instance)
            else:
                await lease.release()
                await enqueue_workflow(self.queue, wid, instance.priority)
        finally:
            await lease.release()
        await self.persistence.terminate_subscription(sub.id)
        return True

    def run_here(self, lease: HeldLease, instance: WorkflowInstance) -> None:
        """Run a workflow reserved here with its instance in hand: its runner takes the lease
        (an instance in hand comes with its lease, see ``Capacity``)."""
        lease.hand_over()
        self.capacity.run(instance.id, instance)


async def _stored(created: asyncio.Future[Any] | None) -> bool:
    """Whether the event that ``created`` is storing is stored (None: it was already)."""
    if created is None:
        return True
    try:
        await asyncio.shield(created)  # a delivery cancelled here leaves the store call be
    except asyncio.CancelledError:
        if created.cancelled():  # its publisher was cancelled, and the call with it
            return False
        raise
    except Exception:
        return False
    return True


def _quiet(future: asyncio.Future[Any]) -> None:
    """Take a finished future's outcome, so that nobody is warned it was never retrieved."""
    if not future.cancelled():
        future.exception()
