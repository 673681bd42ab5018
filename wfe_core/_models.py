"""The persisted state of workflows: instances, execution pointers, events, subscriptions, errors.

These attrs classes are what providers store and what the executor mutates. The executor,
the host and every provider import them; users see them through ``wfe``.
"""

from __future__ import annotations

import enum
import operator
import random
import time
from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Generic

import attrs

from ._typevars import D

__all__ = [
    "Event",
    "EventSubscription",
    "ExecutionError",
    "ExecutionPointer",
    "ExecutionPointers",
    "HostRecord",
    "PointerStatus",
    "WorkflowInstance",
    "WorkflowStatus",
    "new_id",
    "utcnow",
]


#: UUIDv7's version (7, bits 76-79) and variant (0b10, bits 62-63), and its low random part.
_VERSION_AND_VARIANT = 7 << 76 | 2 << 62
_LOW_62 = (1 << 62) - 1


def new_id() -> str:
    """A new id: 32 hex digits laid out as a UUIDv7 (RFC 9562).

    The first 48 bits are the Unix time in milliseconds, the rest (but the version and variant
    bits) random: 74 bits, so ids made in one millisecond still never meet. Time first, so that
    rows stored together sit together in the stores' B-tree indexes (SQLite, PostgreSQL): with
    random ids each new workflow, pointer and queue row landed on a random page of every index,
    and a write dirtied a page per row; in time order it dirties the pages the last ones did.
    Parking 20,000 sleepers on SQLite went 25-50 % faster, and the worker thread's CPU a third
    lower.

    Drawn from ``random``'s generator (seeded from the OS, and re-seeded in forked children)
    rather than ``os.urandom``: a syscall per id releases the GIL, and with SQLite's worker
    thread busy the loop then waits a whole switch interval to get it back. Not a secret: use
    :func:`random_hex` for a part that must differ between processes started together.
    """
    r = random.getrandbits(74)
    ms = time.time_ns() // 1_000_000
    return f"{ms << 80 | (r >> 62) << 64 | (r & _LOW_62) | _VERSION_AND_VARIANT:032x}"


def random_hex(digits: int) -> str:
    """``digits`` random hex digits (for names that must differ between processes)."""
    return f"{random.getrandbits(4 * digits):0{digits}x}"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class WorkflowStatus(enum.Enum):
    """Where a workflow instance stands."""

    RUNNABLE = "runnable"
    SUSPENDED = "suspended"
    COMPLETE = "complete"
    TERMINATED = "terminated"


