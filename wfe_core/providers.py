"""The four provider capabilities as small async Protocols: persistence, lock, queue, search.

Providers implement these; the host calls them. The contract suites in
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
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from ._models import (
    Event,
    EventSubscription,
    ExecutionError,
    WorkflowInstance,
    WorkflowStatus,
)

__all__ = [
    "LockProvider",
    "PersistenceProvider",
    "QueueKind",
    "QueueProvider",
    "SearchFilter",
    "SearchIndex",
    "SearchPage",
    "WorkflowSummary",
]


class QueueKind(enum.Enum):
    """The independent queues a host consumes."""

    WORKFLOW = "workflow"
    EVENT = "event"
    INDEX = "index"


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

    async def get_events(self, event_name: str, event_key: str, as_of: datetime) -> list[str]:
        """Ids of events of this name and key with ``event_time >= as_of``, oldest first,
        processed or not."""

    async def mark_event_processed(self, event_id: str) -> None: ...

    async def mark_event_unprocessed(self, event_id: str) -> None: ...

    async def create_subscription(self, subscription: EventSubscription) -> str: ...

    async def get_subscription(self, subscription_id: str) -> EventSubscription | None: ...

    async def get_subscriptions(
        self, event_name: str, event_key: str, as_of: datetime
    ) -> list[EventSubscription]:
        """Subscriptions of this name and key with ``subscribe_as_of <= as_of``."""

    async def terminate_subscription(self, subscription_id: str) -> None:
        """Delete a subscription; unknown ids are ignored."""

    async def persist_errors(self, errors: Sequence[ExecutionError]) -> None: ...

    async def get_execution_errors(self, workflow_id: str) -> list[ExecutionError]:
        """Errors of one workflow, oldest (by ``error_time``) first."""


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
    """FIFO work queues of ids, one per :class:`QueueKind`, de-duplicated while queued."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def enqueue(self, kind: QueueKind, item_id: str) -> None:
        """Append an id, unless it is already waiting in that queue."""

    async def dequeue(self, kind: QueueKind, timeout: float) -> str | None:
        """Take the oldest id, waiting up to ``timeout`` seconds; ``None`` if none came."""


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
    """Full-text search over workflows."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        """Add or replace one instance (``data`` is its JSON text)."""

    async def search(
        self, terms: str, filters: SearchFilter, skip: int = 0, take: int = 20
    ) -> SearchPage:
        """Instances matching every term (empty: all) and the filters, newest first.

        Terms are case-insensitive words matched against the definition id, reference,
        description and the data's values. ``created_after`` is inclusive, ``created_before``
        exclusive. A search sees every ``index_workflow`` that returned before it.
        """
