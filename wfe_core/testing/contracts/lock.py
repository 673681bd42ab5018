"""The lock contract: :class:`LockContract`, run against every lock provider.

A provider author subclasses the suite and supplies a ``lock`` fixture that yields a started
:class:`~wfe_core.providers.LockProvider` holding no leases, and closes it afterwards.

The cases port WFE's ``lock_suite!`` (``reference/wfe-rust.md`` §8.3, all 7 cases) and
workflow-core's ``DistributedLockProviderTests`` (``reference/workflow-core-behaviour.md`` §3.2,
all 3), and add what neither pins: owners (a lease is not re-entrant, and only its owner releases
or renews it) and leases (a lease expires after its ttl unless renewed). The lease cases sleep
for real, briefly: expiry is a property of real time, measured by the provider's own clock.
"""

from __future__ import annotations

import asyncio

from ...providers import LockProvider

__all__ = ["LockContract"]

#: Long enough that no lease expires during a test that does not mean it to.
TTL = 30.0


class LockContract:
    """What every lock provider does. Needs a ``lock`` fixture (started, no leases held)."""

    async def test_acquire_succeeds(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock1", "owner-a", TTL) is True

    async def test_second_acquire_by_the_same_owner_fails(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        assert await lock.acquire("lock1", "owner-a", TTL) is False

    async def test_acquire_of_a_held_lock_by_another_owner_fails(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        assert await lock.acquire("lock1", "owner-b", TTL) is False

    async def test_acquire_of_a_held_lock_answers_at_once(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        # Not a speed test: a provider that waits for the lease would block here for TTL.
        assert await asyncio.wait_for(lock.acquire("lock1", "owner-b", TTL), TTL / 3) is False

    async def test_release_then_reacquire(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        await lock.release("lock1", "owner-a")
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        await lock.release("lock1", "owner-a")
        assert await lock.acquire("lock1", "owner-b", TTL) is True

    async def test_release_of_a_lock_not_held_is_a_no_op(self, lock: LockProvider) -> None:
        await lock.release("never-held", "owner-a")
        assert await lock.acquire("never-held", "owner-a", TTL) is True

    async def test_release_by_another_owner_does_not_release(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        await lock.release("lock1", "owner-b")
        assert await lock.acquire("lock1", "owner-b", TTL) is False
        assert await lock.acquire("lock1", "owner-c", TTL) is False
        await lock.release("lock1", "owner-a")
        assert await lock.acquire("lock1", "owner-b", TTL) is True

    async def test_different_keys_are_independent(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock2", "owner-a", TTL) is True
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        assert await lock.acquire("lock1", "owner-b", TTL) is False
        assert await lock.acquire("lock2", "owner-b", TTL) is False
        await lock.release("lock2", "owner-a")
        assert await lock.acquire("lock2", "owner-b", TTL) is True
        assert await lock.acquire("lock1", "owner-b", TTL) is False

    async def test_acquires_made_together_give_each_key_to_one_owner(
        self, lock: LockProvider
    ) -> None:
        """Many calls at once (a provider may send them to the server together) answer as
        if made one after another: each key goes to exactly one of the owners asking."""
        asks = [(f"burst{k}", f"owner-{o}") for k in range(10) for o in range(5)]
        taken = await asyncio.gather(*(lock.acquire(key, owner, TTL) for key, owner in asks))
        winners = {key: owner for (key, owner), ok in zip(asks, taken, strict=True) if ok}
        assert sorted(winners) == sorted({key for key, _ in asks})
        assert sum(taken) == 10
        assert not any(await asyncio.gather(*(lock.acquire(f"burst{k}", "late", TTL)
                                              for k in range(10))))

    async def test_releases_made_together_release_only_what_their_owner_holds(
        self, lock: LockProvider
    ) -> None:
        keys = [f"many{k}" for k in range(20)]
        assert all(await asyncio.gather(*(lock.acquire(key, "owner-a", TTL) for key in keys)))
        # Even keys released by their owner, odd ones by someone else (a no-op), all at once.
        await asyncio.gather(*(lock.release(key, "owner-a" if n % 2 == 0 else "owner-b")
                               for n, key in enumerate(keys)))
        retaken = await asyncio.gather(*(lock.acquire(key, "owner-c", TTL) for key in keys))
        assert retaken == [n % 2 == 0 for n in range(20)]

    async def test_acquire_release_cycles_then_held(self, lock: LockProvider) -> None:
        for _ in range(5):
            assert await lock.acquire("cycled", "owner-a", TTL) is True
            await lock.release("cycled", "owner-a")
        assert await lock.acquire("cycled", "owner-a", TTL) is True
        assert await lock.acquire("cycled", "owner-a", TTL) is False

    async def test_start_and_close_are_idempotent(self, lock: LockProvider) -> None:
        await lock.start()
        await lock.start()
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        assert await lock.acquire("lock1", "owner-b", TTL) is False
        await lock.close()
        await lock.close()

    # -- leases --------------------------------------------------------------------------------

    async def test_an_expired_lease_can_be_taken_by_another_owner(self, lock: LockProvider) -> None:
        assert await lock.acquire("leased", "owner-a", 0.2) is True
        await asyncio.sleep(0.35)
        assert await lock.acquire("leased", "owner-b", TTL) is True
        assert await lock.acquire("leased", "owner-a", TTL) is False

    async def test_renew_by_the_owner_extends_the_lease(self, lock: LockProvider) -> None:
        assert await lock.acquire("leased", "owner-a", 0.3) is True
        await asyncio.sleep(0.15)
        assert await lock.renew("leased", "owner-a", 0.5) is True
        await asyncio.sleep(0.25)  # past the first lease's end, well inside the renewed one
        assert await lock.acquire("leased", "owner-b", TTL) is False

    async def test_renew_by_another_owner_fails(self, lock: LockProvider) -> None:
        assert await lock.acquire("lock1", "owner-a", TTL) is True
        assert await lock.renew("lock1", "owner-b", TTL) is False
        assert await lock.acquire("lock1", "owner-b", TTL) is False
        assert await lock.renew("lock1", "owner-a", TTL) is True

    async def test_renew_of_a_lock_never_held_fails(self, lock: LockProvider) -> None:
        assert await lock.renew("never-held", "owner-a", TTL) is False

    async def test_renewals_made_together_each_get_their_own_answer(
        self, lock: LockProvider
    ) -> None:
        """A host renews every lease it holds at once: each renewal answers for its own
        lease (held by its owner, held by another, never taken, asked twice)."""
        keys = [f"many{k}" for k in range(40)]
        assert all(await asyncio.gather(*(lock.acquire(key, "owner-a", 0.4) for key in keys)))
        assert await lock.acquire("other", "owner-b", TTL) is True
        asks = [(key, "owner-a") for key in keys] + [
            ("other", "owner-a"), ("never", "owner-a"), (keys[0], "owner-a"), (keys[1], "owner-b")
        ]
        renewed = await asyncio.gather(*(lock.renew(key, owner, 1.5) for key, owner in asks))
        assert renewed == [True] * 40 + [False, False, True, False]
        await asyncio.sleep(0.6)  # past the first leases' end, inside the renewed ones
        late = await asyncio.gather(*(lock.acquire(key, "owner-c", TTL) for key in keys))
        assert not any(late)

    async def test_renew_after_expiry_and_takeover_fails(self, lock: LockProvider) -> None:
        assert await lock.acquire("leased", "owner-a", 0.2) is True
        await asyncio.sleep(0.35)
        assert await lock.acquire("leased", "owner-b", TTL) is True
        assert await lock.renew("leased", "owner-a", TTL) is False
        assert await lock.acquire("leased", "owner-a", TTL) is False
        await lock.release("leased", "owner-a")
        assert await lock.acquire("leased", "owner-c", TTL) is False
