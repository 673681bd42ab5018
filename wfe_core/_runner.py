"""``WorkflowRunner``: runs passes of one workflow at a time and stores each one.

Under the workflow's lease, the runner loads the instance (or takes the one in hand), runs
passes while it is due, and persists each pass in one write before the next begins. A
workflow that stays runnable goes straight on with its instance in memory; one that sleeps
gets a timer; one that settles wakes its waiters, is indexed and tells its parent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ._capacity import Capacity
from ._definition import WorkflowDefinition
from ._events import EventDelivery
from ._executor import PassResult, WorkflowExecutor
from ._failure import describe_error
from ._group_commit import GroupCommit
from ._indexer import Indexer
from ._leases import Leases, workflow_key
from ._lifecycle import LifecycleHub
from ._middleware import MiddlewareChain
from ._models import ExecutionError, WorkflowInstance, WorkflowStatus
from ._outage import Outage
from ._primitives import WORKFLOW_ENDED_EVENT
from ._priority import Priorities, enqueue_workflow
from ._registry import WorkflowRegistry
from ._telemetry import Telemetry, log_fields
from ._timers import Timers
from .clock import Clock
from .errors import (
    ConcurrencyError,
    PassRefusedError,
    ProviderUnavailableError,
    SerializationError,
    WorkflowNotFoundError,
)
from .providers import PersistenceProvider, QueueKind, QueueProvider, WorkflowWrite
from .serialization import decode_data, encode_data

__all__ = ["WorkflowRunner"]

log = logging.getLogger("wfe.runtime")

#: A workflow that stays runnable yields the event loop this often. It keeps its instance in
#: memory and its lease: reloading a long history to be fair would make it cost more per pass.
YIELD_EVERY_PASSES = 50

#: A workflow handed on for lack of its definition that comes back here within this many
#: seconds was taken again by this host's own queue readers (they hear of this host's
#: enqueues at once, other hosts only when they next look): the readers then pause for
#: HAND_ON_PAUSE, longer than a host's slowest look at a queue (SQLite's: 0.25 s), so that
#: a host that has the definition takes it.
HAND_ON_AGAIN = 1.0
HAND_ON_PAUSE = 0.3

#: Publishes an event: ``publish(name, key, data)`` (the host's ``publish_event``).
Publish = Callable[[str, str, Any], Awaitable[Any]]


class _WriteRefused(Exception):
    """A pass's write the store refused for good; ``reason`` is what the store raised."""

    def __init__(self, reason: Exception) -> None:
        super().__init__(str(reason))
        self.reason = reason


