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

    async def test_renew_after_expiry_and_takeover_fails(self, lock: LockProvider) -> None:
        assert await lock.acquire("leased", "owner-a", 0.2) is True
        await asyncio.sleep(0.35)
        assert await lock.acquire("leased", "owner-b", TTL) is True
        assert await lock.renew("leased", "owner-a", TTL) is False
        assert await lock.acquire("leased", "owner-a", TTL) is False
        await lock.release("leased", "owner-a")
        assert await lock.acquire("leased", "owner-c", TTL) is False
