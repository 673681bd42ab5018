"""The priority part of the queue contract: :class:`QueuePriorityContract`.

:class:`~wfe_core.testing.contracts.QueueContract` includes it, so every queue provider runs
it. The rule it checks is ``wfe_core.providers.queue_rank``: an item's rank is the time it was
queued plus ``priority * aging`` seconds, the lowest rank is served first, and items of one
level come out in the order they went in. So a higher level goes first, and an item gains a
level for every ``aging`` seconds it waits (no level starves). The aging case sets the
provider's ``aging`` attribute (seconds a level) to a twentieth of a second, so that it needs
half a second of waiting, not minutes; a provider without that attribute skips it.
"""

from __future__ import annotations

import asyncio

import pytest

from ...providers import QueueKind, QueueProvider

__all__ = ["QueuePriorityContract"]

#: How long a dequeue expected to find nothing waits.
EMPTY_TIMEOUT = 0.05
#: Seconds a level in the aging case, and how long its oldest item waits: more than the seven
#: levels it must make up (0.35 s), with room for a server's clock read at another moment.
_FAST_AGING = 0.05
_AGED = 0.5


async def drain(queue: QueueProvider, kind: QueueKind) -> list[str]:
    """Dequeue ``kind`` until a dequeue finds nothing; the items, in the order they came."""
    items = []
    while (item := await queue.dequeue(kind, EMPTY_TIMEOUT)) is not None:
        items.append(item)
    return items


class QueuePriorityContract:
    """Priority and aging, on every queue. Needs a ``queue`` fixture (started, queues empty)."""

    async def test_higher_priority_first_then_in_order(self, queue: QueueProvider) -> None:
        for item, level in (("a", 7), ("b", 4), ("c", 0), ("d", 4), ("e", 0), ("f", 7)):
            await queue.enqueue(QueueKind.WORKFLOW, item, priority=level)
        assert await drain(queue, QueueKind.WORKFLOW) == ["c", "e", "b", "d", "a", "f"]

    async def test_the_default_level_is_four(self, queue: QueueProvider) -> None:
        await queue.enqueue(QueueKind.WORKFLOW, "low", priority=5)
        await queue.enqueue(QueueKind.WORKFLOW, "default")
        await queue.enqueue(QueueKind.WORKFLOW, "same", priority=4)
        await queue.enqueue(QueueKind.WORKFLOW, "high", priority=3)
        assert await drain(queue, QueueKind.WORKFLOW) == ["high", "default", "same", "low"]

    async def test_a_duplicate_with_a_higher_level_moves_up_a_lower_one_keeps_its_place(
        self, queue: QueueProvider
    ) -> None:
        for item in ("a", "b", "c"):
            await queue.enqueue(QueueKind.WORKFLOW, item)
        await queue.enqueue(QueueKind.WORKFLOW, "c", priority=1)
        await queue.enqueue(QueueKind.WORKFLOW, "a", priority=7)
        assert await drain(queue, QueueKind.WORKFLOW) == ["c", "a", "b"]

    async def test_levels_of_one_kind_leave_the_others_alone(self, queue: QueueProvider) -> None:
        await queue.enqueue(QueueKind.EVENT, "e1")
        await queue.enqueue(QueueKind.WORKFLOW, "w7", priority=7)
        await queue.enqueue(QueueKind.EVENT, "e2")
        await queue.enqueue(QueueKind.WORKFLOW, "w0", priority=0)
        assert await drain(queue, QueueKind.EVENT) == ["e1", "e2"]
        assert await drain(queue, QueueKind.WORKFLOW) == ["w0", "w7"]

    async def test_an_item_gains_a_level_per_aging_period_it_waits(
        self, queue: QueueProvider
    ) -> None:
        if not hasattr(queue, "aging"):
            pytest.skip(f"{type(queue).__qualname__} has no aging attribute to shorten")
        queue.aging = _FAST_AGING
        await queue.enqueue(QueueKind.WORKFLOW, "old-idle", priority=7)
        await asyncio.sleep(_AGED)  # > 7 levels of 0.05 s: it now outranks fresh critical work
        await queue.enqueue(QueueKind.WORKFLOW, "new-critical", priority=0)
        await queue.enqueue(QueueKind.WORKFLOW, "new-idle", priority=7)
        assert await drain(queue, QueueKind.WORKFLOW) == ["old-idle", "new-critical", "new-idle"]
