"""The queue contract: :class:`QueueContract`, run against every queue provider.

A provider author subclasses the suite and supplies a ``queue`` fixture that yields a started
:class:`~wfe_core.providers.QueueProvider` whose queues are empty, and closes it afterwards.

The cases port WFE's ``queue_suite!`` (``reference/wfe-rust.md`` §8.4) and the semantics
workflow-core's ``SingleNodeQueueProvider`` shows but never tests (``reference/
workflow-core-behaviour.md`` §3.3), and add de-duplication, delivery to one consumer only and
wake-up of a waiting ``dequeue``. WFE's ``is_dequeue_blocking_is_stable`` is left out: our
Protocol has no such flag, every ``dequeue`` may wait. Unlike workflow-core's queue, ours must
not hand out duplicates.
"""

from __future__ import annotations

import asyncio
import time

from ...providers import QueueKind, QueueProvider
from .queue_priority import EMPTY_TIMEOUT, QueuePriorityContract, drain

__all__ = ["QueueContract"]

#: An upper bound for returning from a short dequeue; it only catches a provider that hangs.
HANG_LIMIT = 5.0


class QueueContract(QueuePriorityContract):
    """What every queue provider does. Needs a ``queue`` fixture (started, queues empty).

    Priority and aging come with it (:class:`QueuePriorityContract`)."""

    async def test_fifo(self, queue: QueueProvider) -> None:
        for item in ("a", "b", "c"):
            await queue.enqueue(QueueKind.WORKFLOW, item)
        assert await queue.dequeue(QueueKind.WORKFLOW, EMPTY_TIMEOUT) == "a"
        assert await queue.dequeue(QueueKind.WORKFLOW, EMPTY_TIMEOUT) == "b"
        assert await queue.dequeue(QueueKind.WORKFLOW, EMPTY_TIMEOUT) == "c"

    async def test_dequeue_of_an_empty_queue_returns_none_within_the_timeout(
        self, queue: QueueProvider
    ) -> None:
        started = time.monotonic()
        assert await queue.dequeue(QueueKind.WORKFLOW, EMPTY_TIMEOUT) is None
        assert time.monotonic() - started < HANG_LIMIT

    async def test_kinds_are_independent(self, queue: QueueProvider) -> None:
        await queue.enqueue(QueueKind.WORKFLOW, "w1")
        await queue.enqueue(QueueKind.EVENT, "e1")
        await queue.enqueue(QueueKind.WORKFLOW, "w2")
        await queue.enqueue(QueueKind.EVENT, "e2")
        assert await queue.dequeue(QueueKind.EVENT, EMPTY_TIMEOUT) == "e1"
        assert await queue.dequeue(QueueKind.EVENT, EMPTY_TIMEOUT) == "e2"
        assert await queue.dequeue(QueueKind.EVENT, EMPTY_TIMEOUT) is None
        assert await drain(queue, QueueKind.WORKFLOW) == ["w1", "w2"]

    async def test_the_same_id_may_wait_in_each_kind(self, queue: QueueProvider) -> None:
        for kind in QueueKind:
            await queue.enqueue(kind, "x")
        for kind in QueueKind:
            assert await drain(queue, kind) == ["x"]

    async def test_an_id_already_waiting_is_not_enqueued_again(self, queue: QueueProvider) -> None:
        await queue.enqueue(QueueKind.WORKFLOW, "x")
        await queue.enqueue(QueueKind.WORKFLOW, "x")
        assert await drain(queue, QueueKind.WORKFLOW) == ["x"]

    async def test_a_duplicate_keeps_the_first_place(self, queue: QueueProvider) -> None:
        for item in ("x", "y", "x", "z", "y"):
            await queue.enqueue(QueueKind.WORKFLOW, item)
        assert await drain(queue, QueueKind.WORKFLOW) == ["x", "y", "z"]

    async def test_an_id_can_be_enqueued_again_after_dequeue(self, queue: QueueProvider) -> None:
        await queue.enqueue(QueueKind.WORKFLOW, "x")
        assert await queue.dequeue(QueueKind.WORKFLOW, EMPTY_TIMEOUT) == "x"
        await queue.enqueue(QueueKind.WORKFLOW, "x")
        assert await drain(queue, QueueKind.WORKFLOW) == ["x"]

    async def test_enqueue_many_then_drain_in_order(self, queue: QueueProvider) -> None:
        items = [f"item-{n:02d}" for n in range(20)]
        for item in items:
            await queue.enqueue(QueueKind.EVENT, item)
        assert await drain(queue, QueueKind.EVENT) == items
        assert await queue.dequeue(QueueKind.EVENT, EMPTY_TIMEOUT) is None

    async def test_start_and_close_are_idempotent(self, queue: QueueProvider) -> None:
        await queue.start()
        await queue.start()
        await queue.enqueue(QueueKind.WORKFLOW, "a")
        assert await queue.dequeue(QueueKind.WORKFLOW, EMPTY_TIMEOUT) == "a"
        await queue.close()
        await queue.close()

    async def test_a_waiting_dequeue_wakes_when_an_item_arrives(self, queue: QueueProvider) -> None:
        timeout = 2.0

        async def enqueue_later() -> None:
            await asyncio.sleep(0.05)
            await queue.enqueue(QueueKind.WORKFLOW, "late")

        started = time.monotonic()
        item, _ = await asyncio.gather(queue.dequeue(QueueKind.WORKFLOW, timeout), enqueue_later())
        assert item == "late"
        assert time.monotonic() - started < timeout

    async def test_each_item_goes_to_one_consumer(self, queue: QueueProvider) -> None:
        await queue.enqueue(QueueKind.WORKFLOW, "a")
        await queue.enqueue(QueueKind.WORKFLOW, "b")
        taken = await asyncio.gather(*(queue.dequeue(QueueKind.WORKFLOW, 0.3) for _ in range(3)))
        assert sorted(t for t in taken if t is not None) == ["a", "b"]
        assert taken.count(None) == 1

    async def test_waiting_consumers_share_arrivals_without_duplicates(
        self, queue: QueueProvider
    ) -> None:
        async def enqueue_later() -> None:
            await asyncio.sleep(0.05)
            await queue.enqueue(QueueKind.WORKFLOW, "only")

        *taken, _ = await asyncio.gather(
            queue.dequeue(QueueKind.WORKFLOW, 0.5),
            queue.dequeue(QueueKind.WORKFLOW, 0.5),
            enqueue_later(),
        )
        assert sorted(taken, key=lambda t: t or "") == [None, "only"]
