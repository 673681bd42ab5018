"""``PostgresQueue``: de-duplicated queues of ids, one per kind, in the ``queue`` table.

Implements :class:`wfe_core.providers.QueueProvider`; the host's consumers call ``dequeue`` in a
loop. Items live in the database, so every host on the schema shares the queues.

Order: each item has a rank (``wfe_core.providers.queue_rank``: the server's clock at the
enqueue plus its priority level's aging), and the lowest goes first, ties in enqueue order
(``seq``). An id queued again while waiting keeps the better of its two ranks.

Claiming: ``DELETE ... WHERE (kind, item_id) = (SELECT ... ORDER BY rank LIMIT 1 FOR UPDATE SKIP
LOCKED) RETURNING``, one statement: consumers on any host never wait for each other's row
locks, and each item goes to exactly one of them. Waking up: an enqueue that adds a row
notifies the schema's channel in the same statement (``pg_notify``, delivered at commit), the
database's listening connection sets the kind's wake-up, and a waiting ``dequeue`` on any host
claims at once. A local enqueue also sets it directly. While the listener is down, waiting
consumers look at the table on a backoff (5 ms up to 100 ms); with it up, once a second, only as
a safety net.

A wake-up does not send every waiting consumer of the host to the server (a host has several
per kind, and one enqueue would cost each of them a claim, a commit, that finds nothing):
wake-ups are counted, and a host has at most as many claims of a kind on the server as it
had wake-ups since one of its claims last found the queue empty. The safety-net look is once
per period per host, not per consumer.

Queueing and claiming commit without waiting for their WAL flush (``ASYNC_COMMIT``): a
server crash may lose the last moment's wake-ups, never work, since the durable truth is the
workflow's or event's row (below).

A claimed item is gone from the table: the Protocol has no acknowledgement, so a host that dies
between ``dequeue`` and its work loses that wake-up, not the work. The durable truth is the
workflow's own row (runnable, due) and the event's (unprocessed), which every host's poller
finds again once the dead host's lease expired, and queues again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from wfe_core.coalesce import Coalescer
from wfe_core.providers import DEFAULT_PRIORITY, PRIORITY_AGING, QueueKind

from ._database import ASYNC_COMMIT, DatabaseUser

__all__ = ["PostgresQueue"]

_FIRST_DELAY = 0.005
_MAX_DELAY = 0.1
_LISTENING_DELAY = 1.0

# The rank is on the server's clock, which every host shares.
_ENQUEUE = """
    WITH added AS (
        INSERT INTO {s}.queue (kind, item_id, rank)
        SELECT %(kind)s, %(item)s,
            extract(epoch FROM clock_timestamp())::float8 + %(priority)s::int * %(aging)s::float8
        WHERE """ + ASYNC_COMMIT + """
        ON CONFLICT (kind, item_id) DO UPDATE SET rank = excluded.rank
        WHERE excluded.rank < queue.rank RETURNING 1)
    SELECT pg_notify(%(channel)s, %(kind)s) FROM added"""
# Several enqueues of one kind in one statement. The server folds a transaction's identical
# notifications into one, so each added row's carries its id after the kind: a host counts a
# wake-up per item, and sends as many consumers to claim.
_ENQUEUE_MANY = """
    WITH added AS (
        INSERT INTO {s}.queue (kind, item_id, rank)
        SELECT %(kind)s, t.item,
            extract(epoch FROM clock_timestamp())::float8 + t.priority * %(aging)s::float8
        FROM unnest(%(items)s::text[], %(priorities)s::int[]) WITH ORDINALITY
            AS t(item, priority, n)
        WHERE """ + ASYNC_COMMIT + """
        ORDER BY t.n
        ON CONFLICT (kind, item_id) DO UPDATE SET rank = excluded.rank
        WHERE excluded.rank < queue.rank RETURNING item_id)
    SELECT pg_notify(%(channel)s, %(kind)s || ' ' || item_id) FROM added"""
_CLAIM = """
    DELETE FROM {s}.queue WHERE (kind, item_id) = (
        SELECT kind, item_id FROM {s}.queue WHERE kind = %s
        ORDER BY rank, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
      AND """ + ASYNC_COMMIT + """
    RETURNING item_id"""
# Puts a claimed item back at the head of its queue, unless it was queued again meanwhile.
_PUT_BACK = """
    INSERT INTO {s}.queue (kind, item_id, seq, rank)
    VALUES (%(kind)s, %(item)s, (SELECT COALESCE(min(seq), 1) - 1 FROM {s}.queue WHERE kind = %(kind)s),
        (SELECT COALESCE(min(rank), 0) - 1 FROM {s}.queue WHERE kind = %(kind)s))
    ON CONFLICT (kind, item_id) DO NOTHING"""


class PostgresQueue(DatabaseUser):
    """Durable queues served by priority rank, shared by every host on the database and schema.

    Args:
        database: the :class:`~wfe_postgres.PostgresDatabase` to use, or a ``postgresql://`` URL.

    Attributes:
        aging: seconds of waiting worth one priority level (``PRIORITY_AGING``).
    """

    aging: float = PRIORITY_AGING

    def __init__(self, database: Any) -> None:
        super().__init__(database)
        self._put_backs: set[asyncio.Task[Any]] = set()
        # Per kind: the wake-up count when a claim that found nothing began, and the claims
        # on the server now.
        self._seen_empty: dict[QueueKind, int] = {}
        self._claiming: dict[QueueKind, int] = {}
        self._last_look: dict[QueueKind, float] = {}
        # Enqueues made together (a host starting or waking many workflows) share a statement.
        self._enqueues: dict[QueueKind, Coalescer[tuple[str, int], None]] = {}

    async def enqueue(
        self, kind: QueueKind, item_id: str, priority: int = DEFAULT_PRIORITY
    ) -> None:
        """Add ``item_id`` to ``kind``'s queue at ``priority`` unless it is already waiting there.

        Enqueues made together share one statement (see ``wfe_core.coalesce``).
        """
        enqueue = self._enqueues.get(kind)
        if enqueue is None:
            enqueue = self._enqueues[kind] = Coalescer(
                lambda items: self._enqueue_many(kind, items),
                lambda item: self._enqueue_one(kind, *item),
                name=f"wfe.postgres.enqueue.{kind.value}",
            )
        await enqueue((item_id, priority))

    async def _enqueue_one(self, kind: QueueKind, item_id: str, priority: int) -> None:
        args = {"kind": kind.value, "item": item_id, "channel": self._db.channel,
                "priority": priority, "aging": self.aging}
        await self._db.execute("queueing an item", _ENQUEUE, args)
        self._db.signal(_name(kind))

    async def _enqueue_many(
        self, kind: QueueKind, items: Sequence[tuple[str, int]]
    ) -> list[None]:
        # An id queued twice in one batch goes once, at the better (lower) of its levels: a
        # row cannot be inserted and updated by one statement.
        best: dict[str, int] = {}
        for item_id, priority in items:
            best[item_id] = min(priority, best.get(item_id, priority))
        args = {"kind": kind.value, "items": list(best), "priorities": list(best.values()),
                "channel": self._db.channel, "aging": self.aging}
        await self._db.execute("queueing items", _ENQUEUE_MANY, args)
        for _ in items:
            self._db.signal(_name(kind))
        return [None] * len(items)

    async def dequeue(self, kind: QueueKind, timeout: float) -> str | None:
        """Take the id of ``kind`` of lowest rank, waiting up to ``timeout`` seconds; None if none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        delay = _FIRST_DELAY
        name = _name(kind)
        while True:
            # Cleared before looking, so that a wake-up landing while we look still counts.
            wakeup = self._wakeup(kind)
            wakeup.clear()
            signals = self._db.signals(name)
            owed = signals - self._seen_empty.get(kind, 0)
            poll = _LISTENING_DELAY if self._db.listening else delay
            # The safety net: one look per poll period per host, signalled or not.
            due = loop.time() - self._last_look.get(kind, float("-inf")) >= poll
            if due or self._claiming.get(kind, 0) < owed:
                self._last_look[kind] = loop.time()
                self._claiming[kind] = self._claiming.get(kind, 0) + 1
                try:
                    item = await self._take(kind)
                finally:
                    self._claiming[kind] -= 1
                if item is not None:
                    if owed > 1:
                        wakeup.set()  # more were signalled: another consumer may claim
                    return item
                self._seen_empty[kind] = max(self._seen_empty.get(kind, 0), signals)
                if self._db.signals(name) > signals:
                    wakeup.set()  # signalled while we looked: the others look again
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(wakeup.wait(), min(poll, remaining))
                delay = _FIRST_DELAY
            except TimeoutError:
                delay = min(delay * 2, _MAX_DELAY)

    async def _take(self, kind: QueueKind) -> str | None:
        """Claim the oldest item, never losing it to the caller's cancellation."""
        claim = asyncio.ensure_future(
            self._db.fetchone("claiming a queued item", _CLAIM, (kind.value,))
        )
        try:
            # Shielded: a claim the server ran commits whatever happens to us, and an item
            # deleted for a caller that is gone must go back.
            row = await asyncio.shield(claim)
        except asyncio.CancelledError:
            claim.add_done_callback(lambda done: self._put_back(kind, done))
            raise
        return None if row is None else str(row[0])

    def _put_back(self, kind: QueueKind, done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None or done.result() is None:
            return
        args = {"kind": kind.value, "item": done.result()[0]}
        task = asyncio.ensure_future(self._db.execute("putting an item back", _PUT_BACK, args))
        self._put_backs.add(task)
        task.add_done_callback(self._put_backs.discard)
        self._db.signal(_name(kind))

    def _wakeup(self, kind: QueueKind) -> asyncio.Event:
        return self._db.wakeup(_name(kind))


def _name(kind: QueueKind) -> str:
    """The wake-up of ``kind``'s queue (notifications carry ``kind.value``)."""
    return f"queue:{kind.value}"