class PointerStatus(enum.Enum):
    """Where one activation of a step stands."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    SLEEPING = "sleeping"
    WAITING_FOR_EVENT = "waiting_for_event"
    FAILED = "failed"
    COMPENSATED = "compensated"
    CANCELLED = "cancelled"
    PENDING_PREDECESSOR = "pending_predecessor"


@attrs.define(eq=True, on_setattr=attrs.setters.NO_OP)
class ExecutionPointer:
    """One activation of a step within a workflow instance.

    ``scope`` lists the ids of the enclosing container pointers, innermost first;
    ``children`` holds the ids of the first pointers of a container's latest body (earlier
    bodies' pointers are found through their ``scope``).
    """

    id: str = attrs.field(factory=new_id)
    step_id: int = 0
    active: bool = True
    status: PointerStatus = PointerStatus.PENDING
    sleep_until: datetime | None = None
    persistence_data: Any = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    event_name: str | None = None
    event_key: str | None = None
    event_published: bool = False
    event_data: Any = None
    step_name: str | None = None
    retry_count: int = 0
    children: list[str] = attrs.field(factory=list)
    context_item: Any = None
    predecessor_id: str | None = None
    outcome: Any = None
    scope: list[str] = attrs.field(factory=list)
    extension_attributes: dict[str, Any] = attrs.field(factory=dict)


class ExecutionPointers:
    """The pointers of one instance, by id, in creation order.

    Keeps the set of *open* pointers (no end time) so that a pass looks only at live work:
    a workflow with 10,000 finished steps costs a pass no more than one with ten.
    """

    __slots__ = ("_all", "_open", "_place")

    def __init__(self, pointers: Iterable[ExecutionPointer] = ()) -> None:
        self._all: dict[str, ExecutionPointer] = {}
        self._open: dict[str, ExecutionPointer] = {}
        self._place: dict[str, int] = {}
        for p in pointers:
            self.add(p)

    def add(self, pointer: ExecutionPointer) -> ExecutionPointer:
        if pointer.id not in self._all:
            self._place[pointer.id] = len(self._all)
        self._all[pointer.id] = pointer
        if pointer.end_time is None:
            self._open[pointer.id] = pointer
        return pointer

    def close(self, pointer: ExecutionPointer, when: datetime, status: PointerStatus) -> None:
        """End a pointer: inactive, with an end time and a final status."""
        pointer.active = False
        pointer.end_time = when
        pointer.status = status
        self._open.pop(pointer.id, None)

    def reopen(self, pointer: ExecutionPointer) -> None:
        """Note that a pointer's end time was cleared."""
        if pointer.end_time is None:
            self._open[pointer.id] = pointer

    def position(self, pointer_id: str) -> int:
        """The pointer's place in creation order, from 0 (pointers are never removed).

        Raises:
            KeyError: no pointer has this id.
        """
        return self._place[pointer_id]

    def get(self, pointer_id: str) -> ExecutionPointer | None:
        return self._all.get(pointer_id)

    def first(self) -> ExecutionPointer | None:
        """The pointer created first (None when there are none), without walking the rest."""
        return next(iter(self._all.values()), None)

    def __getitem__(self, pointer_id: str) -> ExecutionPointer:
        return self._all[pointer_id]

    def open(self) -> list[ExecutionPointer]:
        """Pointers with no end time, in creation order (a copy: safe to close them meanwhile)."""
        return list(self._open.values())

    def open_view(self) -> Collection[ExecutionPointer]:
        """Pointers with no end time, as a live view: for reading only, nothing may close."""
        return self._open.values()

    def __iter__(self) -> Iterator[ExecutionPointer]:
        return iter(self._all.values())

    def __len__(self) -> int:
        return len(self._all)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExecutionPointers):
            return list(self._all.values()) == list(other._all.values())
        if isinstance(other, list):
            return list(self._all.values()) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"ExecutionPointers({list(self._all.values())!r})"


def _pointers(value: Iterable[ExecutionPointer]) -> ExecutionPointers:
    return value if isinstance(value, ExecutionPointers) else ExecutionPointers(value)


@attrs.define(eq=True, on_setattr=attrs.setters.NO_OP)
class WorkflowInstance(Generic[D]):
    """One run of a workflow definition; generic in its data type (``instance.data``).

    ``host.get_workflow`` and ``wait_for_workflow`` return a ``WorkflowInstance`` (of ``Any``);
    a ``WorkflowHandle[Order]`` gives a ``WorkflowInstance[Order]``. Inside the engine and the
    providers ``data`` may be the stored JSON text for a while.

    ``revision`` counts persisted passes; providers use it for optimistic concurrency.
    ``next_execution`` is when the instance should run next (``None``: nothing scheduled).
    ``trace_context`` is the W3C ``traceparent`` of the span that started it (None: none was
    current): every pass is traced as its child, so one workflow is one trace on any host.
    Set once, when the instance is created; providers store it and never change it.
    ``priority`` is the workflow's level, 0 (critical) to 7 (idle), 4 by default
    (``wfe_core._priority``); providers store it with every write.
    """

    id: str = attrs.field(factory=new_id)
    definition_id: str = ""
    version: int = 1
    status: WorkflowStatus = WorkflowStatus.RUNNABLE
    data: D = attrs.field(default=None)
    reference: str | None = None
    description: str | None = None
    create_time: datetime = attrs.field(factory=utcnow)
    complete_time: datetime | None = None
    next_execution: datetime | None = None
    execution_pointers: ExecutionPointers = attrs.field(
        factory=ExecutionPointers, converter=_pointers
    )
    revision: int = 0
    parent_workflow_id: str | None = None
    trace_context: str | None = None
    priority: int = 4

    @property
    def result(self) -> Any:
        """What a durable function (``@orchestration``) returned, once it completed; else None.

        Kept with the function's first pointer (its ``extension_attributes["result"]``), so
        it round-trips through every provider with the pointers. Builder workflows keep
        their results in their data: for them it is None.
        """
        for pointer in self.execution_pointers:
            return pointer.extension_attributes.get("result")
        return None


