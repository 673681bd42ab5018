"""``Indexer``: keeps the search index following the durable state.

What to index is durable: the store records each written workflow in its index outbox in the
transaction of the write (``PersistenceProvider.get_index_outbox``), and the indexer drains it:
soon after a change in this host (in batches), every poll interval (other processes write too,
the ``wfe`` command among them), and at start (what a host that crashed, or stopped with its
index down, left behind). A store that keeps the search index in the same transaction leaves
the outbox empty: nothing to do here.

Two kinds of failure, kept apart: an index that is unavailable (``ProviderUnavailableError``)
keeps every entry in the outbox, and is logged once per outage (an ``Outage`` of its own);
a document the index refuses for good (a value its mapping cannot hold) is logged once, left
out of the outbox, and never holds the others up: a chunk refused is written again one
workflow at a time, so every other workflow in it is indexed and searches answer. The
workflow's next write tries it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ._leases import Leases
from ._models import WorkflowInstance, fields_only
from ._outage import Outage
from ._telemetry import Telemetry
from .errors import ProviderError, ProviderUnavailableError, WfeError
from .providers import PersistenceProvider, SearchIndex, SearchRemoval

__all__ = ["Indexer"]

log = logging.getLogger("wfe.runtime")

#: How long index updates gather before they are written together.
INDEX_BATCH_SECONDS = 0.5
#: The lease one host holds while it drains the index outbox.
INDEX_LEASE = "index-outbox"
#: Workflows written to the search index in one ``index_workflows`` call.
INDEX_CHUNK = 256
#: Outbox entries one flush takes at most; a fuller outbox is drained by the next flush.
INDEX_DRAIN = 4 * INDEX_CHUNK
#: Drains a search's flush takes at most before it searches: a backlog of up to
#: ``CATCH_UP_DRAINS * INDEX_DRAIN`` entries is searchable at once, and writes arriving faster
#: than they are indexed cannot hold a search up for ever.
CATCH_UP_DRAINS = 16
#: Seconds a search's flush waits for another host's drain to end.
CATCH_UP_WAIT = 5.0


class Indexer:
    """Drains the outbox of ``persistence`` into ``search``."""

    def __init__(
        self,
        persistence: PersistenceProvider,
        search: SearchIndex,
        leases: Leases,
        poll_interval: float,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.persistence = persistence
        self.search = search
        self.leases = leases
        self.poll_interval = poll_interval
        self.pending: dict[str, WorkflowInstance] = {}
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        #: An unavailable index is logged once per outage, as the store's outages are.
        self.outage = Outage("the search index")

    def index_soon(
        self, wid: str, data_text: str | None = None, instance: WorkflowInstance | None = None
    ) -> None:
        """``wid`` was written: drain the outbox shortly.

        With ``instance`` and its data as JSON text, the indexer need not reload it.
        """
        if instance is not None and data_text is not None:
            # The index needs the fields and the data, not the pointers.
            self.pending[wid] = fields_only(instance, data_text)
        self.wake.set()

    async def run(self, stopping: Callable[[], bool]) -> None:
        self.wake.set()  # catch up at once with what earlier hosts left in the outbox
        while not stopping():
            try:
                await asyncio.wait_for(self.wake.wait(), self.poll_interval)
                # Gather a batch: a short workflow's start and end then cost one write, not
                # two. host.search() flushes first, so searches never see a stale index.
                await asyncio.sleep(INDEX_BATCH_SECONDS)
            except TimeoutError:
                pass  # look anyway: another process may have written
            self.wake.clear()
            try:
                await self.flush()
            except ProviderUnavailableError as exc:  # the outbox keeps them until it answers
                self.outage.failed(exc, "indexing the outbox")
            except Exception:
                log.exception("search indexing failed; the workflows stay in the outbox for later")
            else:
                self.outage.ok()

    async def flush(self, *, catch_up: bool = False) -> None:
        """Index what the store's outbox holds, and take it out of the outbox.

        One drain at a time, in this host (a lock) and across hosts (a lease): two drains of
        one workflow could otherwise store an older state over a newer one.

        Args:
            catch_up: for ``host.search``, which must see every write stored before it: drain
                again while a drain came back full (up to :data:`CATCH_UP_DRAINS` drains), and
                wait up to :data:`CATCH_UP_WAIT` seconds for a drain another host is running
                (it may have read the outbox before this host's last writes).

        Raises:
            WfeError: some workflows could not be indexed; they stay in the outbox.
        """
        async with self.lock:
            snapshots: dict[str, WorkflowInstance] = {}
            for _ in range(CATCH_UP_DRAINS if catch_up else 1):
                snapshots, self.pending = snapshots | self.pending, {}
                entries = await self.persistence.get_index_outbox(INDEX_DRAIN)
                self.telemetry.index_backlog_is(len(entries))
                if not entries:
                    return
                if not await self.leases.acquire(INDEX_LEASE):
                    if not catch_up or not await self.leases.acquire_waiting(
                        INDEX_LEASE, CATCH_UP_WAIT, lambda: None
                    ):
                        return  # another host is draining it
                    # What that host drained meanwhile is gone from the outbox.
                    entries = await self.persistence.get_index_outbox(INDEX_DRAIN)
                try:
                    left = await self.index_entries(entries, snapshots)
                finally:
                    await self.leases.release(INDEX_LEASE)
                self.telemetry.index_backlog_is(left)
                if len(entries) < INDEX_DRAIN:
                    return
            self.wake.set()  # there may be more

    async def index_entries(
        self, entries: list[tuple[str, int]], snapshots: dict[str, WorkflowInstance]
    ) -> int:
        """Index outbox entries, from ``snapshots`` where they are as new, else reloaded.

        Returns how many are left in the outbox (the entries of chunks that failed raise).
        """
        ready: list[WorkflowInstance] = []
        missing: list[str] = []
        for wid, revision in entries:
            snapshot = snapshots.get(wid)
            if snapshot is not None and snapshot.revision >= revision:
                ready.append(snapshot)
            else:
                missing.append(wid)
        if missing:
            ready.extend(await self.persistence.get_workflows(missing))
        found = {instance.id for instance in ready}
        # An entry of a workflow the store no longer has (it was purged) leaves nothing to
        # index; its entry in the index goes, where the index can remove entries.
        done = [(wid, revision) for wid, revision in entries if wid not in found]
        errors: list[Exception] = []
        failed = 0
        if done and isinstance(self.search, SearchRemoval):
            try:
                await self.search.remove_workflows([wid for wid, _ in done])
            except Exception as exc:  # kept in the outbox: the next flush removes them
                errors.append(exc)
                failed += len(done)
                done = []
        # A chunk is one bulk write: one transaction (one fsync) on SQLite, one _bulk request
        # on OpenSearch, rather than one per workflow.
        for start in range(0, len(ready), INDEX_CHUNK):
            chunk = ready[start : start + INDEX_CHUNK]
            try:
                await self.search.index_workflows(chunk)
            except ProviderUnavailableError as exc:
                # The chunk's entries stay in the outbox: the next flush writes it again.
                errors.append(exc)
                failed += len(chunk)
                continue
            except ProviderError:  # refused for good: find which, and index the others
                left, unavailable = await self.index_alone(chunk)
                if unavailable is not None:
                    errors.append(unavailable)
                    failed += len(chunk) - len(left)
                chunk = left
            except Exception as exc:  # not translated by its provider: kept, as if unavailable
                errors.append(exc)
                failed += len(chunk)
                continue
            # Only up to the revision indexed: a later write keeps its entry.
            done.extend((instance.id, instance.revision) for instance in chunk)
        if done:
            await self.persistence.remove_index_outbox(done)
        if errors:
            self.telemetry.index_backlog_is(failed)
            message = f"search indexing failed for {failed} workflow(s): {errors[0]}"
            if all(isinstance(e, ProviderUnavailableError) for e in errors):
                raise ProviderUnavailableError(message) from errors[0]
            raise WfeError(message) from errors[0]
        return 0

    async def index_alone(
        self, chunk: list[WorkflowInstance]
    ) -> tuple[list[WorkflowInstance], Exception | None]:
        """Index a refused chunk one workflow at a time: the ones the index refuses for good
        (a ``ProviderError``) are logged and left out; any other failure (unavailable, or an
        error its provider did not translate) stops the rest, which stay in the outbox.

        Returns the workflows done with (indexed or refused), and the failure met.
        """
        finished: list[WorkflowInstance] = []
        for instance in chunk:
            try:
                await self.search.index_workflows([instance])
            except ProviderUnavailableError as exc:
                return finished, exc
            except ProviderError as exc:
                log.warning(
                    "the search index refused workflow %s at revision %d; it is left out of "
                    "search until its next change: %s",
                    instance.id, instance.revision, _cut(str(exc)),
                )
            except Exception as exc:
                return finished, exc
            finished.append(instance)
        return finished, None


def _cut(text: str, most: int = 500) -> str:
    # The index's reason may quote the refused value, which can be megabytes.
    return text if len(text) <= most else f"{text[:most]}... ({len(text)} characters)"
