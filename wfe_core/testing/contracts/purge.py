"""The purge contract: :class:`PurgeContract`, run against every persistence provider.

Pins :class:`~wfe_core.providers.WorkflowPurging`, the optional capability that retention,
``host.purge_workflows`` and ``wfe purge`` use. A provider author subclasses the suite with the
same ``persistence`` fixture as :class:`~wfe_core.testing.contracts.PersistenceContract`; a
provider without the capability skips it (the host then refuses to purge, with a
``ConfigurationError``). What it pins: only complete and terminated workflows whose completion
is before the cutoff go, oldest first and at most ``limit`` a call, filtered by status and
definition; with them go their pointers, subscriptions and errors, and their search entry is
gone or left to the outbox at a revision above the last written; nothing else changes; only
processed events older than the cutoff are purged.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..._models import WorkflowInstance, WorkflowStatus
from ...errors import WorkflowNotFoundError
from ...providers import PersistenceProvider, WorkflowPurging
from .persistence import (
    T0,
    _store_with_pass,
    sample_error,
    sample_event,
    sample_instance,
    sample_subscription,
)

__all__ = ["PurgeContract"]

FINISHED = (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)
CUTOFF = T0 + timedelta(days=30)


def _purging(persistence: PersistenceProvider) -> WorkflowPurging:
    if not isinstance(persistence, WorkflowPurging):
        pytest.skip(f"{type(persistence).__name__} does not offer WorkflowPurging")
    return persistence


def finished(wid: str, status: WorkflowStatus, days: float, definition: str = "purge-a") -> WorkflowInstance:
    """A finished instance of ``definition`` completed ``days`` after T0."""
    return sample_instance(
        id=wid, status=status, complete_time=T0 + timedelta(days=days), next_execution=None,
        definition_id=definition,
    )


async def _exists(persistence: PersistenceProvider, wid: str) -> bool:
    try:
        await persistence.get_workflow(wid)
    except WorkflowNotFoundError:
        return False
    return True


class PurgeContract:
    """What every purging store does. Needs a ``persistence`` fixture (started, empty)."""

    async def test_only_finished_workflows_before_the_cutoff_go_with_all_they_own(
        self, persistence: PersistenceProvider
    ) -> None:
        store = _purging(persistence)
        old_done = finished("old-done", WorkflowStatus.COMPLETE, 1)
        old_ended = finished("old-ended", WorkflowStatus.TERMINATED, 2)
        recent = finished("recent", WorkflowStatus.COMPLETE, 31)
        running = sample_instance(id="running", create_time=T0)
        suspended = sample_instance(id="suspended", status=WorkflowStatus.SUSPENDED)
        for instance in (old_done, old_ended, recent, running, suspended):
            await persistence.create_workflow(instance)
        await _store_with_pass(
            persistence,
            subscriptions=[sample_subscription("old-ended"), sample_subscription("running")],
            errors=[sample_error("old-done"), sample_error("running")],
        )
        revisions = {i.id: (await persistence.get_workflow(i.id)).revision for i in (old_done, old_ended)}

        assert await store.count_purgeable(CUTOFF, FINISHED) == 2
        assert await store.purge_workflows(CUTOFF, FINISHED) == 2

        assert not await _exists(persistence, "old-done")
        assert not await _exists(persistence, "old-ended")
        for kept in ("recent", "running", "suspended"):
            assert await _exists(persistence, kept)
        assert await persistence.get_execution_errors("old-done") == []
        assert len(await persistence.get_execution_errors("running")) == 1
        subs = await persistence.get_subscriptions("oven.timer", "order-1", CUTOFF)
        assert [s.workflow_id for s in subs] == ["running"]
        assert await persistence.get_workflows(["old-done", "recent"]) == [await persistence.get_workflow("recent")]
        # The index entry goes with it, or the outbox asks the indexer to remove it.
        for wid, revision in await persistence.get_index_outbox():
            if wid in revisions:
                assert revision > revisions[wid]
        assert await store.count_purgeable(CUTOFF, FINISHED) == 0
        assert await store.purge_workflows(CUTOFF, FINISHED) == 0

    async def test_a_batch_takes_the_oldest_completions_up_to_the_limit(
        self, persistence: PersistenceProvider
    ) -> None:
        store = _purging(persistence)
        for n in (4, 1, 3, 0, 2):
            await persistence.create_workflow(finished(f"w{n}", WorkflowStatus.COMPLETE, n))
        assert await store.purge_workflows(CUTOFF, FINISHED, limit=2) == 2
        assert [await _exists(persistence, f"w{n}") for n in range(5)] == [False, False, True, True, True]
        assert await store.purge_workflows(CUTOFF, FINISHED, limit=2) == 2
        assert await store.purge_workflows(CUTOFF, FINISHED, limit=2) == 1
        assert await store.purge_workflows(CUTOFF, FINISHED, limit=2) == 0

    async def test_status_and_definition_filter_what_goes(self, persistence: PersistenceProvider) -> None:
        store = _purging(persistence)
        await persistence.create_workflow(finished("a-done", WorkflowStatus.COMPLETE, 1))
        await persistence.create_workflow(finished("a-ended", WorkflowStatus.TERMINATED, 1))
        await persistence.create_workflow(finished("b-done", WorkflowStatus.COMPLETE, 1, "purge-b"))
        terminated = [WorkflowStatus.TERMINATED]
        assert await store.count_purgeable(CUTOFF, terminated) == 1
        assert await store.count_purgeable(CUTOFF, FINISHED, "purge-b") == 1
        assert await store.count_purgeable(CUTOFF, FINISHED, "no-such") == 0
        assert await store.purge_workflows(CUTOFF, terminated) == 1
        assert await store.purge_workflows(CUTOFF, FINISHED, "purge-b") == 1
        assert [await _exists(persistence, w) for w in ("a-done", "a-ended", "b-done")] == [True, False, False]
        # The cutoff is exclusive: completed exactly then stays.
        assert await store.purge_workflows(T0 + timedelta(days=1), FINISHED) == 0
        assert await store.purge_workflows(T0 + timedelta(days=1, microseconds=1), FINISHED) == 1

    async def test_only_processed_events_older_than_the_cutoff_go(
        self, persistence: PersistenceProvider
    ) -> None:
        store = _purging(persistence)
        old_done = sample_event(event_key="k", event_time=T0, is_processed=True)
        old_waiting = sample_event(event_key="k", event_time=T0, is_processed=False)
        recent_done = sample_event(event_key="k", event_time=CUTOFF, is_processed=True)
        for event in (old_done, old_waiting, recent_done):
            await persistence.create_event(event)
        assert await store.purge_events(CUTOFF) == 1
        left = await persistence.get_events("oven.timer", "k", T0 - timedelta(days=1))
        assert sorted(e.id for e in left) == sorted([old_waiting.id, recent_done.id])
        assert await store.purge_events(CUTOFF) == 0
