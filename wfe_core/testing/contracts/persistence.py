"""The persistence contract: :class:`PersistenceContract`, run against every persistence provider.

A provider author subclasses the suite and supplies a ``persistence`` fixture that yields a
started, empty :class:`~wfe_core.providers.PersistenceProvider` and closes it afterwards::

    class TestMyPersistence(PersistenceContract):
        @pytest.fixture
        async def persistence(self, tmp_path):
            provider = MyPersistence(tmp_path / "store")
            await provider.start()
            yield provider
            await provider.close()

The cases port WFE's ``persistence_suite!`` (``reference/wfe-rust.md`` §8.2) and workflow-core's
``BasePersistenceFixture`` (``reference/workflow-core-behaviour.md`` §3.1), made stricter: whole
instances are compared with ``==`` (every field, pointer order, scope order), awkward values go
through the converter's tags, and optimistic concurrency, dirty-pointer writes and orderings are
pinned. Cases of the references that our Protocol has no feature for are left out: definition
sequences (WFE 13), human names (WFE 14), subscription tokens (WFE 16) and first open
subscription (WFE 17), scheduled commands (WFE 25). WFE 15 (root workflow id) is covered by
``parent_workflow_id`` in the round-trip cases.

At this boundary an instance's ``data`` is the JSON text made by
:func:`~wfe_core.serialization.encode_data`; a provider stores it as text and returns it unchanged.
Every datetime a provider returns is timezone-aware and in UTC.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from ..._models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    ExecutionPointers,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
    utcnow,
)
from ...errors import ConcurrencyError, WorkflowNotFoundError
from ...providers import PersistenceProvider, WorkflowWrite
from ...serialization import encode_data
from .persistence_priority import PersistencePriorityContract

__all__ = [
    "PersistenceContract",
    "awkward_value",
    "sample_error",
    "sample_event",
    "sample_instance",
    "sample_pointer",
    "sample_subscription",
]

#: A fixed instant with microseconds, to catch providers that round or drop the time zone.
T0 = datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=UTC)

UNICODE_TEXT = "Zoë 🍕 — 日本語 ✓"


#: A W3C traceparent, as ``WorkflowHost`` stores with workflows and events.
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def awkward_value() -> dict[str, Any]:
    """A value that JSON alone cannot carry; it must come back equal and of the same types."""
    return {
        "decimal": Decimal("12.3400"),
        "datetime": T0,
        "date": date(2000, 1, 1),
        "timedelta": timedelta(days=1, seconds=2, microseconds=3),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "tuple": (1, "two", None),
        "set": {1, 2, 3},
        "int_keys": {1: "one", 2: "two"},
        "enum": WorkflowStatus.SUSPENDED,
        "bytes": b"\x00\xffwfe",
        "nested": {"list": [1, 2.5, True, None, {"deep": [Decimal("0.1")]}], "empty": {}},
        "text": UNICODE_TEXT,
        "big_int": 2**70,
    }


def sample_pointer(**overrides: Any) -> ExecutionPointer:
    """An execution pointer with every field set away from its default.

    Args:
        **overrides: fields to set instead.
    """
    fields: dict[str, Any] = {
        "step_id": 4,
        "active": False,
        "status": PointerStatus.SLEEPING,
        "sleep_until": T0 + timedelta(hours=1),
        "persistence_data": awkward_value(),
        "start_time": T0,
        "end_time": None,
        "event_name": "oven.timer ✉",
        "event_key": "order-ü-1",
        "event_published": True,
        "event_data": {"temperature": Decimal("221.5"), "at": T0},
        "step_name": "Bake 🍕",
        "retry_count": 3,
        "children": ["c3", "c1", "c2"],
        "context_item": {"pizza": "margherita", "price": Decimal("9.90")},
        "predecessor_id": "p0",
        "outcome": {"route": 2},
        "scope": ["4", "3", "2", "1"],
        "extension_attributes": {"attempt": Decimal(2), "when": T0, "tags": ["a", "é"]},
    }
    fields.update(overrides)
    return ExecutionPointer(**fields)


def sample_instance(**overrides: Any) -> WorkflowInstance:
    """A workflow instance with two pointers and every field set away from its default.

    Args:
        **overrides: fields to set instead (``execution_pointers`` replaces the pointers).
    """
    fields: dict[str, Any] = {
        "definition_id": "contract-workflow",
        "version": 3,
        "status": WorkflowStatus.RUNNABLE,
        "data": encode_data({"value1": 7, "name": UNICODE_TEXT, "price": Decimal("1.10")}),
        "reference": "My Reference 🍕",
        "description": "My Description",
        "create_time": T0,
        "complete_time": None,
        "next_execution": T0 + timedelta(minutes=5),
        "parent_workflow_id": "parent-1",
        "priority": 2,
        "execution_pointers": [
            sample_pointer(step_id=0, status=PointerStatus.COMPLETE, end_time=T0, active=False),
            sample_pointer(step_id=1, status=PointerStatus.PENDING, active=True),
        ],
    }
    fields.update(overrides)
    return WorkflowInstance(**fields)


def sample_event(**overrides: Any) -> Event:
    """An unprocessed event carrying awkward data.

    Args:
        **overrides: fields to set instead.
    """
    fields: dict[str, Any] = {
        "event_name": "oven.timer",
        "event_key": "order-1",
        "event_data": awkward_value(),
        "event_time": T0,
    }
    fields.update(overrides)
    return Event(**fields)


def sample_subscription(workflow_id: str, **overrides: Any) -> EventSubscription:
    """A subscription of ``workflow_id`` to ``oven.timer``/``order-1``.

    Args:
        workflow_id: the subscribing instance.
        **overrides: fields to set instead.
    """
    fields: dict[str, Any] = {
        "workflow_id": workflow_id,
        "step_id": 1,
        "execution_pointer_id": "p-1",
        "event_name": "oven.timer",
        "event_key": "order-1",
        "subscribe_as_of": T0,
        "subscription_data": {"effective": T0, "amount": Decimal("3.50")},
    }
    fields.update(overrides)
    return EventSubscription(**fields)


def sample_error(workflow_id: str, **overrides: Any) -> ExecutionError:
    """An execution error of ``workflow_id``.

    Args:
        workflow_id: the failing instance.
        **overrides: fields to set instead.
    """
    fields: dict[str, Any] = {
        "workflow_id": workflow_id,
        "execution_pointer_id": "p-1",
        "message": f"boom: {UNICODE_TEXT}",
        "error_time": T0,
        "step_id": 1,
        "error_type": "builtins.ValueError",
    }
    fields.update(overrides)
    return ExecutionError(**fields)


def _assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None, f"{value!r} is naive; providers return aware UTC datetimes"
    assert value.utcoffset() == timedelta(0), f"{value!r} is not in UTC"


def _by_id(items: list[Any]) -> dict[str, Any]:
    return {item.id: item for item in items}


async def _store_with_pass(
    persistence: PersistenceProvider,
    subscriptions: Sequence[EventSubscription] = (),
    errors: Sequence[ExecutionError] = (),
) -> None:
    """Store subscriptions and errors the way the engine does: with a pass of their workflow.

    Each workflow id they name gets an instance of that id if it has none yet.
    """
    ids = dict.fromkeys([s.workflow_id for s in subscriptions] + [e.workflow_id for e in errors])
    for wid in ids:
        try:
            instance = await persistence.get_workflow(wid)
        except WorkflowNotFoundError:
            instance = sample_instance(id=wid)
            await persistence.create_workflow(instance)
        await persistence.persist_workflow(
            instance,
            changed_pointers=(),
            subscriptions=[s for s in subscriptions if s.workflow_id == wid],
            errors=[e for e in errors if e.workflow_id == wid],
        )


class PersistenceContract(PersistencePriorityContract):
    """What every persistence provider does. Needs a ``persistence`` fixture (started, empty)."""

    # -- creating and loading ------------------------------------------------------------------

    async def test_create_returns_the_id_and_sets_revision_1(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        workflow_id = await persistence.create_workflow(instance)
        assert workflow_id
        assert workflow_id == instance.id
        assert instance.revision == 1
        assert (await persistence.get_workflow(workflow_id)).revision == 1

    async def test_create_keeps_a_given_id(self, persistence: PersistenceProvider) -> None:
        instance = sample_instance(id="order-42")
        assert await persistence.create_workflow(instance) == "order-42"
        assert (await persistence.get_workflow("order-42")).id == "order-42"

    async def test_get_round_trips_the_whole_instance(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        loaded = await persistence.get_workflow(instance.id)
        assert loaded == instance
        assert [p.id for p in loaded.execution_pointers] == [
            p.id for p in instance.execution_pointers
        ]
        for pointer in loaded.execution_pointers:
            assert pointer.scope == ["4", "3", "2", "1"]
            assert pointer.children == ["c3", "c1", "c2"]
        first = next(iter(loaded.execution_pointers))
        assert str(first.persistence_data["decimal"]) == "12.3400"
        assert type(first.persistence_data["tuple"]) is tuple
        for value in (loaded.create_time, loaded.next_execution, first.sleep_until, first.end_time):
            _assert_utc(value)

    async def test_round_trip_keeps_sparse_fields_none_and_empty(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = WorkflowInstance(
            definition_id="bare", data="null", execution_pointers=[ExecutionPointer()]
        )
        await persistence.create_workflow(instance)
        assert await persistence.get_workflow(instance.id) == instance

    async def test_pointer_order_is_creation_order(self, persistence: PersistenceProvider) -> None:
        pointers = [sample_pointer(id=f"p{i}", step_id=i) for i in (5, 1, 9, 3, 7, 0, 8)]
        instance = sample_instance(execution_pointers=pointers)
        await persistence.create_workflow(instance)
        loaded = await persistence.get_workflow(instance.id)
        assert [p.id for p in loaded.execution_pointers] == [p.id for p in pointers]

    @pytest.mark.parametrize(
        "data",
        [
            encode_data({"name": UNICODE_TEXT, "nested": {"items": [1, 2, 3]}}),
            '{"b": 1,  "a": "Zoë 🍕 raw UTF-8, not escaped",\n "c": 1.10}',
            "null",
            '"just a string"',
        ],
        ids=["encoded", "raw-utf8-spacing-order", "null", "string"],
    )
    async def test_data_text_round_trips_exactly(
        self, persistence: PersistenceProvider, data: str
    ) -> None:
        instance = sample_instance(data=data)
        await persistence.create_workflow(instance)
        assert (await persistence.get_workflow(instance.id)).data == data

    async def test_one_megabyte_of_data_round_trips(self, persistence: PersistenceProvider) -> None:
        data = encode_data(
            {"blob": "🍕x" * 200_000, "rows": [{"n": i, "v": f"row {i}"} for i in range(20_000)]}
        )
        assert len(data) > 1_000_000
        instance = sample_instance(data=data)
        await persistence.create_workflow(instance)
        assert (await persistence.get_workflow(instance.id)).data == data

    async def test_get_unknown_raises_workflow_not_found(
        self, persistence: PersistenceProvider
    ) -> None:
        with pytest.raises(WorkflowNotFoundError) as caught:
            await persistence.get_workflow("no-such-workflow")
        assert caught.value.workflow_id == "no-such-workflow"

    async def test_get_status_follows_persists_and_knows_unknown_ids(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        assert await persistence.get_status(instance.id) is WorkflowStatus.RUNNABLE
        instance.status = WorkflowStatus.SUSPENDED
        await persistence.persist_workflow(instance, changed_pointers=())
        assert await persistence.get_status(instance.id) is WorkflowStatus.SUSPENDED
        with pytest.raises(WorkflowNotFoundError):
            await persistence.get_status("no-such-workflow")

    async def test_get_workflows_loads_several_and_leaves_out_unknown_ids(
        self, persistence: PersistenceProvider
    ) -> None:
        instances = [sample_instance(reference=f"ref-{i}") for i in range(3)]
        for instance in instances:
            await persistence.create_workflow(instance)
        ids = [instances[0].id, "unknown-1", instances[1].id, instances[2].id, "unknown-2"]
        loaded = await persistence.get_workflows(ids)
        assert len(loaded) == 3
        assert _by_id(loaded) == _by_id(instances)
        assert await persistence.get_workflows([]) == []

    async def test_stored_instance_is_independent_of_the_callers_objects(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        expected = await persistence.get_workflow(instance.id)
        instance.description = "changed after create"
        next(iter(instance.execution_pointers)).persistence_data["decimal"] = Decimal(0)
        loaded = await persistence.get_workflow(instance.id)
        assert loaded == expected
        next(iter(loaded.execution_pointers)).scope.append("mutated")
        loaded.status = WorkflowStatus.TERMINATED
        assert await persistence.get_workflow(instance.id) == expected

    async def test_trace_context_round_trips_and_passes_keep_it(
        self, persistence: PersistenceProvider
    ) -> None:
        # The W3C traceparent of the span that started the workflow: every pass on any host
        # is traced as its child (wfe_core.tracing), so it must come back exactly, always.
        instance = sample_instance(trace_context=TRACEPARENT)
        await persistence.create_workflow(instance)
        loaded = await persistence.get_workflow(instance.id)
        assert loaded.trace_context == TRACEPARENT
        loaded.status = WorkflowStatus.COMPLETE
        await persistence.persist_workflow(loaded, changed_pointers=None)
        assert (await persistence.get_workflow(instance.id)).trace_context == TRACEPARENT
        assert [w.trace_context for w in await persistence.get_workflows([instance.id])] == [
            TRACEPARENT
        ]

    # -- persisting a pass ---------------------------------------------------------------------

    async def test_persist_updates_the_instance_fields(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        copy = await persistence.get_workflow(instance.id)
        copy.status = WorkflowStatus.SUSPENDED
        copy.description = "updated ✓"
        copy.reference = "new reference"
        copy.next_execution = T0 + timedelta(days=1)
        copy.complete_time = T0 + timedelta(days=2)
        copy.data = encode_data({"value1": 8})
        copy.version = 4
        copy.parent_workflow_id = None
        await persistence.persist_workflow(copy)
        assert copy.revision == 2
        assert await persistence.get_workflow(instance.id) == copy

    async def test_persist_can_clear_next_execution_and_complete_time(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance(complete_time=T0)
        await persistence.create_workflow(instance)
        instance.next_execution = None
        instance.complete_time = None
        await persistence.persist_workflow(instance)
        loaded = await persistence.get_workflow(instance.id)
        assert loaded.next_execution is None
        assert loaded.complete_time is None

    async def test_persist_adds_pointers_like_workflow_core(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance(
            execution_pointers=[ExecutionPointer(step_id=0, scope=["1", "2", "3", "4"])]
        )
        await persistence.create_workflow(instance)
        copy = await persistence.get_workflow(instance.id)
        copy.next_execution = T0 + timedelta(milliseconds=7)
        copy.execution_pointers.add(ExecutionPointer(step_id=1))
        await persistence.persist_workflow(copy)
        assert await persistence.get_workflow(instance.id) == copy

    async def test_persist_writes_only_the_changed_pointers_named(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        first, second = list(instance.execution_pointers)
        copy = await persistence.get_workflow(instance.id)
        copy.execution_pointers[first.id].status = PointerStatus.FAILED
        copy.execution_pointers[first.id].retry_count = 4
        copy.execution_pointers[second.id].status = PointerStatus.CANCELLED  # not listed
        added = copy.execution_pointers.add(ExecutionPointer(step_id=2, scope=["x", "y"]))
        copy.status = WorkflowStatus.SUSPENDED
        await persistence.persist_workflow(copy, changed_pointers=[first.id, added.id])
        loaded = await persistence.get_workflow(instance.id)
        assert loaded.status is WorkflowStatus.SUSPENDED
        assert [p.id for p in loaded.execution_pointers] == [first.id, second.id, added.id]
        assert loaded.execution_pointers[first.id] == copy.execution_pointers[first.id]
        assert loaded.execution_pointers[second.id] == second
        assert loaded.execution_pointers[second.id].status is PointerStatus.PENDING
        assert loaded.execution_pointers[added.id] == added

    async def test_persist_with_no_changed_pointers_writes_none(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        copy = await persistence.get_workflow(instance.id)
        for pointer in copy.execution_pointers:
            pointer.retry_count = 99
        copy.description = "fields still written"
        await persistence.persist_workflow(copy, changed_pointers=())
        loaded = await persistence.get_workflow(instance.id)
        assert loaded.description == "fields still written"
        assert loaded.execution_pointers == instance.execution_pointers

    async def test_persist_with_changed_pointers_none_writes_all(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        copy = await persistence.get_workflow(instance.id)
        for pointer in copy.execution_pointers:
            pointer.status = PointerStatus.COMPENSATED
            pointer.event_data = {"changed": Decimal("1.5")}
        copy.execution_pointers.add(ExecutionPointer(step_id=7))
        await persistence.persist_workflow(copy, changed_pointers=None)
        assert await persistence.get_workflow(instance.id) == copy

    async def test_persist_with_changed_pointers_none_drops_the_stored_pointers_it_lacks(
        self, persistence: PersistenceProvider
    ) -> None:
        # A continue-as-new: the instance starts over with one new pointer, and the store
        # keeps only that one, in this write and in a group write alike.
        for together in (False, True):
            instance = sample_instance()
            await persistence.create_workflow(instance)
            copy = await persistence.get_workflow(instance.id)
            assert len(copy.execution_pointers) > 1
            fresh = ExecutionPointer(step_id=0, extension_attributes={"kept": True})
            copy.execution_pointers = ExecutionPointers([fresh])
            if together:
                outcomes = await persistence.persist_workflows([WorkflowWrite(copy, None)])
                assert outcomes == [None]
            else:
                await persistence.persist_workflow(copy, changed_pointers=None)
            loaded = await persistence.get_workflow(instance.id)
            assert list(loaded.execution_pointers) == [fresh]
            assert loaded.revision == 2

    async def test_successive_persists_increment_the_revision(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        for expected in (2, 3, 4):
            instance.description = f"pass {expected}"
            await persistence.persist_workflow(instance, changed_pointers=())
            assert instance.revision == expected
        loaded = await persistence.get_workflow(instance.id)
        assert loaded.revision == 4
        assert loaded.description == "pass 4"

    async def test_stale_persist_raises_concurrency_error_and_writes_nothing(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        winner = await persistence.get_workflow(instance.id)
        loser = await persistence.get_workflow(instance.id)
        winner_pointer = next(iter(winner.execution_pointers))
        winner_pointer.retry_count = 10
        winner.description = "winner"
        await persistence.persist_workflow(winner, changed_pointers=[winner_pointer.id])
        assert winner.revision == 2

        loser.description = "loser"
        loser.status = WorkflowStatus.TERMINATED
        for pointer in loser.execution_pointers:
            pointer.retry_count = 20
        added = loser.execution_pointers.add(ExecutionPointer(step_id=9))
        loser_sub = sample_subscription(instance.id, event_name="loser.event")
        loser_error = sample_error(instance.id, message="loser error")
        with pytest.raises(ConcurrencyError) as caught:
            await persistence.persist_workflow(
                loser,
                changed_pointers=None,
                subscriptions=[loser_sub],
                errors=[loser_error],
            )
        assert caught.value.workflow_id == instance.id
        assert loser.revision == 1
        stored = await persistence.get_workflow(instance.id)
        assert stored == winner
        assert stored.execution_pointers.get(added.id) is None
        assert await persistence.get_subscriptions("loser.event", "order-1", T0) == []
        assert await persistence.get_execution_errors(instance.id) == []

    async def test_racing_persists_of_one_revision_let_exactly_one_win(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        copies = [await persistence.get_workflow(instance.id) for _ in range(5)]
        for number, copy in enumerate(copies):
            copy.description = f"copy {number}"
        results = await asyncio.gather(
            *(persistence.persist_workflow(copy) for copy in copies), return_exceptions=True
        )
        winners = [copy for copy, result in zip(copies, results, strict=True) if result is None]
        assert len(winners) == 1, results
        assert all(isinstance(r, ConcurrencyError) for r in results if r is not None), results
        loaded = await persistence.get_workflow(instance.id)
        assert loaded == winners[0]
        assert loaded.revision == 2

    async def test_persist_unknown_raises_workflow_not_found(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance(revision=1)
        with pytest.raises(WorkflowNotFoundError):
            await persistence.persist_workflow(instance)
        with pytest.raises(WorkflowNotFoundError):
            await persistence.get_workflow(instance.id)

    async def test_concurrent_creates_and_persists_all_succeed(
        self, persistence: PersistenceProvider
    ) -> None:
        async def create_and_persist(number: int) -> WorkflowInstance:
            instance = sample_instance(reference=f"concurrent-{number}")
            await persistence.create_workflow(instance)
            copy = await persistence.get_workflow(instance.id)
            copy.next_execution = T0 + timedelta(milliseconds=number)
            added = copy.execution_pointers.add(ExecutionPointer(step_id=number))
            await persistence.persist_workflow(copy, changed_pointers=[added.id])
            return copy

        persisted = await asyncio.gather(*(create_and_persist(n) for n in range(30)))
        ids = [copy.id for copy in persisted]
        assert len(set(ids)) == 30
        loaded = await persistence.get_workflows(ids)
        assert _by_id(loaded) == _by_id(list(persisted))

    # -- persisting several passes together -----------------------------------------------------

    async def test_persist_workflows_writes_every_pass_and_bumps_each_revision(
        self, persistence: PersistenceProvider
    ) -> None:
        instances = [sample_instance(description=f"wf {n}") for n in range(3)]
        for instance in instances:
            await persistence.create_workflow(instance)
        writes = []
        for n, instance in enumerate(instances):
            instance.description = f"pass {n}"
            added = instance.execution_pointers.add(ExecutionPointer(step_id=7))
            sub = sample_subscription(instance.id, event_key=f"key-{n}")
            error = sample_error(instance.id, message=f"error {n}")
            writes.append(WorkflowWrite(instance, [added.id], [sub], [error]))
        assert await persistence.persist_workflows(writes) == [None, None, None]
        assert await persistence.persist_workflows([]) == []
        for n, instance in enumerate(instances):
            assert instance.revision == 2
            assert await persistence.get_workflow(instance.id) == instance
            assert await persistence.get_subscriptions("oven.timer", f"key-{n}", T0) == [
                writes[n].subscriptions[0]
            ]
            assert await persistence.get_execution_errors(instance.id) == list(writes[n].errors)

    async def test_persist_workflows_fails_each_bad_pass_alone(
        self, persistence: PersistenceProvider
    ) -> None:
        before, stale, after = (sample_instance() for _ in range(3))
        for instance in (before, stale, after):
            await persistence.create_workflow(instance)
        winner = await persistence.get_workflow(stale.id)
        await persistence.persist_workflow(winner, changed_pointers=())
        unknown = sample_instance()
        for instance in (before, stale, after, unknown):
            instance.description = "batch"
        stale_sub = sample_subscription(stale.id, event_name="stale.event")
        stale_error = sample_error(stale.id)
        outcomes = await persistence.persist_workflows(
            [
                WorkflowWrite(before, ()),
                WorkflowWrite(stale, None, [stale_sub], [stale_error]),
                WorkflowWrite(unknown, None),
                WorkflowWrite(after, ()),
            ]
        )
        assert outcomes[0] is None and outcomes[3] is None
        assert isinstance(outcomes[1], ConcurrencyError)
        assert outcomes[1].workflow_id == stale.id
        assert isinstance(outcomes[2], WorkflowNotFoundError)
        assert (before.revision, stale.revision, after.revision) == (2, 1, 2)
        assert await persistence.get_workflow(before.id) == before
        assert await persistence.get_workflow(after.id) == after
        assert await persistence.get_workflow(stale.id) == winner
        assert await persistence.get_subscriptions("stale.event", "order-1", T0) == []
        assert await persistence.get_execution_errors(stale.id) == []
        with pytest.raises(WorkflowNotFoundError):
            await persistence.get_workflow(unknown.id)

    async def test_persist_workflows_of_one_revision_twice_lets_the_first_win(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        first = await persistence.get_workflow(instance.id)
        second = await persistence.get_workflow(instance.id)
        first.description, second.description = "first", "second"
        outcomes = await persistence.persist_workflows(
            [WorkflowWrite(first, ()), WorkflowWrite(second, ())]
        )
        assert outcomes[0] is None
        assert isinstance(outcomes[1], ConcurrencyError)
        assert (await persistence.get_workflow(instance.id)).description == "first"

    # -- the runnable query --------------------------------------------------------------------

    async def test_get_runnable_instances_returns_due_runnable_ones_soonest_first(
        self, persistence: PersistenceProvider
    ) -> None:
        now = utcnow()

        async def create(status: WorkflowStatus, next_execution: datetime | None) -> str:
            instance = sample_instance(status=status, next_execution=next_execution)
            return await persistence.create_workflow(instance)

        one_hour_ago = await create(WorkflowStatus.RUNNABLE, now - timedelta(hours=1))
        three_hours_ago = await create(WorkflowStatus.RUNNABLE, now - timedelta(hours=3))
        exactly_now = await create(WorkflowStatus.RUNNABLE, now)
        two_hours_ago = await create(WorkflowStatus.RUNNABLE, now - timedelta(hours=2))
        await create(WorkflowStatus.RUNNABLE, now + timedelta(hours=1))
        await create(WorkflowStatus.RUNNABLE, None)
        await create(WorkflowStatus.SUSPENDED, now - timedelta(hours=1))
        await create(WorkflowStatus.COMPLETE, now - timedelta(hours=1))
        await create(WorkflowStatus.TERMINATED, now - timedelta(hours=1))

        runnable = await persistence.get_runnable_instances(now)
        assert runnable == [
            (three_hours_ago, now - timedelta(hours=3)),
            (two_hours_ago, now - timedelta(hours=2)),
            (one_hour_ago, now - timedelta(hours=1)),
            (exactly_now, now),
        ]
        for _, next_execution in runnable:
            _assert_utc(next_execution)
        assert [i for i, _ in await persistence.get_runnable_instances(now, limit=2)] == [
            three_hours_ago,
            two_hours_ago,
        ]

    async def test_runnable_query_follows_persisted_changes(
        self, persistence: PersistenceProvider
    ) -> None:
        now = utcnow()
        instance = sample_instance(next_execution=now - timedelta(minutes=1))
        await persistence.create_workflow(instance)
        assert [i for i, _ in await persistence.get_runnable_instances(now)] == [instance.id]
        instance.next_execution = None
        await persistence.persist_workflow(instance, changed_pointers=())
        assert await persistence.get_runnable_instances(now) == []
        instance.next_execution = now - timedelta(seconds=1)
        instance.status = WorkflowStatus.COMPLETE
        await persistence.persist_workflow(instance, changed_pointers=())
        assert await persistence.get_runnable_instances(now) == []
        instance.status = WorkflowStatus.RUNNABLE
        await persistence.persist_workflow(instance, changed_pointers=())
        assert await persistence.get_runnable_instances(now) == [
            (instance.id, now - timedelta(seconds=1))
        ]

    # -- events --------------------------------------------------------------------------------

    async def test_create_and_get_event_round_trip(self, persistence: PersistenceProvider) -> None:
        event = sample_event()
        event_id = await persistence.create_event(event)
        assert event_id == event.id
        loaded = await persistence.get_event(event_id)
        assert loaded == event
        assert loaded is not None
        assert loaded.is_processed is False
        assert str(loaded.event_data["decimal"]) == "12.3400"
        _assert_utc(loaded.event_time)

    async def test_event_trace_context_round_trips(self, persistence: PersistenceProvider) -> None:
        event = sample_event(trace_context=TRACEPARENT)
        await persistence.create_event(event)
        loaded = await persistence.get_event(event.id)
        assert loaded is not None and loaded.trace_context == TRACEPARENT
        [found] = await persistence.get_events(event.event_name, event.event_key, T0)
        assert found.trace_context == TRACEPARENT

    @pytest.mark.parametrize(
        "event_data",
        [None, "plain text 🍕", 42, [1, "two"], Decimal("-0.000100"), T0],
        ids=["none", "text", "int", "list", "decimal", "datetime"],
    )
    async def test_event_data_of_any_storable_type_round_trips(
        self, persistence: PersistenceProvider, event_data: Any
    ) -> None:
        event = sample_event(event_data=event_data)
        await persistence.create_event(event)
        loaded = await persistence.get_event(event.id)
        assert loaded is not None
        assert loaded.event_data == event_data
        assert type(loaded.event_data) is type(event_data)

    async def test_get_unknown_event_returns_none(self, persistence: PersistenceProvider) -> None:
        assert await persistence.get_event("no-such-event") is None

    async def test_stored_event_is_independent_of_the_callers_objects(
        self, persistence: PersistenceProvider
    ) -> None:
        event = sample_event(event_data={"items": [1]})
        await persistence.create_event(event)
        event.event_data["items"].append(2)
        event.is_processed = True
        loaded = await persistence.get_event(event.id)
        assert loaded is not None
        assert loaded.event_data == {"items": [1]}
        assert loaded.is_processed is False
        loaded.event_data["items"].append(3)
        again = await persistence.get_event(event.id)
        assert again is not None
        assert again.event_data == {"items": [1]}

    async def test_get_runnable_events_returns_unprocessed_due_events_oldest_first(
        self, persistence: PersistenceProvider
    ) -> None:
        now = utcnow()
        one_hour_ago = sample_event(event_time=now - timedelta(hours=1))
        two_hours_ago = sample_event(event_time=now - timedelta(hours=2), event_key="other")
        exactly_now = sample_event(event_time=now, event_name="other")
        in_an_hour = sample_event(event_time=now + timedelta(hours=1))
        processed = sample_event(event_time=now - timedelta(hours=3))
        for event in (one_hour_ago, two_hours_ago, exactly_now, in_an_hour, processed):
            await persistence.create_event(event)
        await persistence.mark_event_processed(processed.id)
        assert await persistence.get_runnable_events(now) == [
            two_hours_ago.id,
            one_hour_ago.id,
            exactly_now.id,
        ]
        assert await persistence.get_runnable_events(now, limit=1) == [two_hours_ago.id]

    async def test_mark_event_processed_and_unprocessed(
        self, persistence: PersistenceProvider
    ) -> None:
        now = utcnow()
        event = sample_event(event_time=now - timedelta(seconds=1))
        await persistence.create_event(event)
        assert await persistence.get_runnable_events(now) == [event.id]

        await persistence.mark_event_processed(event.id)
        loaded = await persistence.get_event(event.id)
        assert loaded is not None and loaded.is_processed is True
        assert await persistence.get_runnable_events(now) == []

        await persistence.mark_event_unprocessed(event.id)
        loaded = await persistence.get_event(event.id)
        assert loaded is not None and loaded.is_processed is False
        assert await persistence.get_runnable_events(now) == [event.id]

    async def test_get_events_matches_name_key_and_time_oldest_first(
        self, persistence: PersistenceProvider
    ) -> None:
        now = utcnow()
        too_old = sample_event(event_time=now - timedelta(hours=2))
        at_as_of = sample_event(event_time=now - timedelta(hours=1))
        later = sample_event(event_time=now + timedelta(hours=1))
        processed = sample_event(event_time=now)
        other_key = sample_event(event_time=now, event_key="order-2")
        other_name = sample_event(event_time=now, event_name="oven.door")
        for event in (later, too_old, other_key, processed, at_as_of, other_name):
            await persistence.create_event(event)
        await persistence.mark_event_processed(processed.id)
        found = await persistence.get_events("oven.timer", "order-1", now - timedelta(hours=1))
        processed.is_processed = True
        assert found == [at_as_of, processed, later]
        _assert_utc(found[0].event_time)
        assert await persistence.get_events("oven.timer", "order-3", now - timedelta(days=1)) == []

    # -- subscriptions -------------------------------------------------------------------------

    async def test_subscription_round_trips_through_a_pass(
        self, persistence: PersistenceProvider
    ) -> None:
        subscription = sample_subscription("wf-1")
        await _store_with_pass(persistence, [subscription])
        (loaded,) = await persistence.get_subscriptions("oven.timer", "order-1", T0)
        assert loaded == subscription
        _assert_utc(loaded.subscribe_as_of)

    async def test_get_subscriptions_matches_name_and_key(
        self, persistence: PersistenceProvider
    ) -> None:
        first = sample_subscription("wf-1", execution_pointer_id="p-1")
        second = sample_subscription("wf-2", execution_pointer_id="p-2")
        other_key = sample_subscription("wf-3", event_key="order-2")
        other_name = sample_subscription("wf-4", event_name="oven.door")
        await _store_with_pass(persistence, [first, second, other_key, other_name])
        found = await persistence.get_subscriptions(
            "oven.timer", "order-1", T0 + timedelta(seconds=1)
        )
        assert _by_id(found) == _by_id([first, second])

    async def test_get_subscriptions_only_returns_those_subscribed_as_of(
        self, persistence: PersistenceProvider
    ) -> None:
        earlier = sample_subscription("wf-1", subscribe_as_of=T0 - timedelta(hours=1))
        at_as_of = sample_subscription("wf-2", subscribe_as_of=T0)
        later = sample_subscription("wf-3", subscribe_as_of=T0 + timedelta(hours=1))
        await _store_with_pass(persistence, [earlier, at_as_of, later])
        found = await persistence.get_subscriptions("oven.timer", "order-1", T0)
        assert _by_id(found) == _by_id([earlier, at_as_of])

    async def test_terminate_subscription_removes_it(
        self, persistence: PersistenceProvider
    ) -> None:
        kept = sample_subscription("wf-1")
        ended = sample_subscription("wf-2")
        await _store_with_pass(persistence, [kept, ended])
        await persistence.terminate_subscription(ended.id)
        assert await persistence.get_subscriptions("oven.timer", "order-1", T0) == [kept]
        await persistence.terminate_subscription(ended.id)
        await persistence.terminate_subscription("no-such-subscription")
        assert await persistence.get_subscriptions("oven.timer", "order-1", T0) == [kept]

    async def test_stored_subscription_is_independent_of_the_callers_objects(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        via_pass = sample_subscription(instance.id, subscription_data={"items": [1]})
        await persistence.persist_workflow(instance, subscriptions=[via_pass])
        via_pass.subscription_data["items"].append(2)
        via_pass.event_key = "mutated"
        (loaded,) = await persistence.get_subscriptions("oven.timer", "order-1", T0)
        assert (loaded.event_key, loaded.subscription_data) == ("order-1", {"items": [1]})
        loaded.subscription_data["items"].append(3)
        (found,) = await persistence.get_subscriptions("oven.timer", "order-1", T0)
        assert found.subscription_data == {"items": [1]}

    async def test_subscriptions_persisted_with_a_pass_are_queryable(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance(reference=uuid.uuid4().hex)
        await persistence.create_workflow(instance)
        subscriptions = [
            sample_subscription(
                instance.id,
                step_id=pointer.step_id,
                execution_pointer_id=pointer.id,
                event_name=f"Event{number}",
                event_key=instance.id,
                subscription_data="data",
            )
            for number, pointer in enumerate(instance.execution_pointers, start=1)
        ]
        await persistence.persist_workflow(instance, subscriptions=subscriptions)
        assert await persistence.get_workflow(instance.id) == instance
        for subscription in subscriptions:
            found = await persistence.get_subscriptions(
                subscription.event_name, instance.id, utcnow()
            )
            assert found == [subscription]

    # -- execution errors ----------------------------------------------------------------------

    async def test_errors_of_passes_come_back_oldest_first_for_one_workflow(
        self, persistence: PersistenceProvider
    ) -> None:
        first = sample_error("wf-1", error_time=T0, message="first")
        second = sample_error("wf-1", error_time=T0 + timedelta(seconds=1), message="second")
        third = sample_error(
            "wf-1", error_time=T0 + timedelta(seconds=2), step_id=None, error_type=None
        )
        other = sample_error("wf-2", error_time=T0 + timedelta(milliseconds=500))
        await _store_with_pass(persistence, errors=[first, other, second])
        await _store_with_pass(persistence, errors=[third])
        errors = await persistence.get_execution_errors("wf-1")
        assert errors == [first, second, third]
        _assert_utc(errors[0].error_time)
        assert await persistence.get_execution_errors("wf-2") == [other]
        assert await persistence.get_execution_errors("wf-3") == []

    async def test_errors_passed_with_a_pass_are_stored(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        errors = [
            sample_error(instance.id, error_time=T0, message="first"),
            sample_error(instance.id, error_time=T0 + timedelta(seconds=1), message="second"),
        ]
        await persistence.persist_workflow(instance, errors=errors)
        assert await persistence.get_execution_errors(instance.id) == errors

    async def test_stored_errors_are_independent_of_the_callers_objects(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        via_pass = sample_error(instance.id, message="via pass")
        expected = [attrs.evolve(via_pass)]
        await persistence.persist_workflow(instance, errors=[via_pass])
        via_pass.message = "mutated"
        assert await persistence.get_execution_errors(instance.id) == expected

    # -- lifecycle -----------------------------------------------------------------------------

    async def test_start_is_idempotent_and_keeps_what_is_stored(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance()
        await persistence.create_workflow(instance)
        await persistence.start()
        await persistence.start()
        assert await persistence.get_workflow(instance.id) == instance

    async def test_close_is_idempotent(self, persistence: PersistenceProvider) -> None:
        await persistence.close()
        await persistence.close()
