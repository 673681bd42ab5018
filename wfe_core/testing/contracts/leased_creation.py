"""The leased-creation contract: :class:`LeasedCreationContract`, for a store and its lock.

Pins :class:`~wfe_core.providers.LeasedCreation`, the optional capability a host uses to store
a new workflow and take its lease in one transaction. A provider author subclasses the suite
with a ``store_and_lock`` fixture yielding a started, empty persistence provider and a lock
provider on the same database; a store without the capability, or one that does not share its
leases with that lock, skips it (the host then takes the lease first, then stores). What it
pins: the instance is stored exactly as ``create_workflow`` stores it and the lease is held by
the owner as ``acquire`` would hold it; a lock it does not share is refused with nothing
stored; a taken id stores nothing and takes no lease; a lease
held by another live owner is left alone while the instance is still stored; a release asked
after a cancelled call takes effect after its write; creations made together each get their own
answer.
"""

from __future__ import annotations

import asyncio

import pytest

from ..._memory import MemoryLock
from ...errors import ProviderError, WorkflowNotFoundError
from ...providers import LeasedCreation, LockProvider, PersistenceProvider
from .persistence import sample_instance

__all__ = ["LeasedCreationContract"]

OWNER, OTHER, TTL = "host-a", "host-b", 30.0

StoreAndLock = tuple[PersistenceProvider, LockProvider]


def _leasing(pair: StoreAndLock) -> tuple[LeasedCreation, LockProvider]:
    persistence, lock = pair
    if not isinstance(persistence, LeasedCreation):
        pytest.skip(f"{type(persistence).__name__} does not offer LeasedCreation")
    if not persistence.shares_leases_with(lock):
        pytest.skip(f"{type(persistence).__name__} keeps no leases of {type(lock).__name__}")
    return persistence, lock


class LeasedCreationContract:
    """What every leased creation does. Needs a ``store_and_lock`` fixture (started, empty)."""

    async def test_the_instance_is_stored_and_its_lease_held(self, store_and_lock: StoreAndLock) -> None:
        store, lock = _leasing(store_and_lock)
        persistence = store_and_lock[0]
        instance = sample_instance(id="leased-1")
        assert await store.create_workflow_leased(instance, lock, "wf:leased-1", OWNER, TTL) is True
        assert instance.revision == 1
        loaded = await persistence.get_workflow("leased-1")
        assert loaded == instance and loaded.revision == 1
        # Held by OWNER as acquire would hold it: not free, renewable, released by OWNER only.
        assert not await lock.acquire("wf:leased-1", OTHER, TTL)
        assert not await lock.acquire("wf:leased-1", OWNER, TTL)
        assert await lock.renew("wf:leased-1", OWNER, TTL)
        await lock.release("wf:leased-1", OTHER)
        assert not await lock.acquire("wf:leased-1", OTHER, TTL)
        await lock.release("wf:leased-1", OWNER)
        assert await lock.acquire("wf:leased-1", OTHER, TTL)

    async def test_a_lock_it_does_not_share_is_refused_with_nothing_stored(
        self, store_and_lock: StoreAndLock
    ) -> None:
        store, _ = _leasing(store_and_lock)
        persistence = store_and_lock[0]

        class AsideLock(MemoryLock):  # a lock of this process no store keeps leases for
            pass

        aside = AsideLock()
        assert not store.shares_leases_with(aside)
        with pytest.raises(TypeError):
            await store.create_workflow_leased(sample_instance(id="aside"), aside, "wf:aside", OWNER, TTL)
        with pytest.raises(WorkflowNotFoundError):
            await persistence.get_workflow("aside")
        assert await aside.acquire("wf:aside", OTHER, TTL)

    async def test_a_taken_id_stores_nothing_and_takes_no_lease(self, store_and_lock: StoreAndLock) -> None:
        store, lock = _leasing(store_and_lock)
        persistence = store_and_lock[0]
        first = sample_instance(id="taken", reference="first")
        await persistence.create_workflow(first)
        second = sample_instance(id="taken", reference="second")
        with pytest.raises(ProviderError, match="already exists"):
            await store.create_workflow_leased(second, lock, "wf:taken", OWNER, TTL)
        assert (await persistence.get_workflow("taken")).reference == "first"
        assert await lock.acquire("wf:taken", OTHER, TTL)  # no lease was left behind

    async def test_a_live_lease_of_another_is_left_and_the_instance_still_stored(
        self, store_and_lock: StoreAndLock
    ) -> None:
        store, lock = _leasing(store_and_lock)
        persistence = store_and_lock[0]
        assert await lock.acquire("wf:busy", OTHER, TTL)
        instance = sample_instance(id="busy")
        assert await store.create_workflow_leased(instance, lock, "wf:busy", OWNER, TTL) is False
        assert (await persistence.get_workflow("busy")).revision == 1
        assert not await lock.renew("wf:busy", OWNER, TTL)
        assert await lock.renew("wf:busy", OTHER, TTL)  # still the other owner's

    async def test_a_release_asked_after_a_cancelled_call_comes_after_its_write(
        self, store_and_lock: StoreAndLock
    ) -> None:
        store, lock = _leasing(store_and_lock)
        persistence = store_and_lock[0]
        for n in range(20):
            wid = f"cancelled-{n}"
            call = asyncio.create_task(
                store.create_workflow_leased(sample_instance(id=wid), lock, f"wf:{wid}", OWNER, TTL)
            )
            for _ in range(n % 5):  # cancelled at different points of its way to the store
                await asyncio.sleep(0)
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            await lock.release(f"wf:{wid}", OWNER)
            # Made or not, the write holds no lease after the release.
            assert await lock.acquire(f"wf:{wid}", OTHER, TTL), n
            if call.cancelled() is False and call.exception() is None:
                assert (await persistence.get_workflow(wid)).revision == 1

    async def test_creations_made_together_each_get_their_own_answer(
        self, store_and_lock: StoreAndLock
    ) -> None:
        store, lock = _leasing(store_and_lock)
        persistence = store_and_lock[0]
        await persistence.create_workflow(sample_instance(id="many-3"))
        assert await lock.acquire("wf:many-5", OTHER, TTL)
        instances = [sample_instance(id=f"many-{n}", reference=f"r{n}") for n in range(8)]
        twice = sample_instance(id="many-0", reference="again")  # the same id asked twice
        answers = await asyncio.gather(
            *(store.create_workflow_leased(i, lock, f"wf:{i.id}", OWNER, TTL)
              for i in [*instances, twice]),
            return_exceptions=True,
        )
        for n, answer in enumerate(answers[:8]):
            if n == 3:
                assert isinstance(answer, ProviderError)
            else:
                assert answer is (n != 5), n
                assert (await persistence.get_workflow(f"many-{n}")).reference == f"r{n}"
        assert isinstance(answers[8], ProviderError)
        assert (await persistence.get_workflow("many-0")).reference == "r0"
        for n in (0, 1, 2, 4, 6, 7):
            assert not await lock.acquire(f"wf:many-{n}", OTHER, TTL)
        assert await lock.acquire("wf:many-3", OTHER, TTL)  # the taken id took no lease
