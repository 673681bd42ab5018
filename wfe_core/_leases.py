"""``Leases``: the leases one host holds, their renewal, and what happens when one is lost.

Workflow and event locks are leases (``LockProvider``): they expire unless renewed, so a host
that dies strands nothing. This host renews what it holds every third of the lease's length.
A lease whose renewal is refused was lost (this host stalled past its expiry and another may
have taken the workflow): it is noted, so that the pass holding it stops before it writes. A
lease that could not be renewed for its whole length, because the store was unavailable, is
counted lost the same way.

``HeldLease`` is one taken lease as an object, for work that hands a lease on (event delivery
gives an event's lease to the runner that writes it): whoever has the object gives it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import attrs

from ._outage import Outage
from .errors import ProviderUnavailableError
from .providers import LockProvider

__all__ = ["HeldLease", "Leases", "event_key", "workflow_key"]

log = logging.getLogger("wfe.runtime")

#: Lease renewals in flight at once: the round trips overlap, and a store is not flooded.
RENEWALS_AT_ONCE = 32


def workflow_key(wid: str) -> str:
    return f"wf:{wid}"


def event_key(eid: str) -> str:
    return f"evt:{eid}"


class Leases:
    """The leases this host (``owner``) holds on ``lock``."""

    def __init__(self, lock: LockProvider, owner: str, ttl: float, outage: Outage | None = None) -> None:
        self.lock = lock
        self.owner = owner
        self.ttl = ttl
        self.outage = outage if outage is not None else Outage()
        self.held: set[str] = set()
        self.lost: set[str] = set()
        #: key -> time.monotonic() by which the lease was last taken or renewed.
        self.renewed: dict[str, float] = {}
        #: key -> which taking of it this is: a renewal's answer is about the taking it was
        #: sent under, and means nothing for a later one.
        self.grants: dict[str, int] = {}
        self.granted = 0

    async def acquire(self, key: str) -> bool:
        """Take a lease now, or answer False if another live lease holds it."""
        asked = time.monotonic()
        if not await self.lock.acquire(key, self.owner, self.ttl):
            return False
        self.adopt(key, asked)
        return True

    def adopt(self, key: str, asked: float | None = None) -> None:
        """Renew, from now on, a lease taken by someone else on this host's behalf."""
        self.lost.discard(key)
        self.held.add(key)
        self.renewed[key] = time.monotonic() if asked is None else asked
        self.granted += 1
        self.grants[key] = self.granted

    async def release(self, key: str) -> None:
        """Give a lease back. A store unavailable for now is retried until the lease has
        expired anyway, so that this host does not keep the workflow from the others."""
        self.held.discard(key)
        self.lost.discard(key)
        self.grants.pop(key, None)
        taken = self.renewed.pop(key, None)
        deadline = (time.monotonic() if taken is None else taken) + self.ttl
        await self.outage.retry(
            lambda: self.lock.release(key, self.owner),
            f"releasing the lease on {key}",
            lambda: time.monotonic() >= deadline,
        )

    def is_lost(self, key: str) -> bool:
        """True when this held lease may be another host's now: a renewal was refused, or
        none went through for the lease's whole length. Stop before writing."""
        if key in self.lost:
            return True
        taken = self.renewed.get(key)
        if taken is not None and time.monotonic() - taken >= self.ttl:
            self.lost.add(key)
            log.warning(
                "the lease on %s ran out before a renewal went through; this host writes "
                "nothing more under it", key,
            )
            return True
        return False

    async def acquire_waiting(
        self, key: str, wait: float, released: Callable[[], asyncio.Event | None]
    ) -> bool:
        """Take a lease, waiting up to ``wait`` seconds for its holder.

        ``released()`` gives an event set when this host lets go of it (None when this host
        does not hold it: then the lease is polled with a growing pause).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = 0.002
        while True:
            if await self.acquire(key):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = released()
            if event is not None:
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    return False
            else:
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.05)

    async def renew_loop(self, stopping: Callable[[], bool]) -> None:
        """Renew every held lease each third of its length, all of them at once (a host
        holding many leases on a store a round trip away must not take longer than the lease
        to go round them), each round starting a period after the one before."""
        period = max(self.ttl / 3, 0.05)
        loop = asyncio.get_running_loop()
        next_round = loop.time() + period
        bound = asyncio.Semaphore(RENEWALS_AT_ONCE)

        async def renew(key: str) -> None:
            async with bound:
                await self.renew_one(key)

        while not stopping():
            await asyncio.sleep(max(next_round - loop.time(), 0.0))
            next_round = max(next_round + period, loop.time())
            keys = list(self.held)
            if keys:
                await asyncio.gather(*(renew(key) for key in keys))

    async def renew_one(self, key: str) -> None:
        """Renew one held lease. An answer that comes back after the lease was given back
        is ignored, even if this host has taken it again meanwhile: a renewal sent before
        the release may reach the store after it and be refused, and that refusal says
        nothing about the new lease (taking it for a pass that then stopped unwritten would
        make that pass's steps run twice)."""
        asked = time.monotonic()
        grant = self.grants.get(key)
        try:
            renewed = await self.lock.renew(key, self.owner, self.ttl)
        except ProviderUnavailableError as exc:
            self.outage.failed(exc, f"renewing the lease on {key}")
            if self.grants.get(key) != grant:
                return
            taken = self.renewed.get(key)
            if key in self.held and taken is not None and asked - taken >= self.ttl:
                self.lost.add(key)  # expired in the store: another host may take it
            return
        except Exception:
            log.exception("renewing the lease on %s failed; trying again", key)
            return
        if self.grants.get(key) != grant:
            return
        if renewed and key in self.held:
            self.renewed[key] = max(asked, self.renewed.get(key, asked))
            self.outage.ok()
        if not renewed and key in self.held:
            self.lost.add(key)
            log.warning(
                "lost the lease on %s; another host may take it over, and this host "
                "writes nothing more under it", key,
            )


@attrs.define(eq=False)
class HeldLease:
    """A lease this host holds, and its holder: whoever has this object gives it back.

    ``hand_over`` gives the lease to a new holder (the object it returns) and leaves this one
    empty, so the code that took a lease and the code that ends it agree on who releases it
    without a flag between them: ``release`` on an object that handed its lease on does nothing.
    """

    leases: Leases
    key: str
    _held: bool = True

    @property
    def held(self) -> bool:
        """Whether this object still holds the lease (it was neither handed on nor released)."""
        return self._held

    def hand_over(self) -> HeldLease:
        """The lease, for its new holder; this object holds nothing from now on."""
        if not self._held:
            raise RuntimeError(f"the lease on {self.key} is not held here: it cannot be handed on")
        self._held = False
        return HeldLease(self.leases, self.key)

    async def release(self) -> None:
        """Give the lease back, once, if this object still holds it."""
        if self._held:
            self._held = False
            await self.leases.release(self.key)
