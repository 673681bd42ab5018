"""``memory://`` providers: persistence, lock, queue and search held in this process.

For tests and for workflows that need not survive the process. They keep the same contract as
the durable providers (copies in and out, optimistic concurrency, lease expiry, de-duplicated
queues), so code tested on them behaves the same on SQLite or PostgreSQL.

The search index follows the stored state the way SQLite's does: a ``MemoryPersistence`` given
its host's ``MemorySearchIndex`` (the plugin links the two of one host) writes each workflow's
entry in the same call that stores it, with no await in between, so no one ever sees the
state without its entry. Without one, it records written workflows in its index outbox for the
host's indexer to drain (see ``PersistenceProvider.get_index_outbox``).
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import operator
import time
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import attrs

from . import search as search_rule
from ._memory_purge import MemoryPurge
from ._models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointers,
    HostRecord,
    WorkflowInstance,
    WorkflowStatus,
)
from .errors import ConcurrencyError, ProviderError, WorkflowNotFoundError
from .providers import (
    DEFAULT_PRIORITY,
    PRIORITY_AGING,
    LockProvider,
    QueueKind,
    SearchFilter,
    SearchPage,
    WorkflowWrite,
    persist_one_by_one,
    queue_rank,
    search_words,
)
from .serialization import dump_host, load_host
from .serialization import pointer_copy as dump_pointer
from .serialization import pointer_from_copy as load_pointer

__all__ = ["MemoryLock", "MemoryPersistence", "MemoryQueue", "MemorySearchIndex"]


@attrs.define
class _StoredInstance:
    fields: dict[str, object]
    pointers: dict[str, tuple[Any, ...]]


_FIELDS = [
    f.name for f in attrs.fields(WorkflowInstance) if f.name not in ("execution_pointers",)
]
#: An instance's ``_FIELDS`` values as a tuple, in one call (this runs with every pass).
_field_values = operator.attrgetter(*_FIELDS)


class MemoryPersistence(MemoryPurge):
    """Persistence in dictionaries; every read returns a fresh copy (purge: ``MemoryPurge``)."""

    def __init__(self) -> None:
        self._instances: dict[str, _StoredInstance] = {}
        self._due: dict[str, datetime] = {}
        self._events: dict[str, Event] = {}
        self._subscriptions: dict[str, EventSubscription] = {}
        self._errors: list[ExecutionError] = []
        self._search: MemorySearchIndex | None = None
        self._outbox: dict[str, int] = {}  # workflow id -> revision written

    def keep_search_index(self, index: MemorySearchIndex) -> None:
        """Write ``index``'s entry of each workflow in the same call that stores it, from now on.

        Workflows written before stay in the outbox until the host's indexer drains them.
        """
        self._search = index

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _store(self, instance: WorkflowInstance, pointers: dict[str, tuple[Any, ...]]) -> None:
        fields = dict(zip(_FIELDS, _field_values(instance), strict=True))
        self._instances[instance.id] = _StoredInstance(fields, pointers)
        # The runnable query scans only instances with a next execution, not every instance.
        if instance.status is WorkflowStatus.RUNNABLE and instance.next_execution is not None:
            self._due[instance.id] = instance.next_execution
        else:
            self._due.pop(instance.id, None)
        if self._search is not None:
            self._search.put(instance)
        else:
            self._outbox[instance.id] = instance.revision

    async def create_workflow(self, instance: WorkflowInstance) -> str:
        self._create(instance)
        return instance.id

    def shares_leases_with(self, lock: LockProvider) -> bool:
        """True for a plain :class:`MemoryLock` (``LeasedCreation``): its leases are a
        dictionary of this process, taken in the same call as the write, with no pause
        between. A subclass may answer ``acquire`` otherwise, so it is not."""
        return type(lock) is MemoryLock

    async def create_workflow_leased(
        self, instance: WorkflowInstance, lock: LockProvider, key: str, owner: str, ttl: float
    ) -> bool:
        """Store a new instance and take ``lock``'s lease ``key`` for ``owner`` at once."""
        if not self.shares_leases_with(lock):
            raise TypeError(f"{type(lock).__name__} keeps no leases this store can take")
        assert isinstance(lock, MemoryLock)
        self._create(instance)  # raises, before the lease is taken, for an id in use
        return lock.take(key, owner, ttl)

    def _create(self, instance: WorkflowInstance) -> None:
        if instance.id in self._instances:
            raise ProviderError(f"a workflow with id {instance.id!r} already exists")
        instance.revision = 1
        self._store(instance, {p.id: dump_pointer(p) for p in instance.execution_pointers})

    async def persist_workflow(
        self,
        instance: WorkflowInstance,
        *,
        changed_pointers: Collection[str] | None = None,
        subscriptions: Sequence[EventSubscription] = (),
        errors: Sequence[ExecutionError] = (),
    ) -> None:
        stored = self._instances.get(instance.id)
        if stored is None:
            raise WorkflowNotFoundError(instance.id)
        if stored.fields["revision"] != instance.revision:
            raise ConcurrencyError(instance.id, instance.revision, stored.fields["revision"])  # type: ignore[arg-type]
        pointers = stored.pointers
        if changed_pointers is None:
            pointers = {p.id: dump_pointer(p) for p in instance.execution_pointers}
        else:
            for pid in changed_pointers:
                pointers[pid] = dump_pointer(instance.execution_pointers[pid])
        instance.revision += 1
        self._store(instance, pointers)
        for sub in subscriptions:
            self._subscriptions[sub.id] = copy.deepcopy(sub)
        if errors:
            self._errors.extend(copy.deepcopy(list(errors)))

    #: Nothing to share between writes: the host's group commit writes each pass at once.
    commits_together = False

    async def persist_workflows(self, writes: Sequence[WorkflowWrite]) -> list[Exception | None]:
        # Each write is done before the next begins, with no await in between: one at a time
        # is all a dictionary can do, and all it needs.
        return await persist_one_by_one(self, writes)

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance:
        stored = self._instances.get(workflow_id)
        if stored is None:
            raise WorkflowNotFoundError(workflow_id)
        return WorkflowInstance(
            **stored.fields,  # type: ignore[arg-type]
            execution_pointers=ExecutionPointers(load_pointer(p) for p in stored.pointers.values()),
        )

    async def get_status(self, workflow_id: str) -> WorkflowStatus:
        stored = self._instances.get(workflow_id)
        if stored is None:
            raise WorkflowNotFoundError(workflow_id)
        return stored.fields["status"]  # type: ignore[return-value]

    async def get_workflows(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        return [await self.get_workflow(i) for i in workflow_ids if i in self._instances]

    async def count_workflows(self) -> int:
        return len(self._instances)

    async def list_workflow_ids(self, after: str | None = None, limit: int = 1000) -> list[str]:
        ids = sorted(i for i in self._instances if after is None or i > after)
        return ids[:limit]

    async def get_runnable_instances(
        self, as_of: datetime, limit: int = 1000
    ) -> list[tuple[str, datetime]]:
        due = [(i, when) for i, when in self._due.items() if when <= as_of]
        # By priority rank (wfe_core._priority), ties by due time.
        instances = self._instances
        due.sort(key=lambda x: (
            queue_rank(instances[x[0]].fields["priority"], x[1].timestamp()), x[1]  # type: ignore[arg-type]
        ))
        return due[:limit]

    async def create_event(self, event: Event) -> str:
        self._events[event.id] = copy.deepcopy(event)
        return event.id

    async def get_event(self, event_id: str) -> Event | None:
        e = self._events.get(event_id)
        return copy.deepcopy(e) if e else None

    async def get_runnable_events(self, as_of: datetime, limit: int = 1000) -> list[str]:
        found = sorted(
            (e for e in self._events.values() if not e.is_processed and e.event_time <= as_of),
            key=lambda e: e.event_time,
        )
        return [e.id for e in found[:limit]]

    async def get_events(self, event_name: str, event_key: str, as_of: datetime) -> list[Event]:
        found = sorted(
            (
                e
                for e in self._events.values()
                if e.event_name == event_name and e.event_key == event_key and e.event_time >= as_of
            ),
            key=lambda e: e.event_time,
        )
        return [copy.deepcopy(e) for e in found]

    async def mark_event_processed(self, event_id: str) -> None:
        if event_id in self._events:
            self._events[event_id].is_processed = True

    async def mark_event_unprocessed(self, event_id: str) -> None:
        if event_id in self._events:
            self._events[event_id].is_processed = False

    async def get_subscriptions(
        self, event_name: str, event_key: str, as_of: datetime
    ) -> list[EventSubscription]:
        return [
            copy.deepcopy(s)
            for s in self._subscriptions.values()
            if s.event_name == event_name and s.event_key == event_key and s.subscribe_as_of <= as_of
        ]

    async def terminate_subscription(self, subscription_id: str) -> None:
        self._subscriptions.pop(subscription_id, None)

    async def get_execution_errors(self, workflow_id: str) -> list[ExecutionError]:
        return [copy.deepcopy(e) for e in self._errors if e.workflow_id == workflow_id]

    async def get_index_outbox(self, limit: int = 1000) -> list[tuple[str, int]]:
        return list(self._outbox.items())[:limit]

    async def remove_index_outbox(self, entries: Sequence[tuple[str, int]]) -> None:
        for wid, revision in entries:
            if self._outbox.get(wid, revision + 1) <= revision:
                del self._outbox[wid]


class MemoryLock:
    """Leases in a dictionary, with expiry on the monotonic clock."""

    def __init__(self) -> None:
        self._leases: dict[str, tuple[str, float]] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _live(self, key: str) -> tuple[str, float] | None:
        lease = self._leases.get(key)
        if lease is not None and lease[1] <= time.monotonic():
            del self._leases[key]
            return None
        return lease

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        return self.take(key, owner, ttl)

    def take(self, key: str, owner: str, ttl: float) -> bool:
        """``acquire``, for a caller that must take the lease without a pause."""
        if self._live(key) is not None:
            return False
        self._leases[key] = (owner, time.monotonic() + ttl)
        return True

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        lease = self._live(key)
        if lease is None or lease[0] != owner:
            return False
        self._leases[key] = (owner, time.monotonic() + ttl)
        return True

    async def release(self, key: str, owner: str) -> None:
        lease = self._leases.get(key)
        if lease is not None and lease[0] == owner:
            del self._leases[key]


class MemoryHeartbeats:
    """Heartbeats of the hosts of one process, in a dictionary (copies in and out)."""

    def __init__(self) -> None:
        self._hosts: dict[str, str] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def record_heartbeat(self, record: HostRecord) -> None:
        self._hosts[record.id] = dump_host(record)

    async def remove_host(self, host_id: str) -> None:
        self._hosts.pop(host_id, None)

    async def list_hosts(self) -> list[HostRecord]:
        return [load_host(text) for text in self._hosts.values()]


class MemoryQueue:
    """Queues served by priority rank, with de-duplication; ``dequeue`` waits on an event.

    Each kind is a heap of ``(rank, seq, id)`` (``queue_rank``: lowest first, ties in enqueue
    order) beside the live rank of each waiting id; an id queued again with a better rank gets
    a new entry and its old one is skipped when it surfaces.

    Attributes:
        aging: seconds of waiting worth one priority level (``PRIORITY_AGING``).
    """

    aging: float = PRIORITY_AGING

    def __init__(self) -> None:
        self._heaps: dict[QueueKind, list[tuple[float, int, str]]] = {}
        # kind -> waiting id -> the (rank, seq) of its live heap entry.
        self._waiting: dict[QueueKind, dict[str, tuple[float, int]]] = {}
        self._seq = 0
        self._ready: dict[QueueKind, asyncio.Event] = {}

    def _event(self, kind: QueueKind) -> asyncio.Event:
        ev = self._ready.get(kind)
        if ev is None:
            ev = self._ready[kind] = asyncio.Event()
        return ev

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def enqueue(
        self, kind: QueueKind, item_id: str, priority: int = DEFAULT_PRIORITY
    ) -> None:
        waiting = self._waiting.get(kind)
        if waiting is None:  # activity kinds come as they are used
            waiting = self._waiting[kind] = {}
            self._heaps[kind] = []
        rank = queue_rank(priority, time.monotonic(), self.aging)
        held = waiting.get(item_id)
        if held is None or rank < held[0]:
            self._seq += 1
            waiting[item_id] = (rank, self._seq)
            heapq.heappush(self._heaps[kind], (rank, self._seq, item_id))
        self._event(kind).set()

    async def dequeue(self, kind: QueueKind, timeout: float) -> str | None:
        if not self._waiting.get(kind):
            ev = self._event(kind)
            ev.clear()
            try:
                await asyncio.wait_for(ev.wait(), timeout)
            except TimeoutError:
                return None
            if not self._waiting.get(kind):
                return None
        heap, waiting = self._heaps[kind], self._waiting[kind]
        while True:
            rank, seq, item = heapq.heappop(heap)
            if waiting.get(item) == (rank, seq):  # else replaced by a better rank, or taken
                del waiting[item]
                return item


class MemorySearchIndex:
    """A linear scan over indexed summaries and their words; fine for tests and small sets.

    It follows the search rule of :mod:`wfe_core.search` to the letter: that module makes each
    entry's text and summary, matches the terms and filters and orders the hits.
    """

    def __init__(self) -> None:
        # id -> [summary, searchable words, revision, the fields the words came from]; an
        # entry never goes back to an older revision.
        self._docs: dict[str, list[Any]] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        self.put(instance)

    async def index_workflows(self, instances: Sequence[WorkflowInstance]) -> None:
        # One at a time through index_workflow, so that a subclass wrapping it (a test's
        # flaky index) sees every write.
        for instance in instances:
            await self.index_workflow(instance)

    def put(self, instance: WorkflowInstance) -> None:
        """Add or replace one instance's entry, at once (``instance.data`` is JSON text)."""
        known = self._docs.get(instance.id)
        sources = (instance.reference, instance.description, instance.data, search_rule.waiting_text(instance))
        if known is not None:
            if known[2] > instance.revision:
                return  # it shows a newer state already
            # Most passes leave the searchable fields as they were: keep the entry rather
            # than walk the data again (this runs inline with every pass on memory://).
            if known[3] == sources:
                summary = known[0]
                if summary.status is not instance.status or summary.complete_time != instance.complete_time:
                    known[0] = search_rule.summary_of(instance)
                known[2] = instance.revision
                return
        text = search_rule.instance_text(instance)
        self._docs[instance.id] = [search_rule.summary_of(instance), text, instance.revision, sources]

    async def remove_workflows(self, workflow_ids: Sequence[str]) -> None:
        for wid in workflow_ids:
            self.drop(wid)

    def drop(self, workflow_id: str) -> None:
        """Forget one workflow's entry, at once (it was purged); unknown ids are ignored."""
        self._docs.pop(workflow_id, None)

    async def search(
        self, terms: str, filters: SearchFilter, skip: int = 0, take: int = 20
    ) -> SearchPage:
        words = list(dict.fromkeys(search_words(terms)))  # a repeated word asks nothing more
        hits = (
            summary
            for summary, text, _, _ in self._docs.values()
            if search_rule.matches_filter(summary, filters)
            and search_rule.matches_words(text, words)
        )
        return search_rule.page_of(hits, skip, take)
