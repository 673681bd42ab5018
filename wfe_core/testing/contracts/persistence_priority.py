"""The priority part of the persistence contract: :class:`PersistencePriorityContract`.

:class:`~wfe_core.testing.contracts.PersistenceContract` includes it, so every persistence
provider runs it: a workflow's ``priority`` is stored with it and changed by a pass like any
other field, and the runnable query returns due work by rank (``wfe_core.providers.queue_rank``:
the due time plus ``priority * PRIORITY_AGING`` seconds, lowest first), so that the poller
queues urgent work first and work that waited long enough catches up.
"""

from __future__ import annotations

from datetime import timedelta

from ..._models import WorkflowInstance, utcnow
from ...providers import PRIORITY_AGING, PersistenceProvider, WorkflowWrite

__all__ = ["PersistencePriorityContract"]


def sample_instance(**overrides: object) -> WorkflowInstance:
    """The persistence contract's sample instance (imported here late: that module needs this)."""
    from .persistence import sample_instance as sample

    return sample(**overrides)


class PersistencePriorityContract:
    """Priority in the store. Needs a ``persistence`` fixture (started, empty)."""

    async def test_priority_round_trips_and_passes_change_it(
        self, persistence: PersistenceProvider
    ) -> None:
        instance = sample_instance(priority=0)
        other = sample_instance(priority=7)
        await persistence.create_workflow(instance)
        await persistence.create_workflow(other)
        assert (await persistence.get_workflow(instance.id)).priority == 0
        loaded = await persistence.get_workflows([instance.id, other.id])
        assert [w.priority for w in loaded] == [0, 7]
        instance.priority = 6
        await persistence.persist_workflow(instance, changed_pointers=())
        assert (await persistence.get_workflow(instance.id)).priority == 6
        other.priority = 1
        outcomes = await persistence.persist_workflows([WorkflowWrite(other, ())])
        assert outcomes == [None]
        assert (await persistence.get_workflow(other.id)).priority == 1
        plain = sample_instance(priority=WorkflowInstance().priority)  # nobody gave one
        await persistence.create_workflow(plain)
        assert (await persistence.get_workflow(plain.id)).priority == 4

    async def test_runnable_query_serves_the_highest_level_first_with_aging(
        self, persistence: PersistenceProvider
    ) -> None:
        now = utcnow()
        level = timedelta(seconds=PRIORITY_AGING)

        async def create(priority: int, due: timedelta) -> str:
            instance = sample_instance(priority=priority, next_execution=now - due)
            return await persistence.create_workflow(instance)

        idle = await create(7, level / 2)  # rank: 6.5 levels from now
        critical = await create(0, timedelta(0))  # 0
        normal = await create(4, level)  # 3
        aged_idle = await create(7, level * 8)  # -1: it waited longer than its seven levels
        normal_later = await create(4, level / 2)  # 3.5
        runnable = await persistence.get_runnable_instances(now)
        assert [wid for wid, _ in runnable] == [aged_idle, critical, normal, normal_later, idle]
        assert [wid for wid, _ in await persistence.get_runnable_instances(now, limit=2)] == [
            aged_idle,
            critical,
        ]
