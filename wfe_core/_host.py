"""``WorkflowHost``: the public face of the engine — register, start, publish, query, control.

The host resolves its providers from URLs through the plugin host, and runs the background
work in ``_runtime.Runtime`` (workflow consumer, event consumer, timers, poller, indexer).
Users create one per process, in an ``async with`` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast, overload

from opentelemetry.trace import SpanKind

from . import tracing
from ._activities import Activities, PendingActivity
from ._deadline import deadline_problem, set_deadline
from ._definition import WorkflowDefinition
from ._executor import MAX_PARALLEL_STEPS
from ._handle import WorkflowHandle, start_handle
from ._lifecycle import LifecycleChannel, LifecycleEvent, LifecycleEventType, LifecycleHub
from ._memory import MemoryHeartbeats, MemoryPersistence
from ._middleware import MiddlewareChain
from ._models import (
    Event,
    ExecutionError,
    ExecutionPointer,
    HostRecord,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    new_id,
)
from ._plugins import PluginHost, ProviderBackends
from ._priority import DEFAULT_PRIORITY, check_priority, enqueue_workflow
from ._registry import WorkflowRegistry
from ._retention import cutoff as retention_cutoff
from ._retention import finished_statuses, purging_store
from ._retention import purge as purge_batches
from ._runtime import Runtime, RuntimeSettings
from ._telemetry import Telemetry
from ._typevars import D
from ._user_tasks import OpenUserAction, UserTasks
from ._waits import ExternalWait
from .backends import Capability
from .clock import Clock, SystemClock
from .errors import (
    ConcurrencyError,
    ConfigurationError,
    HostStoppedError,
    InvalidEventError,
    ProviderError,
    SerializationError,
    WfeError,
    WorkflowNotFoundError,
    WorkflowNotRegisteredError,
)
from .providers import (
    HeartbeatStore,
    LockProvider,
    PersistenceProvider,
    QueueKind,
    QueueProvider,
    SearchFilter,
    SearchIndex,
    SearchPage,
    WorkflowListing,
)
from .serialization import decode_data, dump_value, encode_data

__all__ = ["WorkflowHost"]

log = logging.getLogger("wfe.host")

#: What hosts on one store must share: a host never makes its own for a store without them.
_SHARED = (Capability.LOCK, Capability.QUEUE)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class WorkflowHost:
    """Runs workflows.

    Args:
        persistence: a provider URL (``"sqlite:///app.db"``, ``"memory://"``, ...) or instance.
        lock, queue, search: URLs or instances; by default the persistence provider's own
            where it has them. A store without its own lock or queue needs them given
            (``ConfigurationError`` otherwise: a host never makes a private lock for a store
            other hosts share); a search index defaults to an in-process one.
        clock: where time comes from (``wfe_core.testing.FakeClock`` in tests).
        tracer_provider, meter_provider: OpenTelemetry providers (default: the globals, as
            they are when the host is made). With no SDK configured, nothing is recorded
            and the engine skips the work of recording (see ``wfe_core.tracing``).
        max_concurrent_workflows: workflows in flight at once in this host. Workflows
            started here beyond it wait in line in this host, oldest first (up to four per
            slot); beyond that they go to the shared queue, for any host.
        poll_interval: how often the safety-net poller looks for due work the pushes missed.
        lease_ttl: seconds a host holds a workflow's lease without renewing it; after a crash,
            another host can take over a workflow this long after the last renewal.
        stop_timeout: seconds ``stop()`` waits for running steps.
        thread_pool_size: threads for sync step bodies.
        max_parallel_steps: step bodies of one workflow that run at once when several are
            ready together (parallel branches, parallel ``for_each`` items).
        plugins: a ``PluginHost`` to resolve URLs with (default: installed entry points).
        lifecycle: a URL (``"valkey://..."``; any scheme offering lifecycle events) or
            channel through which ``host.lifecycle`` also sees the events of workflows other
            hosts run, and sends them this host's. ``None``: this host's events only.
        middleware: objects with any of ``step(ctx, call_next)``, ``pre_workflow(instance)``
            and ``post_workflow(instance)`` (async), run around every user step and at
            each end of every workflow, the first outermost (``wfe_core._middleware``).
        activity_ttl: seconds a worker holds an activity it took; a worker that dies lets it
            go back to pending this long after it took it (answering renews it).
        heartbeat_interval: seconds between the heartbeats a running host records (see
            :meth:`list_hosts`). They are kept by the lock's store when it keeps heartbeats
            (Valkey), else by the persistence store (memory, SQLite, PostgreSQL); a store
            offering neither keeps none, and the host runs all the same.
        retention: how long finished (complete or terminated) workflows are kept after their
            completion; older ones are deleted in small background batches, with their
            errors, subscriptions and search entries (see :meth:`purge_workflows`). ``None``
            (the default) keeps them for ever. A store that cannot purge is refused
            (``ConfigurationError``).
    """

    def __init__(
        self,
        persistence: str | PersistenceProvider = "memory://",
        lock: str | LockProvider | None = None,
        queue: str | QueueProvider | None = None,
        search: str | SearchIndex | None = None,
        *,
        clock: Clock | None = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        max_concurrent_workflows: int = 256,
        poll_interval: float | timedelta = 10.0,
        lease_ttl: float | timedelta = 30.0,
        stop_timeout: float | timedelta = 30.0,
        thread_pool_size: int = 32,
        max_parallel_steps: int = MAX_PARALLEL_STEPS,
        plugins: PluginHost | None = None,
        lifecycle: str | LifecycleChannel | None = None,
        heartbeat_interval: float | timedelta = 10.0,
        middleware: Sequence[object] = (),
        activity_ttl: float | timedelta = 30.0,
        retention: float | timedelta | None = None,
    ) -> None:
        #: The middleware (``wfe_core._middleware``); None when none was given.
        self.middleware = MiddlewareChain(middleware) if middleware else None
        self.clock: Clock = clock or SystemClock()
        self.registry = WorkflowRegistry()
        self.lifecycle = LifecycleHub()
        self._plugins = plugins or PluginHost()
        # One backend per store the URLs name, opened and closed by this host; providers
        # given as instances belong to the caller, who closes them.
        self._backends = ProviderBackends(self._plugins)
        self._given: list[Any] = []
        base_url = persistence if isinstance(persistence, str) else None
        self.persistence: PersistenceProvider = self._open(
            Capability.PERSISTENCE, persistence, None
        )
        self.lock: LockProvider = self._open(Capability.LOCK, lock, base_url)
        self.queue: QueueProvider = self._open(Capability.QUEUE, queue, base_url)
        self.search_index: SearchIndex = self._open(Capability.SEARCH, search, base_url)
        self.heartbeats: HeartbeatStore | None = self._heartbeat_store(lock, base_url)
        if lifecycle is not None:
            self.lifecycle.connect(self._open(Capability.LIFECYCLE_EVENTS, lifecycle, None))
        self._telemetry = Telemetry(tracer_provider, meter_provider)
        self.max_concurrent_workflows = max_concurrent_workflows
        self.poll_interval = _seconds(poll_interval)
        self.lease_ttl = _seconds(lease_ttl)
        self.stop_timeout = _seconds(stop_timeout)
        self.thread_pool_size = thread_pool_size
        if not isinstance(max_parallel_steps, int) or max_parallel_steps < 1:
            raise ConfigurationError(
                f"max_parallel_steps must be an integer >= 1, not {max_parallel_steps!r}"
            )
        self.max_parallel_steps = max_parallel_steps
        self.heartbeat_interval = _seconds(heartbeat_interval)
        #: Seconds a worker holds an activity token before it goes back to pending.
        self.activity_ttl = _seconds(activity_ttl)
        if not self.activity_ttl > 0:
            raise ConfigurationError(f"activity_ttl must be more than 0 seconds, not {activity_ttl!r}")
        self._activities = Activities(self)
        self._user_tasks = UserTasks(self)
        if not self.heartbeat_interval > 0:
            raise ConfigurationError(
                f"heartbeat_interval must be more than 0 seconds, not {heartbeat_interval!r}"
            )
        #: Seconds finished workflows are kept (``None``: for ever); see ``_retention``.
        self.retention = None if retention is None else _seconds(retention)
        if self.retention is not None:
            if not self.retention > 0:
                raise ConfigurationError(f"retention must be more than 0 seconds, not {retention!r}")
            purging_store(self.persistence)
        self._runtime: Runtime | None = None
        self._started = False
        self._stopped = False
        #: Whether ``start_workflow`` takes a definition this host has not registered, by id
        #: and version, for the hosts that have (set by ``WorkflowClient``).
        self.starts_unregistered = False
        #: The providers are started (by ``start`` or ``open_stores``): a host never started
        #: still stores what it is given, but has no queue to tell the running hosts.
        self._providers_open = False

    def _open(self, capability: Capability, given: object, base_url: str | None) -> Any:
        """The provider for ``capability``: ``given`` itself, or taken from its URL's backend."""
        if given is None:
            if base_url is not None and self._plugins.supports(base_url, capability):
                given = base_url
            elif capability in _SHARED and not self._in_process(base_url):
                raise self._missing(capability, base_url)
            else:
                given = "memory://"
        if not isinstance(given, str):
            if given not in self._given:
                self._given.append(given)
            return given
        return self._backends.provider(capability, given)

    def _heartbeat_store(self, lock: object, base_url: str | None) -> HeartbeatStore | None:
        """Where this host's heartbeats go: the lock's store if it keeps them, else the
        persistence store's; ``None`` when neither does."""
        for url in (lock, base_url):
            if isinstance(url, str) and self._plugins.supports(url, Capability.HEARTBEATS):
                return cast(HeartbeatStore, self._backends.provider(Capability.HEARTBEATS, url))
        if self._in_process(base_url):
            return MemoryHeartbeats()
        return None

    def _in_process(self, base_url: str | None) -> bool:
        """Whether the persistence store lives in this process only, so an in-process lock
        and queue are all that hosts on it could share (a ``memory://`` URL offers its own)."""
        return base_url is None and isinstance(self.persistence, MemoryPersistence)

    def _missing(self, capability: Capability, base_url: str | None) -> ConfigurationError:
        # A per-host lock on a store that other hosts share lets two hosts take the same
        # workflow, so both run its steps: refuse instead of inventing one.
        store = base_url if base_url is not None else type(self.persistence).__name__
        offering = sorted(
            f"{scheme}://"
            for scheme, spec in self._plugins.specs().items()
            if capability in spec.capabilities and spec.tested_as is None and scheme != "memory"
        )
        name = capability.value
        return ConfigurationError(
            f"the persistence store {store} offers no {name}, and a host does not make a "
            f"private one (two hosts on one store would both take the same workflow): give "
            f"{name}= the URL of a store that offers one, e.g. WorkflowHost(..., {name}=URL)"
            + (f"; installed schemes offering {name}: {', '.join(offering)}" if offering else "")
        )

    async def _start_providers(self) -> None:
        """Open each backend once, then start the providers given as instances."""
        await self._backends.start()
        try:
            for provider in self._given:
                await provider.start()
        except BaseException:
            await self._backends.close()
            raise
        self._providers_open = True

    async def _close_providers(self) -> None:
        """Close the backends this host opened (not the providers given as instances)."""
        self._providers_open = False
        await self._backends.close()

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> WorkflowHost:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @overload
    async def start(self) -> None: ...

    @overload
    async def start(
        self,
        definition: WorkflowDefinition[D],
        data: D | None = None,
        *,
        reference: str | None = None,
        description: str | None = None,
        timeout: timedelta | None = None,
    ) -> WorkflowHandle[D]: ...

    async def start(
        self,
        definition: WorkflowDefinition[Any] | None = None,
        data: Any = None,
        *,
        reference: str | None = None,
        description: str | None = None,
        timeout: timedelta | None = None,
    ) -> WorkflowHandle[Any] | None:
        """Start the host, or, given a definition, start a workflow and return its handle.

        ``await host.start()`` opens the providers and starts the background work (an
        ``async with`` block does it). ``await host.start(definition, Order(...))`` starts a
        workflow of the definition's id and version as ``start_workflow`` does (same
        arguments and errors; the definition must be registered) and returns a
        ``WorkflowHandle[Order]`` for a ``WorkflowDefinition[Order]``: its ``wait()`` and
        ``get()`` give a ``WorkflowInstance[Order]`` to the type checker.
        """
        if definition is not None:
            return await start_handle(
                self, definition, data, reference=reference, description=description, timeout=timeout
            )
        if self._started:
            return None
        if self._stopped:
            raise HostStoppedError(
                "this host was stopped and its providers closed; create a new WorkflowHost"
            )
        await self._start_providers()
        self._runtime = Runtime(
            persistence=self.persistence,
            lock=self.lock,
            queue=self.queue,
            search=self.search_index,
            clock=self.clock,
            registry=self.registry,
            lifecycle=self.lifecycle,
            settings=RuntimeSettings(
                max_concurrent_workflows=self.max_concurrent_workflows,
                poll_interval=self.poll_interval,
                lease_ttl=self.lease_ttl,
                stop_timeout=self.stop_timeout,
                thread_pool_size=self.thread_pool_size,
                max_parallel_steps=self.max_parallel_steps,
                heartbeat_interval=self.heartbeat_interval,
                retention=self.retention,
            ),
            publish=self.publish_event,
            step_host=self,
            telemetry=self._telemetry,
            heartbeats=self.heartbeats,
            middleware=self.middleware,
        )
        await self._runtime.start()
        self._started = True
        return None

    async def stop(self) -> None:
        """Stop taking work, wait (up to ``stop_timeout``) for running steps, close providers."""
        if not self._started:
            return
        self._started = False
        self._stopped = True
        if self._runtime is not None:
            await self._runtime.stop()
        await self._close_providers()

    @contextlib.asynccontextmanager
    async def open_stores(self) -> AsyncIterator[WorkflowHost]:
        """Open the host's stores without starting it, for tools that look and edit but run nothing.

        Inside the block the providers (``host.persistence``, ``host.search_index``, ...) and the
        query and control methods work (``get_workflow``, ``search``, ``suspend_workflow``,
        ``rebuild_search_index``, even ``start_workflow``); no workflow runs here, and nothing
        polls, times or indexes. The stores are closed at the end of the block. The ``wfe``
        command opens its stores this way; to make sure opening creates no store, build the
        host on ``PluginHost().existing_url(url, read_only=...)``. A host is either opened this
        way or started, not both.

        Raises:
            ConfigurationError: the host is running.
            HostStoppedError: the host was stopped.
        """
        if self._started:
            raise ConfigurationError("this host is running: its stores are open already")
        self._check_not_stopped("open its stores")
        await self._start_providers()
        try:
            yield self
        finally:
            await self._close_providers()

    def _check_not_stopped(self, what: str) -> None:
        if self._stopped:
            raise HostStoppedError(
                f"cannot {what}: this host was stopped and its providers closed; "
                "call it inside the `async with WorkflowHost(...)` block, or create a new host"
            )

    @property
    def running(self) -> bool:
        return self._started

    # -- definitions -------------------------------------------------------------------------

    def register(self, definition: WorkflowDefinition) -> None:
        """Make a built definition startable (and runnable) in this host.

        Raises:
            DuplicateDefinitionError: same id and version with a different graph.
        """
        self.registry.register(definition)

    # -- starting and events -----------------------------------------------------------------

    async def start_workflow(
        self,
        definition_id: str,
        data: Any = None,
        version: int | None = None,
        reference: str | None = None,
        *,
        description: str | None = None,
        timeout: timedelta | None = None,
        priority: int | None = None,
    ) -> str:
        """Start a workflow and return its id. Nothing is stored if anything is wrong.

        ``priority`` is its level, 0 (critical) to 7 (idle) (default: its definition's, else
        4): under a backlog, every store serves ready work highest level first, then by due
        time, and a workflow gains a level per ``PRIORITY_AGING`` seconds it waits
        (``set_priority`` changes it later).

        ``timeout`` gives the workflow a deadline (default: its definition's ``timeout``,
        else none): when it passes, the workflow is terminated, its running steps are
        cancelled, and the reason is recorded as an execution error (``WorkflowDeadlineError``)
        and a ``WORKFLOW_TERMINATED`` lifecycle event. It is stored with the workflow, so it
        holds across restarts; a workflow suspended past its deadline ends when resumed.

        Raises:
            WorkflowNotRegisteredError: unknown definition id or version.
            SerializationError: the data cannot be stored, or the reference or description
                is not text (not a str, or a str with a lone surrogate).
            HostStoppedError: the host was stopped.
            ValueError: ``timeout`` is not a positive timedelta, or ``priority`` not an int
                from 0 to 7.
        """
        self._check_not_stopped("start a workflow")
        problem = deadline_problem(timeout, "the timeout of start_workflow")
        if problem is not None:
            raise ValueError(problem)
        if priority is not None:
            check_priority(priority, "the priority of start_workflow")
        with self._telemetry.call_span(
            tracing.SPAN_START_WORKFLOW, {tracing.ATTR_DEFINITION_ID: definition_id},
            SpanKind.PRODUCER,
        ) as span:
            wid = await self._start(
                definition_id, data, version, reference, description, timeout=timeout,
                priority=priority,
            )
            if span is not None:
                span.set_attribute(tracing.ATTR_WORKFLOW_ID, wid)
            return wid

    async def _start(
        self,
        definition_id: str,
        data: Any,
        version: int | None,
        reference: str | None,
        description: str | None,
        workflow_id: str | None = None,
        parent_id: str | None = None,
        *,
        timeout: timedelta | None = None,
        priority: int | None = None,
    ) -> str:
        for what, value in (("reference", reference), ("description", description)):
            if value is None:
                continue
            if not isinstance(value, str):
                raise SerializationError(
                    f"a workflow's {what} is text or None, not {type(value).__qualname__}; "
                    f"pass str({what}) if that is what you mean"
                )
            if not _is_utf8(value):
                raise SerializationError(f"the {what} {value!r} {_NOT_TEXT}")
        definition: WorkflowDefinition[Any] | None
        if not self.starts_unregistered:
            definition = self.registry.get(definition_id, version)
        elif version is not None:  # a client: a version it lacks is started for the workers
            definition = self.registry.find(definition_id, version)
        elif self.registry.find_id(definition_id):
            definition = self.registry.get(definition_id)
        else:
            definition, version = None, await self._announced_version(definition_id)
        if definition is not None:
            definition_id, version = definition.id, definition.version
            if data is None:
                data = definition.new_data()
            text = encode_data(data, definition.data_type)
            decode_data(text, definition.data_type)  # fail now, not in the first pass
            description = description or definition.description
            first_step: str | None = definition.steps[0].name
            timeout = timeout or definition.timeout
            if priority is None:
                priority = definition.priority
        else:  # a client's start of a definition it lacks: its data is checked by the worker
            assert version is not None
            # No data: an empty object, which the data type's defaults fill in at the worker.
            text = encode_data({} if data is None else data)
            first_step = None  # named by the host that runs it
        now = self.clock.now()
        first = ExecutionPointer(step_id=0, step_name=first_step)
        set_deadline(first, now + timeout if timeout is not None else None)
        instance = WorkflowInstance(
            id=workflow_id or new_id(),
            definition_id=definition_id,
            version=version,
            status=WorkflowStatus.RUNNABLE,
            data=text,
            reference=reference,
            description=description,
            create_time=now,
            next_execution=now,
            execution_pointers=[first],
            parent_workflow_id=parent_id,
            # Every pass is traced as a child of this (the start_workflow span, or the step
            # that starts a sub-workflow): one workflow, one trace, on any host.
            trace_context=self._telemetry.current_traceparent(),
            priority=DEFAULT_PRIORITY if priority is None else priority,
        )
        if self.middleware is not None and self.middleware.pre and definition is not None:
            # pre_workflow sees (and may change) the data as objects; what it raises fails
            # the start before anything is stored.
            instance.data = decode_data(text, definition.data_type)
            await self.middleware.pre_workflow(instance)
            instance.data = encode_data(instance.data, definition.data_type)
        runtime = self._runtime

        async def announce() -> None:
            await self._announce(instance, LifecycleEventType.WORKFLOW_STARTED)

        if runtime is not None:
            await runtime.launch(instance, self.persistence.create_workflow, announce)
        else:  # not running here: stored, and queued for the hosts that run workflows
            await self.persistence.create_workflow(instance)
            await self._queue_for_others(QueueKind.WORKFLOW, instance.id, instance.priority)
            await announce()
        self._telemetry.workflow_started(definition_id)
        return instance.id

    async def _announced_version(self, definition_id: str) -> int:
        """The newest version of ``definition_id`` a live host announces in its heartbeat.

        Raises:
            WorkflowNotRegisteredError: no live host announces it.
        """
        now = datetime.now(UTC)
        versions = [
            v for h in await self.list_hosts() if not h.is_stale(now)
            for v in h.definitions.get(definition_id, ())
        ]
        if not versions:
            raise WorkflowNotRegisteredError(
                definition_id, None,
                "no live host announces it either. Give its version (version=N, or "
                "`wfe start --version N`) to start it anyway: it waits until a worker that "
                "registers it runs",
            )
        return max(versions)

    async def list_hosts(self) -> list[HostRecord]:
        """The hosts whose heartbeats this host's store keeps, oldest first.

        A running host records one every ``heartbeat_interval`` seconds and removes it when
        it stops cleanly; a host that stopped reporting is still listed, and
        ``record.is_stale(now)`` says so. Empty when the store keeps no heartbeats.
        """
        if self.heartbeats is None:
            return []
        return sorted(await self.heartbeats.list_hosts(), key=lambda h: (h.started, h.id))

    async def _start_child(
        self, definition_id: str, data: Any, version: int | None, child_id: str, parent_id: str
    ) -> None:
        try:
            await self.persistence.get_workflow(child_id)
            return  # started by an earlier run of this pass
        except WorkflowNotFoundError:
            pass
        await self._start(definition_id, data, version, None, None, child_id, parent_id)

    async def publish_event(
        self,
        event_name: str,
        event_key: str,
        data: Any = None,
        effective_date: datetime | None = None,
    ) -> str:
        """Publish an event; every workflow waiting for this name and key receives ``data``.

        Events published before anyone waits are kept and delivered to later waits whose
        effective date is not after the event's.

        Raises:
            InvalidEventError: empty name, or a key that is neither a string nor an int
                (ints are turned into strings), or a name or key with a lone surrogate.
            SerializationError: the data cannot be stored.
            HostStoppedError: the host was stopped.
        """
        self._check_not_stopped("publish an event")
        if not isinstance(event_name, str) or not event_name.strip():
            raise InvalidEventError("an event needs a non-empty name")
        if isinstance(event_key, bool) or not isinstance(event_key, (str, int)):
            raise InvalidEventError(
                f"event key must be a string, not {type(event_key).__qualname__}"
            )
        if isinstance(event_key, int):
            try:
                event_key = str(event_key)
            except ValueError:  # more digits than Python writes as text
                raise InvalidEventError(
                    "the event key is an integer too long to write as text; pass a string"
                ) from None
        if effective_date is not None and effective_date.tzinfo is None:
            raise InvalidEventError("effective_date must be timezone-aware (use UTC)")
        for what, text in (("event name", event_name), ("event key", event_key)):
            if not _is_utf8(text):
                raise InvalidEventError(f"the {what} {text!r} {_NOT_TEXT}")
        dump_value(data)  # raises SerializationError before anything is stored
        telemetry = self._telemetry
        with telemetry.call_span(
            tracing.SPAN_PUBLISH_EVENT,
            {tracing.ATTR_EVENT_NAME: event_name, tracing.ATTR_EVENT_KEY: event_key},
            SpanKind.PRODUCER,
        ) as span:
            event = Event(
                event_name=event_name,
                event_key=event_key,
                event_data=data,
                event_time=effective_date or self.clock.now(),
                # The delivery is traced as this span's child, and the wait it wakes links here.
                trace_context=telemetry.current_traceparent(),
            )
            if span is not None:
                span.set_attribute(tracing.ATTR_EVENT_ID, event.id)
            if self._runtime is not None:
                await self._runtime.publish(event, self.persistence.create_event)
            else:
                await self.persistence.create_event(event)
                if event.event_time <= self.clock.now():
                    await self._queue_for_others(QueueKind.EVENT, event.id)
            telemetry.event_published(event_name)
            return event.id

    async def _queue_for_others(
        self, kind: QueueKind, item_id: str, priority: int = DEFAULT_PRIORITY
    ) -> None:
        """Queue work stored by a host that does not run it (a client, or ``open_stores``), so a
        running host takes it at once; the poller of one finds it anyway if this fails."""
        if not self._providers_open:
            return
        try:
            if kind is QueueKind.WORKFLOW:
                await enqueue_workflow(self.queue, item_id, priority)
            else:
                await self.queue.enqueue(kind, item_id)
        except ProviderError as exc:
            log.info("could not queue %s %s (%s); a running host's poller will find it",
                     kind.value, item_id, exc)

    # -- activities and user tasks ----------------------------------------------------------

    async def get_pending_activity(
        self, name: str, worker_id: str = "", timeout: float | timedelta = 0.0
    ) -> PendingActivity | None:
        """Take an activity of ``name`` to work on, waiting up to ``timeout`` for one.

        The caller holds its token for ``activity_ttl`` seconds; answer with
        :meth:`submit_activity_success` or :meth:`submit_activity_failure`, or give it back
        with :meth:`release_activity_token`. Returns None when none came in time.
        """
        self._check_not_stopped("take an activity")
        return await self._activities.get_pending(name, worker_id, _seconds(timeout))

    async def submit_activity_success(self, token: str, result: Any = None) -> None:
        """Answer a taken activity: its step proceeds with ``step.result == result``.

        Raises:
            ActivityTokenError: the token is not held (any more), or its activity was
                answered already or moved on; nothing was applied.
            SerializationError: ``result`` cannot be stored.
        """
        self._check_not_stopped("answer an activity")
        dump_value(result)
        await self._activities.answer(token, {"ok": True, "result": result})

    async def submit_activity_failure(self, token: str, error: Any) -> None:
        """Answer a taken activity with a failure: its step fails through its ``on_error``.

        Raises:
            ActivityTokenError: as :meth:`submit_activity_success`.
        """
        self._check_not_stopped("answer an activity")
        await self._activities.answer(token, {"ok": False, "error": str(error)})

    async def release_activity_token(self, token: str) -> None:
        """Give a taken activity back: it is pending again, for any worker, at once."""
        self._check_not_stopped("release an activity")
        await self._activities.release(token)

    async def get_open_user_actions(self, workflow_id: str) -> list[OpenUserAction]:
        """The user tasks of one workflow that wait for an answer.

        Raises:
            WorkflowNotFoundError: no such workflow.
        """
        return await self._user_tasks.of_workflow(workflow_id)

    async def list_open_user_actions(self, assignee: str | None = None) -> list[OpenUserAction]:
        """Every open user task in the store (of one assignee, when given), oldest first."""
        return await self._user_tasks.all_open(assignee)

    async def get_external_waits(self, workflow_id: str) -> list[ExternalWait]:
        """What a workflow's steps wait on outside the engine: activities (with whether a
        worker holds each one's token) and user tasks, in the order they opened.

        Raises:
            WorkflowNotFoundError: no such workflow.
        """
        return await self._activities.describe(await self.persistence.get_workflow(workflow_id))

    async def publish_user_action(self, key: str, user: str, value: Any) -> None:
        """Answer the user task ``key`` as ``user`` with ``value``; its option's body runs.

        Raises:
            UserActionError: an unknown or closed task (answered already), or a value that is
                not one of its options (the message lists them); nothing was applied.
        """
        self._check_not_stopped("answer a user task")
        await self._user_tasks.publish(key, user, value)

    # -- queries -----------------------------------------------------------------------------

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance:
        """The instance with its data rebuilt as the definition's data type.

        Raises:
            WorkflowNotFoundError: no such workflow.
        """
        return self._decode(await self.persistence.get_workflow(workflow_id))

    def _decode(self, instance: WorkflowInstance) -> WorkflowInstance:
        definition = self.registry.find(instance.definition_id, instance.version)
        try:
            instance.data = decode_data(instance.data, definition.data_type if definition else None)
        except SerializationError:
            # Stored by a client that lacked the type, and refused by the worker (the workflow
            # is suspended with an error saying why): shown as the JSON it is.
            instance.data = decode_data(instance.data)
        return instance

    async def wait_for_workflow(self, workflow_id: str, timeout: float | None = 30.0) -> WorkflowInstance:
        """Wait until the workflow is no longer runnable and return it.

        Raises:
            TimeoutError: still runnable after ``timeout`` seconds.
            WorkflowNotFoundError: no such workflow.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            # The status alone is cheap to read; the whole instance only once it has settled.
            if await self.persistence.get_status(workflow_id) is not WorkflowStatus.RUNNABLE:
                return self._decode(await self.persistence.get_workflow(workflow_id))
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(
                    f"workflow {workflow_id} is still runnable after {timeout} s; "
                    "is a host running with its definition registered?"
                )
            # Woken at once by this host; the re-read every 0.5 s covers other processes.
            wait = 0.5 if remaining is None else min(0.5, remaining)
            if self._runtime is not None:
                await self._runtime.wait_for_change(workflow_id, wait)
            else:
                await asyncio.sleep(wait)

    async def get_execution_errors(self, workflow_id: str) -> list[ExecutionError]:
        """What each failed step raised, oldest first."""
        return await self.persistence.get_execution_errors(workflow_id)

    async def search(
        self,
        terms: str = "",
        *,
        status: WorkflowStatus | None = None,
        definition_id: str | None = None,
        reference: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        skip: int = 0,
        take: int = 20,
    ) -> SearchPage:
        """Find workflows by text and filters, newest first; returns ``items`` and ``total``."""
        if skip < 0 or take < 0:
            raise ValueError("skip and take must be >= 0")
        if self._runtime is not None:
            await self._runtime.flush_index()
        filters = SearchFilter(status, definition_id, reference, created_after, created_before)
        return await self.search_index.search(terms or "", filters, skip, take)

    async def rebuild_search_index(
        self, *, progress: Callable[[int, int], None] | None = None, batch: int = 256
    ) -> int:
        """Write every stored workflow to the search index again, from persistence.

        For an index that was lost, emptied or newly named: pages through the store's
        workflows by id, ``batch`` at a time, one ``index_workflows`` call per page. Safe
        while hosts run: an entry only ever moves to a newer revision, so a page read before
        a newer write changes nothing, and that write's outbox entry indexes it as usual.
        Needs only the providers open (``wfe reindex`` does not start the host).

        Args:
            progress: called after each page with (workflows written, workflows stored when
                the rebuild began, or more if more came).
            batch: workflows per page.

        Returns:
            How many workflows were written.

        Raises:
            ConfigurationError: the persistence provider cannot list its workflows.
            ProviderError: the store or the index failed; run it again, it is idempotent.
        """
        store = self.persistence
        if not isinstance(store, WorkflowListing):
            raise ConfigurationError(
                f"{type(store).__name__} cannot list its workflows (it lacks count_workflows "
                "and list_workflow_ids), so its search index cannot be rebuilt"
            )
        total = await store.count_workflows()
        done = 0
        after: str | None = None
        while ids := await store.list_workflow_ids(after, max(batch, 1)):
            instances = await store.get_workflows(ids)
            await self.search_index.index_workflows(instances)
            done += len(instances)
            after = ids[-1]
            if progress is not None:
                progress(done, max(total, done))
        return done

    async def purge_workflows(
        self,
        *,
        older_than: timedelta | datetime,
        status: WorkflowStatus | str | Collection[WorkflowStatus | str] | None = None,
        definition_id: str | None = None,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
        batch: int = 500,
    ) -> int:
        """Delete finished workflows that completed before a time, for good.

        Deletes complete and terminated workflows with their pointers, subscriptions,
        execution errors and search entries (an index kept elsewhere, such as OpenSearch, is
        cleaned by the indexer from the store's outbox), ``batch`` per transaction, yielding
        between batches so running work goes on; and, unless ``definition_id`` is given,
        processed events older than the cutoff. Needs only the providers open (``wfe purge``).

        Args:
            older_than: an age (completed more than this long ago, by the host's clock) or an
                aware datetime (completed before it).
            status: ``COMPLETE``, ``TERMINATED`` or both (``None``, the default).
            definition_id: only workflows of this definition.
            dry_run: count what would be deleted, and delete nothing.
            progress: called after each batch with (deleted so far, expected in all).
            batch: workflows per transaction.

        Returns:
            How many workflows were deleted (with ``dry_run``: would be).

        Raises:
            ValueError: a status that is not finished, a negative age, a naive datetime.
            ConfigurationError: the persistence provider cannot purge.
        """
        statuses = finished_statuses(status)
        before = retention_cutoff(older_than, self.clock.now())
        store = purging_store(self.persistence)
        return await purge_batches(
            store, before, statuses, definition_id, batch=max(batch, 1), progress=progress,
            dry_run=dry_run,
        )

    # -- control -----------------------------------------------------------------------------

    async def suspend_workflow(self, workflow_id: str) -> bool:
        """Suspend a runnable workflow. Returns whether it changed anything."""

        def change(instance: WorkflowInstance) -> LifecycleEventType | None:
            if instance.status is not WorkflowStatus.RUNNABLE:
                return None
            instance.status = WorkflowStatus.SUSPENDED
            return LifecycleEventType.WORKFLOW_SUSPENDED

        return await self._control(workflow_id, change, tracing.SPAN_SUSPEND_WORKFLOW)

    async def resume_workflow(self, workflow_id: str) -> bool:
        """Resume a suspended workflow (failed steps get a fresh set of retries)."""

        def change(instance: WorkflowInstance) -> LifecycleEventType | None:
            if instance.status is not WorkflowStatus.SUSPENDED:
                return None
            instance.status = WorkflowStatus.RUNNABLE
            instance.next_execution = self.clock.now()
            for p in instance.execution_pointers.open():
                if p.status is PointerStatus.FAILED and p.active:
                    p.retry_count = 0
                    p.sleep_until = None
            return LifecycleEventType.WORKFLOW_RESUMED

        return await self._control(workflow_id, change, tracing.SPAN_RESUME_WORKFLOW)

    async def terminate_workflow(self, workflow_id: str) -> bool:
        """End a runnable or suspended workflow now; its remaining steps never run."""

        def change(instance: WorkflowInstance) -> LifecycleEventType | None:
            if instance.status not in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED):
                return None
            instance.status = WorkflowStatus.TERMINATED
            instance.complete_time = self.clock.now()
            instance.next_execution = None
            return LifecycleEventType.WORKFLOW_TERMINATED

        return await self._control(workflow_id, change, tracing.SPAN_TERMINATE_WORKFLOW)

    async def set_priority(self, workflow_id: str, priority: int) -> bool:
        """Give a runnable or suspended workflow another level, 0 (critical) to 7 (idle).

        Stored with the workflow (so every host sees it); a runnable one waiting in a queue is
        queued again at the new level (a higher one moves it up at once; a lower one applies
        from its next wait on). Returns whether it changed anything: False for a finished
        workflow or one at that level already.

        Raises:
            ValueError: ``priority`` is not an int from 0 to 7 (nothing is changed).
            WorkflowNotFoundError: no such workflow.
        """
        check_priority(priority, "the priority of set_priority")
        self._check_not_stopped("change a workflow's priority")
        for _ in range(20):
            instance = await self.persistence.get_workflow(workflow_id)
            if instance.priority == priority or instance.status not in (
                WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED
            ):
                return False
            instance.priority = priority
            try:
                await self.persistence.persist_workflow(instance, changed_pointers=())
            except ConcurrencyError:
                await asyncio.sleep(0.01)  # a pass just landed; decide again on fresh state
                continue
            runtime = self._runtime
            if runtime is not None:
                await runtime.priority_changed(instance)
            elif instance.status is WorkflowStatus.RUNNABLE:
                await self._queue_for_others(QueueKind.WORKFLOW, instance.id, priority)
            return True
        raise WfeError(f"workflow {workflow_id} kept changing; try again")

    async def _control(
        self,
        workflow_id: str,
        change: Callable[[WorkflowInstance], LifecycleEventType | None],
        span_name: str,
    ) -> bool:
        telemetry = self._telemetry
        with telemetry.call_span(span_name, {tracing.ATTR_WORKFLOW_ID: workflow_id}) as span:
            changed = await self._change(workflow_id, change, span)
            if span is not None:
                span.set_attribute(tracing.ATTR_CHANGED, changed)
            return changed

    async def _change(
        self,
        workflow_id: str,
        change: Callable[[WorkflowInstance], LifecycleEventType | None],
        span: Any,
    ) -> bool:
        runtime = self._runtime
        for attempt in range(20):
            instance = await self.persistence.get_workflow(workflow_id)
            if attempt == 0:
                self._telemetry.link_workflow(span, instance.trace_context)
            kind = change(instance)
            if kind is None:
                return False
            try:
                await self.persistence.persist_workflow(instance, changed_pointers=None)
            except ConcurrencyError:
                await asyncio.sleep(0.01)  # a pass just landed; decide again on fresh state
                continue
            if instance.status is not WorkflowStatus.RUNNABLE:
                self._telemetry.workflow_settled(instance, failed=False)
            await self._announce(instance, kind)
            if runtime is not None:
                await runtime.after_control(instance)
            elif instance.status is WorkflowStatus.RUNNABLE:  # resumed by a host that runs nothing
                await self._queue_for_others(QueueKind.WORKFLOW, instance.id, instance.priority)
            return True
        raise WfeError(f"workflow {workflow_id} kept changing; try again")

    async def _announce(self, instance: WorkflowInstance, kind: LifecycleEventType) -> None:
        if self.lifecycle.active:
            await self.lifecycle.publish(
                LifecycleEvent(
                    type=kind,
                    workflow_id=instance.id,
                    definition_id=instance.definition_id,
                    version=instance.version,
                    reference=instance.reference,
                    time=self.clock.now(),
                )
            )


#: Why a string with a lone surrogate (from a bad decode, say) is refused.
_NOT_TEXT = (
    "holds a lone surrogate (half of a UTF-16 pair), which no store can keep as text; "
    "decode the bytes it came from properly, or drop that character"
)


def _is_utf8(text: str) -> bool:
    """Whether ``text`` is storable text: encodable as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
