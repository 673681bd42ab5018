"""GroupCommit: passes finishing together reach the store as one batch, each with its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from wfe_core._group_commit import GroupCommit
from wfe_core._memory import MemoryPersistence
from wfe_core._models import ExecutionPointer, WorkflowInstance
from wfe_core.errors import ConcurrencyError, ProviderUnavailableError, WorkflowNotFoundError
from wfe_core.providers import WorkflowWrite
from wfe_core.serialization import encode_data


class RecordingPersistence(MemoryPersistence):
    """The memory store, noting the size of every batch it is handed; it asks for batches,
    as a store with a commit to share does."""

    commits_together = True

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.singles = 0
        self.gate: asyncio.Event | None = None

    async def persist_workflow(self, instance: WorkflowInstance, **kwargs: object) -> None:  # type: ignore[override]
        self.singles += 1
        if self.gate is not None:
            await self.gate.wait()
        await super().persist_workflow(instance, **kwargs)  # type: ignore[arg-type]

    async def persist_workflows(self, writes: Sequence[WorkflowWrite]) -> list[Exception | None]:
        self.batches.append(len(writes))
        if self.gate is not None:
            await self.gate.wait()
        return await super().persist_workflows(writes)


async def _stored(persistence: MemoryPersistence, n: int) -> list[WorkflowInstance]:
    instances = []
    for _ in range(n):
        instance = WorkflowInstance(definition_id="d", version=1, data=encode_data({}))
        instance.execution_pointers.add(ExecutionPointer(step_id=0))
        await persistence.create_workflow(instance)
        instances.append(instance)
    return instances


async def test_passes_finishing_in_one_loop_turn_are_one_batch() -> None:
    persistence = RecordingPersistence()
    commit = GroupCommit(persistence)
    instances = await _stored(persistence, 5)
    await asyncio.gather(*(commit.persist(WorkflowWrite(i, ())) for i in instances))
    assert persistence.batches == [5]
    assert [i.revision for i in instances] == [2] * 5


async def test_a_store_with_no_commit_to_share_is_written_at_once() -> None:
    """memory:// says ``commits_together = False``: each pass is its own plain write, done
    before ``persist`` returns, with no batch and no wait for the next turn of the loop."""

    class Plain(RecordingPersistence):
        commits_together = False

    persistence = Plain()
    commit = GroupCommit(persistence)
    instances = await _stored(persistence, 3)
    await asyncio.gather(*(commit.persist(WorkflowWrite(i, ())) for i in instances))
    assert (persistence.batches, persistence.singles) == ([], 3)
    assert [i.revision for i in instances] == [2] * 3
    stale = instances[0]
    stale.revision = 9
    with pytest.raises(ConcurrencyError):
        await commit.persist(WorkflowWrite(stale, ()))


async def test_passes_arriving_while_a_batch_is_written_form_the_next_batch() -> None:
    persistence = RecordingPersistence()
    persistence.gate = asyncio.Event()
    commit = GroupCommit(persistence)
    first, *rest = await _stored(persistence, 4)
    lone = asyncio.create_task(commit.persist(WorkflowWrite(first, ())))
    await asyncio.sleep(0.01)  # the lone pass is being written
    assert persistence.singles == 1
    later = [asyncio.create_task(commit.persist(WorkflowWrite(i, ()))) for i in rest]
    await asyncio.sleep(0.01)
    persistence.gate.set()
    await asyncio.gather(lone, *later)
    assert persistence.batches == [3]


async def test_each_pass_gets_its_own_outcome() -> None:
    persistence = RecordingPersistence()
    commit = GroupCommit(persistence)
    good, stale, after = await _stored(persistence, 3)
    stale.revision = 7
    unknown = WorkflowInstance(definition_id="d", version=1, data="{}")
    outcomes = await asyncio.gather(
        *(commit.persist(WorkflowWrite(i, ())) for i in (good, stale, unknown, after)),
        return_exceptions=True,
    )
    assert persistence.batches == [4]
    assert outcomes[0] is None and outcomes[3] is None
    assert isinstance(outcomes[1], ConcurrencyError)
    assert isinstance(outcomes[2], WorkflowNotFoundError)
    assert (good.revision, after.revision) == (2, 2)


async def test_a_batch_the_store_refuses_as_a_whole_fails_every_pass_in_it() -> None:
    class Busy(RecordingPersistence):
        async def persist_workflows(self, writes: Sequence[WorkflowWrite]) -> list[Exception | None]:
            raise ProviderUnavailableError("database is locked")

    persistence = Busy()
    commit = GroupCommit(persistence)
    instances = await _stored(persistence, 2)
    outcomes = await asyncio.gather(
        *(commit.persist(WorkflowWrite(i, ())) for i in instances), return_exceptions=True
    )
    assert all(isinstance(o, ProviderUnavailableError) for o in outcomes)
    assert [i.revision for i in instances] == [1, 1]
    # The helper is ready for the next batch.
    persistence.persist_workflows = RecordingPersistence.persist_workflows.__get__(persistence)  # type: ignore[method-assign]
    await asyncio.gather(*(commit.persist(WorkflowWrite(i, ())) for i in instances))
    assert [i.revision for i in instances] == [2, 2]


async def test_a_pass_cancelled_before_its_batch_goes_out_is_not_written() -> None:
    persistence = RecordingPersistence()
    commit = GroupCommit(persistence)
    kept, dropped = await _stored(persistence, 2)
    dropped.description = "never"
    task = asyncio.create_task(commit.persist(WorkflowWrite(dropped, ())))
    await asyncio.sleep(0)  # queued, the batch not yet sent
    task.cancel()
    await commit.persist(WorkflowWrite(kept, ()))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await persistence.get_workflow(dropped.id)).revision == 1


async def test_a_provider_without_persist_workflows_gets_one_write_each() -> None:
    class Old:
        def __init__(self) -> None:
            self.inner = MemoryPersistence()
            self.calls = 0

        async def persist_workflow(self, instance: WorkflowInstance, **kwargs: object) -> None:
            self.calls += 1
            await self.inner.persist_workflow(instance, **kwargs)  # type: ignore[arg-type]

    old = Old()
    commit = GroupCommit(old)  # type: ignore[arg-type]
    instances = await _stored(old.inner, 3)
    await asyncio.gather(*(commit.persist(WorkflowWrite(i, ())) for i in instances))
    assert old.calls == 3
    assert [i.revision for i in instances] == [2, 2, 2]
