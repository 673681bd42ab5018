"""``HeldLease``: a lease handed on is released by its new holder alone, and only once."""

from __future__ import annotations

import pytest

from wfe_core._leases import HeldLease, Leases
from wfe_core._memory import MemoryLock


async def test_a_lease_handed_on_is_released_by_its_new_holder_only() -> None:
    lock = MemoryLock()
    leases = Leases(lock, "host-a", ttl=30)
    assert await leases.acquire("evt:e-1")
    taken = HeldLease(leases, "evt:e-1")

    carried = taken.hand_over()
    assert not taken.held and carried.held
    await taken.release()  # the first holder's cleanup: the lease is not its to give back
    assert not await lock.acquire("evt:e-1", "host-b", 30)

    await carried.release()
    await carried.release()  # a second release gives nothing back twice
    assert not carried.held
    assert await lock.acquire("evt:e-1", "host-b", 30)


async def test_a_lease_that_was_handed_on_cannot_be_handed_on_again() -> None:
    leases = Leases(MemoryLock(), "host-a", ttl=30)
    assert await leases.acquire("wf:w-1")
    taken = HeldLease(leases, "wf:w-1")
    taken.hand_over()
    with pytest.raises(RuntimeError, match="not held here"):
        taken.hand_over()
