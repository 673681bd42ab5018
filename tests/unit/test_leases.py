"""Leases: every held lease is renewed in time however many a host holds, and one that ran out
unrenewed is never written under."""

from __future__ import annotations

import asyncio

from wfe_core._leases import Leases
from wfe_core._memory import MemoryLock


class SlowLock(MemoryLock):
    """The memory lock, a round trip away: each renewal takes ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.renewals = 0

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        await asyncio.sleep(self.delay)
        self.renewals += 1
        return await super().renew(key, owner, ttl)


async def test_many_leases_on_a_slow_store_are_all_kept() -> None:
    """60 leases of 0.6 s, each renewal 50 ms away: one after another a round would take 3 s,
    five times the lease. Renewed together, none runs out and another owner gets none."""
    lock = SlowLock(delay=0.05)
    leases = Leases(lock, "host-a", ttl=0.6)
    keys = [f"wf:{n}" for n in range(60)]
    for key in keys:
        assert await leases.acquire(key)
    stopped = False
    renewing = asyncio.create_task(leases.renew_loop(lambda: stopped))
    try:
        await asyncio.sleep(1.5)  # two and a half lease lengths
        assert [key for key in keys if leases.is_lost(key)] == []
        assert [key for key in keys if await lock.acquire(key, "host-b", 0.6)] == []
        assert lock.renewals >= 2 * len(keys)
    finally:
        stopped = True
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)


async def test_a_lease_not_renewed_for_its_length_counts_as_lost() -> None:
    lock = MemoryLock()
    leases = Leases(lock, "host-a", ttl=0.2)
    assert await leases.acquire("wf:1")
    assert not leases.is_lost("wf:1")
    await asyncio.sleep(0.25)  # no renewal ran: the store may have given it to another host
    assert await lock.acquire("wf:1", "host-b", 0.2)
    assert leases.is_lost("wf:1")


class LateRenewalLock(MemoryLock):
    """The memory lock with renewals a network away: one reaches the store only when
    ``arrive`` is set, and its answer comes back ``delay`` seconds after that."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.arrive = asyncio.Event()
        self.acted = asyncio.Event()

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        await self.arrive.wait()
        renewed = await super().renew(key, owner, ttl)
        self.acted.set()
        await asyncio.sleep(self.delay)
        return renewed


async def test_a_renewal_refused_after_a_release_does_not_lose_the_lease_taken_again() -> None:
    """A renewal sent just before a pass gives its lease back reaches the store after the
    release and is refused. If this host takes the lease again before that answer arrives,
    the new lease is still its own: counting it lost would drop the next pass unwritten, and
    its steps would run twice (seen in CI with two processes on PostgreSQL and Valkey)."""
    lock = LateRenewalLock(delay=0.05)
    leases = Leases(lock, "host-a", ttl=5)
    assert await leases.acquire("wf:1")
    renewal = asyncio.create_task(leases.renew_one("wf:1"))
    await asyncio.sleep(0)  # sent
    await leases.release("wf:1")
    lock.arrive.set()
    await lock.acted.wait()  # refused: the store holds nothing under that key now
    assert await leases.acquire("wf:1")  # the next pass takes it again
    await renewal
    assert not leases.is_lost("wf:1")
    assert not await lock.acquire("wf:1", "host-b", 5)  # and the store holds it for host-a