class WorkflowRunner:
    def __init__(
        self,
        *,
        persistence: PersistenceProvider,
        commit: GroupCommit,
        outage: Outage,
        queue: QueueProvider,
        leases: Leases,
        capacity: Capacity,
        timers: Timers,
        indexer: Indexer,
        events: EventDelivery,
        executor: WorkflowExecutor,
        registry: WorkflowRegistry,
        clock: Clock,
        lifecycle: LifecycleHub,
        publish: Publish,
        telemetry: Telemetry | None = None,
        runs_elsewhere: Callable[[str, int], bool] | None = None,
        middleware: MiddlewareChain | None = None,
    ) -> None:
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        #: The host's middleware with a ``post_workflow`` (None: none has).
        self.middleware = middleware if middleware is not None and middleware.post else None
        self.persistence = persistence
        self.commit = commit
        self.outage = outage
        self.queue = queue
        self.leases = leases
        self.capacity = capacity
        self.timers = timers
        self.indexer = indexer
        self.events = events
        self.executor = executor
        self.registry = registry
        self.clock = clock
        self.lifecycle = lifecycle
        self.publish = publish
        #: Whether a live host other than this one runs a definition (from the heartbeats).
        self.runs_elsewhere = runs_elsewhere
        #: Definitions this host was asked to run without having them, logged once each.
        self.missing: set[tuple[str, int]] = set()
        #: workflow id -> time.monotonic() it was last handed on for lack of its definition.
        self.handed_on: dict[str, float] = {}
        #: time.monotonic() before which the queue readers take nothing (see HAND_ON_PAUSE).
        self.readers_pause_until = 0.0
        self.stopping = False
        #: workflow id -> event set when it next settles (``wait_for_workflow``).
        self.changed: dict[str, asyncio.Event] = {}
        #: Levels of the workflows seen here (the runtime's, shared with its timers and poller).
        self.priorities = Priorities()

    async def process(self, wid: str, instance: WorkflowInstance | None = None) -> None:
        """Run ``wid`` here (again, if it was queued meanwhile); then free its slot.

        A store that is unavailable for now is waited out here, slot and all: the workflow
        runs again from what is stored once it answers (a pass whose write failed was never
        acknowledged, so it runs again). Any other failure is logged with its traceback and
        left to the poller.
        """
        attempt = 0
        telemetry = self.telemetry
        telemetry.running(1)
        try:
            while True:
                try:
                    await self.run_workflow(wid, instance)
                except ProviderUnavailableError as exc:
                    self.outage.failed(exc, f"a pass of workflow {wid}")
                    instance = None
                    if self.stopping:
                        break  # still runnable in the store: the next host's poller finds it
                    attempt += 1
                    await asyncio.sleep(self.outage.delay(attempt))
                    continue
                except Exception:
                    log.exception("workflow %s: pass failed; it will be retried by the poller",
                                  wid, extra=log_fields(wid))
                else:
                    self.outage.ok()
                attempt = 0
                instance = None
                if not self.capacity.take_rerun(wid):
                    break
        finally:
            telemetry.running(-1)
            self.capacity.finished(wid)

    async def run_workflow(self, wid: str, loaded: WorkflowInstance | None = None) -> None:
        """Run passes while the workflow is due. ``loaded``: fresh from the store, lease held."""
        key = workflow_key(wid)
        if loaded is None and not await self.leases.acquire(key):
            return  # another host is on it; if it dies, its lease expires and the poller retries
        # An event delivered into ``loaded`` for the first pass to write (``Carried``).
        carried = self.events.take_carried(wid, loaded) if loaded is not None else None
        error: BaseException | None = None
        hand_on = False
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
                self.priorities.note(wid, instance.priority)
                hand_on = self.not_here(instance)
                return
            for pointer in instance.execution_pointers.open():
                if pointer.step_name is None:  # started by a client that lacks the definition
                    pointer.step_name = definition.steps[pointer.step_id].name
            text = instance.data  # as stored: what a step that leaves bad data goes back to
            try:
                instance.data = decode_data(text, definition.data_type)
            except SerializationError as exc:  # started by a client that lacks the type
                if instance.status is WorkflowStatus.RUNNABLE:  # not refused already
                    await self.refuse_data(instance, definition, exc)
                return
            passes = 0
            telemetry = self.telemetry
            tracing, metering = telemetry.tracing, telemetry.metering
            stored_at = None
            while (
                not self.stopping
                and instance.status is WorkflowStatus.RUNNABLE
                and instance.next_execution is not None
                and instance.next_execution <= self.clock.now()
            ):
                passes += 1
                if passes % YIELD_EVERY_PASSES == 0:
                    await asyncio.sleep(0)  # let other workflows in; keep the instance and lease
                if metering:
                    # Due at its next execution, but not before the previous pass was stored.
                    now = self.clock.now()
                    telemetry.pass_due(instance, now, stored_at)
                # The pass and its write, in the pass's span when spans are recorded (inline,
                # so that the usual pass pays no extra call).
                span = telemetry.start_pass(instance) if tracing else None
                result: PassResult | None = None
                failed: BaseException | None = None
                try:
                    result = await self.executor.execute(instance, definition, text, span)
                    if self.leases.is_lost(key):
                        self.lease_lost(instance)
                        return
                    if carried is not None:  # the event in its pointer is written with the pass
                        result.changed.add(carried.pointer_id)
                    try:
                        stored = await self.persist_pass(instance, definition, result)
                    except _WriteRefused as refused:
                        if carried is not None:  # its event was not written: delivered again
                            self.events.settle(carried, False, refused.reason)
                            carried = None
                        instance, stored = await self.pass_refused(wid, definition, refused.reason)
                except BaseException as exc:
                    failed = exc
                    raise
                finally:
                    if span is not None:
                        steps_run = result.steps_run if result is not None else 0
                        telemetry.end_pass(span, instance, steps_run, failed)
                if carried is not None:
                    self.events.settle(carried, stored is not None)
                    carried = None
                if stored is None:
                    # Someone changed it under us (suspend, terminate, an event): start over.
                    instance = await self.persistence.get_workflow(wid)
                    text = instance.data
                    instance.data = decode_data(text, definition.data_type)
                else:
                    text = stored
                if metering:
                    stored_at = self.clock.now()
            if instance.status is WorkflowStatus.RUNNABLE and instance.next_execution is not None:
                if self.stopping and instance.next_execution <= self.clock.now():
                    self.priorities.note(wid, instance.priority)
                    hand_on = True  # due now, and this host stops: another host takes it at once
                else:
                    self.priorities.note(wid, instance.priority)  # for the timer's enqueue
                    self.timers.schedule(instance.next_execution, QueueKind.WORKFLOW, wid)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if carried is not None:  # no pass wrote it: the event is delivered again
                self.events.settle(carried, False, error)
            await self.leases.release(key)
            if hand_on:  # set last on its paths: no error follows it
                try:
                    await enqueue_workflow(self.queue, wid, self.priorities.of(wid))
                except Exception:
                    log.warning("could not queue workflow %s for another host; the poller will "
                                "find it", wid, extra=log_fields(wid))

    async def refuse_data(
        self, instance: WorkflowInstance, definition: WorkflowDefinition, exc: SerializationError
    ) -> None:
        """Data a client stored that the definition's data type does not take: the workflow is
        suspended with an execution error saying why, instead of failing at every poll."""
        message = (
            f"the workflow's data does not fit the data type of {definition.id!r} version "
            f"{definition.version}: {exc}. Start it again with data of that type; this one "
            "stays suspended"
        )
        log.warning("workflow %s: %s", instance.id, message,
                    extra=log_fields(instance.id, definition.id))
        first = next(iter(instance.execution_pointers), None)
        error = ExecutionError(
            workflow_id=instance.id, execution_pointer_id=first.id if first else "",
            message=message, error_time=self.clock.now(), step_id=0,
            error_type=type(exc).__qualname__,
        )
        instance.status = WorkflowStatus.SUSPENDED
        await self.persistence.persist_workflow(instance, changed_pointers=[], errors=[error])

    def not_here(self, instance: WorkflowInstance) -> bool:
        """A workflow whose definition this host has not registered: whether to queue it for
        a live host that has (per the heartbeats), rather than leave it to the poller."""
        wanted = (instance.definition_id, instance.version)
        elsewhere = self.runs_elsewhere is not None and self.runs_elsewhere(*wanted)
        if elsewhere:
            self.note_hand_on(instance.id)
        if wanted not in self.missing:
            self.missing.add(wanted)
            log.warning(
                "workflow %s needs definition %r version %d, which this host has not "
                "registered; %s", instance.id, *wanted,
                "queueing it for a live host that has" if elsewhere
                else "it waits for a host that registers it", extra=log_fields(instance.id, wanted[0]),
            )
        return elsewhere

    def note_hand_on(self, wid: str) -> None:
        """A hand-on of ``wid``: the second within HAND_ON_AGAIN pauses this host's readers."""
        now = time.monotonic()
        last = self.handed_on.pop(wid, None)
        if last is not None and now - last < HAND_ON_AGAIN:
            self.readers_pause_until = max(self.readers_pause_until, now + HAND_ON_PAUSE)
        self.handed_on[wid] = now
        while self.handed_on:  # oldest first: forget those long handed on
            oldest = next(iter(self.handed_on))
            if now - self.handed_on[oldest] < HAND_ON_AGAIN:
                break
            del self.handed_on[oldest]

    async def pass_refused(
        self, wid: str, definition: WorkflowDefinition, refusal: Exception
    ) -> tuple[WorkflowInstance, str | None]:
        """The store refused a pass's write for good (not unavailable, not a moved revision):
        the pass's steps fail with that, from the state the store holds, and go through their
        error behaviour, so the workflow is not run and refused again at every poll.

        Returns the instance and its data as stored (None: it changed meanwhile). Raises
        what the failure's own write raises (the poller then tries the workflow again).
        """
        message, _ = describe_error(refusal)
        log.warning(
            "workflow %s: the store refused to write a pass (%s); its steps fail with that, "
            "through their error behaviour", wid, message, extra=log_fields(wid, definition.id),
        )
        instance = await self.persistence.get_workflow(wid)
        text = instance.data
        instance.data = decode_data(text, definition.data_type)
        error = PassRefusedError(f"the store refused to write the pass this step ran in: {message}")
        result = await self.executor.fail_pass(instance, definition, error, text)
        try:
            return instance, await self.persist_pass(instance, definition, result)
        except _WriteRefused as again:  # the failure is refused too: the poller tries again
            raise again.reason from None

    def lease_lost(self, instance: WorkflowInstance) -> None:
        log.warning(
            "workflow %s: lease lost during a pass; the pass is not written and the host "
            "that holds the lease now runs it", instance.id,
            extra=log_fields(instance.id, instance.definition_id),
        )

    async def persist_pass(
        self, instance: WorkflowInstance, definition: WorkflowDefinition, result: PassResult
    ) -> str | None:
        """Store a pass; returns the data as stored, or None when the instance changed under it."""
        data = instance.data
        text = result.data_text
        if text is None:
            text = encode_data(data, definition.data_type)
        instance.data = text
        # A continue-as-new writes the new pointers only; the store drops the old ones.
        changed = None if result.replace_pointers else result.changed
        try:
            if self.commit.together:
                await self.commit.persist(
                    WorkflowWrite(instance, changed, result.subscriptions, result.errors)
                )
            else:  # nothing to batch (memory://): the plain write, without the wrapping
                await self.persistence.persist_workflow(
                    instance, changed_pointers=changed,
                    subscriptions=result.subscriptions, errors=result.errors,
                )
        except ConcurrencyError:
            log.info("workflow %s changed during a pass; the pass is discarded and rerun",
                     instance.id, extra=log_fields(instance.id, instance.definition_id))
            return None
        except (ProviderUnavailableError, WorkflowNotFoundError):
            raise  # waited out by ``process``; or the workflow is gone
        except Exception as exc:  # refused for good: only the write itself, not what follows
            raise _WriteRefused(exc) from exc
        finally:
            instance.data = data
        hub = self.lifecycle
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
                await self.events.seed_earlier_events(sub, received)
        if instance.status is not WorkflowStatus.RUNNABLE:
            self.telemetry.workflow_settled(
                instance,
                failed=bool(result.errors) and instance.status is not WorkflowStatus.COMPLETE,
            )
            await self.settled(instance, text)
        return text

    async def settled(self, instance: WorkflowInstance, data_text: str | None) -> None:
        """The workflow stopped being runnable: wake waiters, index it, tell its parent."""
        self.notify_changed(instance.id)
        self.indexer.index_soon(instance.id, data_text, instance)
        if self.middleware is not None and instance.status in (
            WorkflowStatus.COMPLETE,
            WorkflowStatus.TERMINATED,
        ):
            await self.middleware.post_workflow(instance)
        if instance.parent_workflow_id and instance.status in (
            WorkflowStatus.COMPLETE,
            WorkflowStatus.TERMINATED,
        ):
            await self.publish(
                WORKFLOW_ENDED_EVENT,
                instance.id,
                {"status": instance.status.value, "data": instance.data},
            )

    async def after_control(self, instance: WorkflowInstance) -> None:
        """After a suspend, resume or terminate (``instance.data`` is still JSON text)."""
        text = instance.data
        # A workflow waiting here for a slot starts from the new state, not a void one.
        self.capacity.replace_waiting(instance)
        self.priorities.note(instance.id, instance.priority)
        if instance.status is WorkflowStatus.RUNNABLE:
            await enqueue_workflow(self.queue, instance.id, instance.priority)
            self.indexer.index_soon(instance.id, text, instance)
            return
        definition = self.registry.find(instance.definition_id, instance.version)
        instance = attrs.evolve(instance)  # the one waiting here keeps its text
        instance.data = decode_data(text, definition.data_type if definition else None)
        await self.settled(instance, text)

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
