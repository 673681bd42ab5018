"""``SqliteQueue``: de-duplicated queues of ids, one per kind, in the ``queue`` table.

Implements :class:`wfe_core.providers.QueueProvider`; the host's consumers call ``dequeue`` in a
loop, the plugin's ``queue`` factory builds it. Items live in the database, so several processes
on one file share the queues and a queued id survives a restart.

Waking up: an enqueue in this process sets an in-process event that the waiting ``dequeue``
wakes on at once. Items enqueued by *other* processes cannot signal us, so one of the waiting
``dequeue`` calls of each kind, the watcher, also looks at the table on a backoff, from 5 ms up
to 250 ms while nothing comes, and wakes the others when it finds something. That look is a
read (no write lock, so idle consumers never make writers wait); only when it finds something
does ``dequeue`` take the write lock to claim it. An idle process thus costs about four indexed
reads a second per kind, however many consumers wait (a host has sixteen for workflows), nor
how often they call: a call does not look sooner than the backoff after the last look.

Order: each item has a rank (``wfe_core.providers.queue_rank``: the enqueue time plus its
priority level's aging), and the lowest rank goes first, ties in enqueue order (``seq``). An id
queued again while waiting keeps the better of its two ranks.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from wfe_core.providers import DEFAULT_PRIORITY, PRIORITY_AGING, QueueKind, queue_rank

from ._database import DatabaseUser, SqliteDatabase

__all__ = ["SqliteQueue"]

_FIRST_DELAY = 0.005
# 250 ms: an idle host (two kinds watched) looks 8 times a second, not 20 as at 100 ms, and an
# item queued by another process to a host idle for a while is taken within 250 ms; a busy
# queue is looked at every 5 ms, as its backoff starts over at each find.
_MAX_DELAY = 0.25

# seq is one past the highest of the kind; the write lock serializes enqueues, so no two
# queued items of a kind share a seq.
_ENQUEUE = """
    INSERT INTO queue (kind, item_id, seq, rank)
    VALUES (:kind, :item, (SELECT COALESCE(MAX(seq), 0) + 1 FROM queue WHERE kind = :kind), :rank)
    ON CONFLICT (kind, item_id) DO UPDATE SET rank = excluded.rank
    WHERE excluded.rank < queue.rank"""
_PEEK = "SELECT 1 FROM queue WHERE kind = ? LIMIT 1"
_OLDEST = "SELECT item_id, seq FROM queue WHERE kind = ? ORDER BY rank, seq LIMIT 1"
# Claims by item_id, which is unique within the kind, so exactly one row goes.
_TAKE_RETURNING = """
    DELETE FROM queue WHERE kind = :kind AND item_id =
        (SELECT item_id FROM queue WHERE kind = :kind ORDER BY rank, seq LIMIT 1)
    RETURNING item_id, seq"""
_TAKE = "DELETE FROM queue WHERE kind = ? AND item_id = ?"
# Puts a claimed item back at the head of its queue, unless it was queued again meanwhile.
_PUT_BACK = """
    INSERT INTO queue (kind, item_id, seq, rank)
    VALUES (:kind, :item, (SELECT COALESCE(MIN(seq), 1) - 1 FROM queue WHERE kind = :kind),
        (SELECT COALESCE(MIN(rank), 0) - 1 FROM queue WHERE kind = :kind))
    ON CONFLICT (kind, item_id) DO NOTHING"""

# DELETE ... RETURNING arrived in SQLite 3.35.
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)


class SqliteQueue(DatabaseUser):
    """Durable queues served by priority rank, shared by every process using the database file.

    Args:
        database: the :class:`~wfe_sqlite.SqliteDatabase` to use, or a ``sqlite://`` URL.

    Attributes:
        aging: seconds of waiting worth one priority level (``PRIORITY_AGING``).
    """

    aging: float = PRIORITY_AGING

    def __init__(self, database: SqliteDatabase | str) -> None:
        super().__init__(database)
        #: Kinds whose table a waiting ``dequeue`` of this process looks at for the others.
        self._watched: set[QueueKind] = set()
        #: Each kind's pause between looks, grown while nothing comes (5 ms to 250 ms).
        self._backoff: dict[QueueKind, float] = {}
        #: When each kind's table was last looked at (the loop's clock).
        self._looked: dict[QueueKind, float] = {}
        #: Kinds whose last claim here found an item: the next call claims without a look.
        self._flowing: set[QueueKind] = set()

    async def enqueue(
        self, kind: QueueKind, item_id: str, priority: int = DEFAULT_PRIORITY
    ) -> None:
        """Add ``item_id`` to ``kind``'s queue at ``priority`` unless it is already waiting there."""
        rank = queue_rank(priority, time.time(), self.aging)
        args = {"kind": kind.value, "item": item_id, "rank": rank}
        await self._db.write(lambda conn: conn.execute(_ENQUEUE, args))
        self._wakeup(kind).set()

    async def dequeue(self, kind: QueueKind, timeout: float) -> str | None:
        """Take the id of ``kind`` of lowest rank, waiting up to ``timeout`` seconds; None if none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        # The backoff outlives one call: consumers call again and again while idle.
        delay = self._backoff.get(kind, _FIRST_DELAY)
        # Hot: a local enqueue woke us, or the last claim of this kind found an item, so one
        # is likely there: claim it straight away. Cold (and at first): peek with a read
        # first, so idle looks take no write lock.
        hot = kind in self._flowing
        watching = False
        try:
            while True:
                # Cleared before looking, so that an enqueue landing while we look wakes us.
                wakeup = self._wakeup(kind)
                wakeup.clear()
                # A look only where no other call of this process watches the kind, and not
                # sooner than the backoff after the last one (a call starts where one ended).
                looks = (watching or kind not in self._watched) and (
                    loop.time() - self._looked.get(kind, float("-inf")) >= delay / 2
                )
                if looks:
                    self._looked[kind] = loop.time()
                if hot or looks and await self._db.read(
                    lambda conn: conn.execute(_PEEK, (kind.value,)).fetchone()
                ):
                    if not hot:  # found by a look: the other consumers may claim too
                        wakeup.set()
                    item = await self._take(kind)
                    if item is not None:
                        self._backoff[kind] = _FIRST_DELAY
                        self._flowing.add(kind)
                        return item
                    self._flowing.discard(kind)
                    # Nothing, or another consumer (here or in another process) won the race.
                    delay = _FIRST_DELAY
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                if not watching and kind not in self._watched:
                    self._watched.add(kind)  # this call looks at the table for the others
                    watching = True
                try:
                    await asyncio.wait_for(
                        wakeup.wait(), min(delay, remaining) if watching else remaining
                    )
                    hot, delay = True, _FIRST_DELAY
                except TimeoutError:
                    hot, delay = False, min(delay * 2, _MAX_DELAY)
        finally:
            if watching:
                self._watched.discard(kind)
                self._backoff[kind] = delay

    async def _take(self, kind: QueueKind) -> str | None:
        """Claim the oldest item in one write transaction, never losing it to cancellation."""
        claim = asyncio.ensure_future(self._db.write(lambda conn: _claim(conn, kind.value)))
        try:
            # Shielded: once the claim is running in the worker thread it commits whatever
            # happens to us, and an item deleted for a caller that is gone must go back.
            claimed = await asyncio.shield(claim)
        except asyncio.CancelledError:
            claim.add_done_callback(lambda done: self._put_back(kind, done))
            raise
        return None if claimed is None else claimed[0]

    def _put_back(self, kind: QueueKind, done: asyncio.Future[tuple[str, int] | None]) -> None:
        if done.cancelled() or done.exception() is not None or done.result() is None:
            return
        args = {"kind": kind.value, "item": done.result()[0]}  # type: ignore[index]
        self._db.write_soon(lambda conn: conn.execute(_PUT_BACK, args))
        self._wakeup(kind).set()

    def _wakeup(self, kind: QueueKind) -> asyncio.Event:
        return self._db.wakeup(f"queue:{kind.value}")


def _claim(conn: sqlite3.Connection, kind: str) -> tuple[str, int] | None:
    if _HAS_RETURNING:
        # fetchall, not fetchone: it runs the statement to completion, and COMMIT fails while a
        # statement is still in progress.
        rows = conn.execute(_TAKE_RETURNING, {"kind": kind}).fetchall()
        row = rows[0] if rows else None
    else:
        row = conn.execute(_OLDEST, (kind,)).fetchone()
        if row is not None:
            conn.execute(_TAKE, (kind, row[0]))
    return None if row is None else (row[0], row[1])
