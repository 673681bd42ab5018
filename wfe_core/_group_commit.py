"""``GroupCommit``: passes of many workflows that finish together reach the store as one batch.

The runner and the event delivery call :meth:`GroupCommit.persist` once per pass. Calls made
during one turn of the event loop, and those made while a batch is being written, are handed to
``PersistenceProvider.persist_workflows`` together, so that a store can write them in one
transaction with one commit (SQLite: one fsync; PostgreSQL: one round trip and one fsync).
Each caller still gets its own outcome: its write succeeded, or it raises the error that
``persist_workflow`` would have raised for it alone. A provider that cannot batch loops over
``persist_workflow`` (``providers.persist_one_by_one``); nothing changes for its callers.

Why batch here rather than in each provider: every provider then gets the same grouping with
the same per-pass semantics, and only has to say how to write a list of passes.

A store with no commit to share (``memory://``, whose writes are plain assignments) says so
with a class attribute ``commits_together = False``: each pass is then written at once, with
no future, no batch and no extra turn of the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .providers import PersistenceProvider, WorkflowWrite, persist_one_by_one

__all__ = ["GroupCommit"]

#: Passes written in one batch at most: bounds the latency a pass adds to the others of its
#: batch, and the work redone when a batch's transaction is lost. It covers the host's default
#: of 256 workflows in flight, so they share one commit.
MAX_BATCH = 256


class GroupCommit:
    """Collects persist calls and writes them in batches through ``persistence``.

    Args:
        persistence: the store.
        max_batch: the most passes in one ``persist_workflows`` call.
    """

    def __init__(self, persistence: PersistenceProvider, max_batch: int = MAX_BATCH) -> None:
        self.persistence = persistence
        self.max_batch = max_batch
        self.together = bool(getattr(persistence, "commits_together", True))
        self._pending: list[tuple[WorkflowWrite, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def persist(self, write: WorkflowWrite) -> None:
        """Store one pass with the others that come now; returns once it is durable.

        Raises:
            ConcurrencyError: the stored revision differs; nothing of this pass was written.
            WorkflowNotFoundError: no such instance.
            ProviderError: the store failed (``ProviderUnavailableError`` if for now only).
        """
        if not self.together:
            await self.persistence.persist_workflow(
                write.instance,
                changed_pointers=write.changed_pointers,
                subscriptions=write.subscriptions,
                errors=write.errors,
            )
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._writer is None:
            # The task starts at the next turn of the loop: every pass that finishes in this
            # turn joins the batch first.
            self._writer = asyncio.create_task(self._write(), name="wfe.group_commit")
        await future

    async def _write(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                # A caller cancelled before its batch went out is left out: it was never
                # acknowledged, and its pass runs again.
                batch = [(w, f) for w, f in batch if not f.done()]
                if batch:
                    await self._write_batch(batch)
        finally:
            self._writer = None
            if self._pending:  # only if the loop above was cancelled midway
                for _, future in self._pending:
                    if not future.done():
                        future.cancel()
                self._pending.clear()

    async def _write_batch(self, batch: list[tuple[WorkflowWrite, asyncio.Future[None]]]) -> None:
        writes = [w for w, _ in batch]
        try:
            outcomes = await self._persist_workflows(writes)
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.cancel()
            raise
        except Exception as exc:  # no write of the batch was attempted
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)

    async def _persist_workflows(self, writes: Sequence[WorkflowWrite]) -> list[Exception | None]:
        batch = getattr(self.persistence, "persist_workflows", None)
        # A lone pass pays nothing for batching: the plain write, on every provider. A provider
        # written before persist_workflows existed gets one plain write each.
        if len(writes) == 1 or batch is None:
            return await persist_one_by_one(self.persistence, writes)
        outcomes: list[Exception | None] = await batch(writes)
        return outcomes