_INSTANCE_FIELDS = [f.name for f in attrs.fields(WorkflowInstance)]
_instance_values = operator.attrgetter(*_INSTANCE_FIELDS)
_DATA_AT = _INSTANCE_FIELDS.index("data")
_POINTERS_AT = _INSTANCE_FIELDS.index("execution_pointers")


def fields_only(instance: WorkflowInstance, data: Any) -> WorkflowInstance:
    """A copy of ``instance``'s fields with ``data`` and no pointers, for the search index.

    ``attrs.evolve`` does this too, field by field in Python; this runs for every start, and
    reads the fields in one call.
    """
    values = list(_instance_values(instance))
    values[_DATA_AT] = data
    values[_POINTERS_AT] = ExecutionPointers()
    return WorkflowInstance(*values)


@attrs.define(eq=True)
class Event:
    """An external event, published with a name, a key and optional data.

    ``trace_context`` is the W3C ``traceparent`` of the ``publish_event`` span (None: none),
    the parent of the event's delivery span. Providers store it as it is.
    """

    event_name: str
    event_key: str
    event_data: Any = None
    event_time: datetime = attrs.field(factory=utcnow)
    id: str = attrs.field(factory=new_id)
    is_processed: bool = False
    trace_context: str | None = None


@attrs.define(eq=True)
class EventSubscription:
    """A waiting pointer's interest in events of one name and key, from ``subscribe_as_of`` on."""

    workflow_id: str
    step_id: int
    execution_pointer_id: str
    event_name: str
    event_key: str
    subscribe_as_of: datetime
    subscription_data: Any = None
    id: str = attrs.field(factory=new_id)


@attrs.define(eq=True)
class ExecutionError:
    """What a failed step raised, and when."""

    workflow_id: str
    execution_pointer_id: str
    message: str
    error_time: datetime = attrs.field(factory=utcnow)
    step_id: int | None = None
    error_type: str | None = None


#: A host that missed this many heartbeats in a row is stale: stopped, hung or cut off.
STALE_AFTER_BEATS = 3


@attrs.define(eq=True)
class HostRecord:
    """The heartbeat of one running host: who it is, since when, and what it is doing.

    Recorded by the host every ``interval`` seconds in its heartbeat store and removed when
    it stops cleanly; a record not renewed for :data:`STALE_AFTER_BEATS` intervals belongs to
    a host that died, hung or lost its store (:meth:`is_stale`).
    """

    id: str
    hostname: str
    pid: int
    wfe_version: str
    started: datetime
    last_seen: datetime
    interval: float
    in_flight: int = 0
    #: definition id -> the versions this host has registered (and so can run).
    definitions: dict[str, list[int]] = attrs.field(factory=dict)
    #: Set by a host that stops: no workflows are taken any more (it drains).
    draining: bool = False

    def is_stale(self, now: datetime) -> bool:
        """Whether the host stopped reporting (missed :data:`STALE_AFTER_BEATS` beats) by ``now``."""
        return (now - self.last_seen).total_seconds() > STALE_AFTER_BEATS * self.interval

    def state(self, now: datetime) -> str:
        """``"live"``, ``"draining"`` (stopping) or ``"stale"`` (stopped reporting) at ``now``."""
        if self.is_stale(now):
            return "stale"
        return "draining" if self.draining else "live"

    def runs(self, definition_id: str, version: int) -> bool:
        """Whether this host has ``definition_id`` at ``version`` registered."""
        return version in self.definitions.get(definition_id, ())

    def takes(self, definition_id: str, version: int, now: datetime) -> bool:
        """Whether this host is live at ``now`` and runs ``definition_id`` at ``version``."""
        return self.state(now) == "live" and self.runs(definition_id, version)
