"""The four provider capabilities as small async Protocols: persistence, lock, queue, search.

Providers implement these, and :class:`LifecycleChannel` (defined beside the hub that uses it)
for ``Capability.LIFECYCLE_EVENTS``; the host calls them. The contract suites in
``wfe_core.testing.contracts`` are the executable spec: a provider that passes them works.

At this boundary an instance's ``data`` is already a JSON string (made by
``wfe_core.serialization.encode_data``), so a provider stores text and never needs the
workflow's data type; it must give the text back byte for byte (no ``jsonb`` re-encoding).
Pointers are stored with ``serialization.dump_pointer``, event and subscription data with
``dump_value``. Every datetime a provider returns is timezone-aware UTC and equal to what was
stored. Objects handed in or out are copies: the caller mutating them changes nothing stored.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from ._lifecycle import LifecycleChannel
from ._models import (
    Event,
    EventSubscription,
    ExecutionError,
    HostRecord,
    WorkflowInstance,
    WorkflowStatus,
)
from ._priority import DEFAULT_PRIORITY, HIGHEST_PRIORITY, LOWEST_PRIORITY, PRIORITY_AGING, queue_rank

__all__ = [
    "HeartbeatStore",
    "LeasedCreation",
    "LifecycleChannel",
    "LockProvider",
    "PersistenceProvider",
    "WorkflowWrite",
    "DEFAULT_PRIORITY",
    "HIGHEST_PRIORITY",
    "LOWEST_PRIORITY",
    "PRIORITY_AGING",
    "QueueKind",
    "QueueProvider",
    "SearchFilter",
    "SearchIndex",
    "SearchPage",
    "SearchRemoval",
    "WorkflowListing",
    "WorkflowPurging",
    "WorkflowSummary",
    "persist_one_by_one",
    "queue_rank",
    "search_words",
]


class QueueKind(enum.Enum):
    """The independent queues a host consumes."""

    WORKFLOW = "workflow"
    EVENT = "event"

    @classmethod
    def activity(cls, name: str) -> QueueKind:
        """The queue of the activity ``name``: the ids of its waits, as they open.

        One kind per activity name, so that a worker waits on its own activity's queue only.
        Providers keep a kind by its ``value`` (here ``"activity:<name>"``) as they keep the
        others; these kinds are not listed when ``QueueKind`` is iterated.
        """
        return cls(f"activity:{name}")

    @classmethod
    def _missing_(cls, value: object) -> QueueKind | None:
        if not isinstance(value, str) or not value.startswith("activity:"):
            return None
        member = object.__new__(cls)
        member._name_ = "ACTIVITY"
        member._value_ = value
        # Kept, so that one name is one kind (kinds are compared and hashed as objects).
        return cls._value2member_map_.setdefault(value, member)  # type: ignore[return-value]


@attrs.frozen
class WorkflowWrite:
    """One pass to store: the arguments of :meth:`PersistenceProvider.persist_workflow`.

    Attributes:
        instance: the instance as the pass left it (``data`` is JSON text); its ``revision`` is
            the stored revision the write replaces, and goes up by one when the write succeeds.
        changed_pointers: the ids of the pointers to write; ``None`` writes all of them.
        subscriptions: new event subscriptions.
        errors: execution errors to record.
    """

    instance: WorkflowInstance
    changed_pointers: Collection[str] | None = None
    subscriptions: Sequence[EventSubscription] = ()
    errors: Sequence[ExecutionError] = ()


@runtime_checkable
class PersistenceProvider(Protocol):
    """Durable storage of instances, events, subscriptions and execution errors."""

    async def start(self) -> None:
        """Create the store if it does not exist yet. Idempotent."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def create_workflow(self, instance: WorkflowInstance) -> str:
        """Store a new instance (``revision`` becomes 1) and return its id."""

    async def persist_workflow(
        self,
        instance: WorkflowInstance,
        *,
        changed_pointers: Collection[str] | None = None,
        subscriptions: Sequence[EventSubscription] = (),
        errors: Sequence[ExecutionError] = (),
    ) -> None:
        """Write one pass in one transaction.

        Writes the instance's fields, the pointers named in ``changed_pointers`` (all of them
        when ``None``), the new subscriptions and the errors. The write succeeds only when the
        stored revision equals ``instance.revision``; it then increments ``instance.revision``.

        Raises:
            ConcurrencyError: the stored revision differs; nothing was written.
            WorkflowNotFoundError: no such instance.
        """

    async def persist_workflows(self, writes: Sequence[WorkflowWrite]) -> list[Exception | None]:
        """Write several passes (of different workflows) together; each succeeds or fails alone.

        The group commit of the host (``wfe_core._group_commit``) hands the passes that finish
        together to one call, so that they can share a transaction and its commit. The outcome
        of each write is exactly that of :meth:`persist_workflow` called on it alone: ``None``
        when it was written (its ``instance.revision`` went up by one), or the error it would
        have raised (:class:`~wfe_core.errors.ConcurrencyError`,
        :class:`~wfe_core.errors.WorkflowNotFoundError`, a ``ProviderError``), with nothing of
        it written. One write failing never fails or undoes another; no write is acknowledged
        before it is durable. A provider that cannot batch returns
        ``await persist_one_by_one(self, writes)``.

        Returns:
            One outcome per write, in the order given.

        Raises:
            ProviderError: only when no write could be attempted at all; then none was written.
        """

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance:
        """Load one instance with all its pointers.

        Raises:
            WorkflowNotFoundError: no such instance.
        """

    async def get_workflows(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        """Load several instances; unknown ids are left out."""

    async def get_status(self, workflow_id: str) -> WorkflowStatus:
        """One instance's status, without loading it.

        Raises:
            WorkflowNotFoundError: no such instance.
        """

    async def get_runnable_instances(
        self, as_of: datetime, limit: int = 1000
    ) -> list[tuple[str, datetime]]:
        """Runnable instances with ``next_execution <= as_of`` as (id, next_execution), soonest first."""

    async def create_event(self, event: Event) -> str:
        """Store a new event and return its id."""

    async def get_event(self, event_id: str) -> Event | None:
        """Load one event, or ``None``."""

    async def get_runnable_events(self, as_of: datetime, limit: int = 1000) -> list[str]:
        """Ids of unprocessed events with ``event_time <= as_of``, oldest first."""

    async def get_events(self, event_name: str, event_key: str, as_of: datetime) -> list[Event]:
        """Events of this name and key with ``event_time >= as_of``, processed or not, whole.

        Oldest (by ``event_time``, then by creation) first. One query answers what a wait needs
        to know about the events before it, where an id list would cost one read per event.
        """

    async def mark_event_processed(self, event_id: str) -> None: ...

    async def mark_event_unprocessed(self, event_id: str) -> None: ...

    async def get_subscriptions(
        self, event_name: str, event_key: str, as_of: datetime
    ) -> list[EventSubscription]:
        """Subscriptions of this name and key with ``subscribe_as_of <= as_of``."""

    async def terminate_subscription(self, subscription_id: str) -> None:
        """Delete a subscription; unknown ids are ignored."""

    async def get_execution_errors(self, workflow_id: str) -> list[ExecutionError]:
        """Errors of one workflow, oldest (by ``error_time``) first."""

    async def get_index_outbox(self, limit: int = 1000) -> list[tuple[str, int]]:
        """Workflows whose search entry may be stale, as (id, revision last written).

        The search index follows the durable state (design, semantics 11). A store that keeps
        the host's search index itself, in the transaction of every workflow write (an index
        in the same store), leaves this outbox empty. Otherwise ``create_workflow`` and
        ``persist_workflow`` record the workflow here in the transaction of the write, and
        the host's indexer drains it: it indexes what it finds, then calls
        :meth:`remove_index_outbox`. So a crash, or an index that is down, delays the index
        but never leaves it wrong.
        """

    async def remove_index_outbox(self, entries: Sequence[tuple[str, int]]) -> None:
        """Forget outbox entries the indexer has indexed, given as (id, revision indexed).

        An entry goes only if its recorded revision is at most the one given: a workflow
        written again since it was read stays in the outbox. Unknown ids are ignored.
        """


async def persist_one_by_one(
    persistence: PersistenceProvider, writes: Sequence[WorkflowWrite]
) -> list[Exception | None]:
    """``persist_workflows`` for a provider that cannot batch: one ``persist_workflow`` each.

    A provider whose store commits each write on its own returns this from its
    ``persist_workflows``; the outcomes are the same, only the commits are not shared.
    """
    outcomes: list[Exception | None] = []
    for write in writes:
        try:
            await persistence.persist_workflow(
                write.instance,
                changed_pointers=write.changed_pointers,
                subscriptions=write.subscriptions,
                errors=write.errors,
            )
        except Exception as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


@runtime_checkable
class LockProvider(Protocol):
    """Leases on named resources. A lease expires unless renewed, so a dead holder strands nothing."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease for ``ttl`` seconds. False at once if another live lease holds it.

        Not re-entrant: a second acquire by the same owner also answers False.
        """

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        """Extend a lease this owner holds. False if it was never held, or expired and was taken."""

    async def release(self, key: str, owner: str) -> None:
        """Give a lease back; releasing what one does not hold is a no-op."""


@runtime_checkable
class QueueProvider(Protocol):
    """Work queues of ids, one per :class:`QueueKind`, de-duplicated while queued.

    Served by rank (``wfe_core``'s priority rule): highest priority first, then oldest, an
    item gaining one level per ``PRIORITY_AGING`` seconds it waits; at one level, FIFO.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def enqueue(self, kind: QueueKind, item_id: str, priority: int = 4) -> None:
        """Add an id at ``priority`` (0 critical .. 7 idle), unless it is already waiting in
        that queue (then it keeps the better of its two ranks).

        The host passes ``priority`` only when it is not the default, and only to a queue
        whose ``enqueue`` takes it: a queue written without it keeps working, in its own order.
        """

    async def dequeue(self, kind: QueueKind, timeout: float) -> str | None:
        """Take the id of lowest rank, waiting up to ``timeout`` seconds; ``None`` if none came."""


@runtime_checkable
class HeartbeatStore(Protocol):
    """Where running hosts record their heartbeats, so that every host and tool can list them.

    A record is written whole and read back equal (times exact, UTC). Records are kept until
    removed: a dead host's stays, and readers mark it stale (:meth:`HostRecord.is_stale`).
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def record_heartbeat(self, record: HostRecord) -> None:
        """Write ``record``, replacing the one with its id if there is one."""

    async def remove_host(self, host_id: str) -> None:
        """Forget a host (it stopped cleanly, or was stale long enough); a no-op if unknown."""

    async def list_hosts(self) -> list[HostRecord]:
        """Every recorded host, in no particular order."""


@attrs.frozen
class WorkflowSummary:
    """One search hit."""

    id: str
    definition_id: str
    version: int
    status: WorkflowStatus
    reference: str | None
    description: str | None
    create_time: datetime
    complete_time: datetime | None


@attrs.frozen
class SearchFilter:
    """The filters of ``host.search``; ``None`` means no filter."""

    status: WorkflowStatus | None = None
    definition_id: str | None = None
    reference: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@attrs.frozen
class SearchPage:
    """One page of search results and the total number of hits."""

    items: list[WorkflowSummary]
    total: int


@runtime_checkable
class SearchIndex(Protocol):
    """Full-text search over workflows.

    Every index follows the search rule of :mod:`wfe_core.search` (what an instance's text
    is, how terms match it, the filters, newest first), so that one search gives the same
    answer on every provider.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        """Add or replace one instance (``data`` is its JSON text).

        An entry never goes back to an older state: an instance whose ``revision`` is below
        the one its entry shows changes nothing.
        """

    async def index_workflows(self, instances: Sequence[WorkflowInstance]) -> None:
        """Add or replace many instances, in as few writes as the store allows.

        The host's indexer hands its batches here (one transaction on SQLite, one ``_bulk``
        request on OpenSearch). Each instance is written as by :meth:`index_workflow`: the
        newest revision of a workflow wins, within the batch and across calls. When this
        raises, any part of the batch may be written; the caller writes it all again later.
        """

    async def search(
        self, terms: str, filters: SearchFilter, skip: int = 0, take: int = 20
    ) -> SearchPage:
        """Instances matching every term (empty: all) and the filters, newest first.

        ``terms`` is split into words by :func:`search_words`; each word must be the start
        of a word (case-insensitively) of the definition id, reference, description or the
        data's values (:func:`wfe_core.search.searchable_text`). No words (empty terms, or
        only punctuation) match every instance. ``created_after`` is inclusive,
        ``created_before`` exclusive; ties in create time are ordered by id, descending. A
        search sees every ``index_workflow`` and ``index_workflows`` that returned before it.
        """


@runtime_checkable
class WorkflowListing(Protocol):
    """Optional for a :class:`PersistenceProvider`: its workflows' ids, in pages.

    ``host.rebuild_search_index()`` (and ``wfe reindex``) pages through a store with it to
    write every workflow to the search index again. The memory and SQLite providers have it;
    a store without it cannot be reindexed (a ``ConfigurationError`` says so).
    """

    async def count_workflows(self) -> int:
        """How many workflows the store holds."""

    async def list_workflow_ids(self, after: str | None = None, limit: int = 1000) -> list[str]:
        """Up to ``limit`` workflow ids greater than ``after`` (all when ``None``), ascending.

        Paging by the last id seen (not by offset) stays correct while workflows are added.
        """


@runtime_checkable
class WorkflowPurging(Protocol):
    """Optional for a :class:`PersistenceProvider`: deleting finished workflows for good.

    ``host.purge_workflows()``, a host's ``retention`` and ``wfe purge`` call it, a small
    batch at a time; a store without it cannot be purged (a ``ConfigurationError`` says so).
    The memory, SQLite and PostgreSQL providers have it; ``PurgeContract`` pins it.

    A workflow is purgeable when its status is one of ``statuses`` (only ``COMPLETE`` and
    ``TERMINATED`` are ever asked for) and its ``complete_time`` is before ``before``. Purging
    one deletes, in one transaction, the instance, its pointers, subscriptions, execution
    errors and its search entry where the index lives in the store; where the index lives
    elsewhere, the store records the workflow in its index outbox (at a revision above the
    last written), so the host's indexer removes the entry there (:class:`SearchRemoval`).
    """

    async def count_purgeable(
        self, before: datetime, statuses: Collection[WorkflowStatus], definition_id: str | None = None
    ) -> int:
        """How many workflows :meth:`purge_workflows` would delete (for progress and dry runs)."""

    async def purge_workflows(
        self,
        before: datetime,
        statuses: Collection[WorkflowStatus],
        definition_id: str | None = None,
        limit: int = 500,
    ) -> int:
        """Delete up to ``limit`` purgeable workflows, oldest completion first; return how many.

        One batch is one short transaction: callers loop until it returns less than ``limit``.
        """

    async def purge_events(self, before: datetime, limit: int = 500) -> int:
        """Delete up to ``limit`` processed events with ``event_time`` before ``before``.

        Unprocessed events are never purged. Returns how many were deleted.
        """


@runtime_checkable
class LeasedCreation(Protocol):
    """Optional for a :class:`PersistenceProvider` whose database also keeps a lock's leases.

    A host starting a workflow it will run at once takes the workflow's lease before the
    workflow exists: stored first, another host's poller could run it, let go of it and leave
    a lease granted afterwards to run a stale copy again. That costs a start two round trips
    and two commits, one after the other. A store that keeps ``lock``'s leases in its own
    database writes both in one transaction instead: the workflow appears to other hosts with
    its lease already held. The SQLite and PostgreSQL providers have it, each for a lock on
    the same database, and memory:// for its own lock (in one call without a pause, nothing
    runs between the two); ``LeasedCreationContract`` pins it.
    """

    def shares_leases_with(self, lock: LockProvider) -> bool:
        """True when ``lock`` keeps its leases where this store can write them in its own
        transactions (the same database), so :meth:`create_workflow_leased` applies."""

    async def create_workflow_leased(
        self, instance: WorkflowInstance, lock: LockProvider, key: str, owner: str, ttl: float
    ) -> bool:
        """Store a new instance as ``create_workflow`` does and, in the same transaction, take
        ``lock``'s lease ``key`` for ``owner`` for ``ttl`` seconds, as ``acquire`` would.
        ``lock`` is one this store shares its leases with (:meth:`shares_leases_with`).

        Returns whether the lease was taken; the instance is stored either way. Nothing is
        written, the lease included, when the instance cannot be stored. A caller cancelled
        during the call may still leave the write made; a ``release`` of the lease asked
        after the cancellation then takes effect after the write (the host gives the lease
        back that way), never before it, which would leave it held until it runs out.

        Raises:
            ProviderError: an instance with this id exists already (it is left untouched).
            TypeError: ``lock`` is not one this store shares its leases with; nothing written.
        """


@runtime_checkable
class SearchRemoval(Protocol):
    """Optional for a :class:`SearchIndex`: taking entries out (of purged workflows).

    The host's indexer calls it for outbox entries whose workflow the store no longer has.
    Every index shipped here has it; one without it keeps a purged workflow's entry.
    """

    async def remove_workflows(self, workflow_ids: Sequence[str]) -> None:
        """Delete the entries of these workflows; unknown ids are ignored."""


# A word character is a letter or a digit (str.isalnum): \w without the underscore. SQLite's
# FTS5 unicode61 tokenizer draws the same line (letters and numbers are token characters;
# punctuation, symbols, spaces, the underscore and NUL separate tokens).
_WORD = re.compile(r"[^\W_]+")


def search_words(text: str) -> list[str]:
    """The words of ``text`` as every search index sees them: the rule of search terms.

    A word is a run of letters and digits, lower-cased; everything else (spaces,
    punctuation, symbols, ``_``, NUL) only separates words and is otherwise ignored. So
    ``"Quick-fox"`` is ``["quick", "fox"]``, and ``"--"``, ``"*"`` or ``'"'`` have no words.
    Accents are kept: ``"café"`` does not match ``"cafe"``.
    """
    return _WORD.findall(text.lower())
