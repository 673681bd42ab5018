"""Retention: finished workflows deleted for good, by age, in small batches.

Two callers: ``WorkflowHost.purge_workflows`` (and ``wfe purge``) runs :func:`purge` once, batch
after batch; a host made with ``retention=`` runs :class:`Retention` as one of its background
tasks (``_runtime``). Both go through the store's optional
:class:`~wfe_core.providers.WorkflowPurging` capability, which deletes each batch (instances,
pointers, subscriptions, errors, search entries) in one short transaction.

**Never in the way of running work.** The background task deletes one batch of
:data:`RETENTION_BATCH` workflows per interval: while a backlog lasts, after a pause that keeps
the purge's share of the time to :data:`BACKLOG_SHARE` (a batch that took 40 ms is followed
by at least 160 ms of nothing, and never less than :data:`BACKLOG_PAUSE`), and every poll
interval once it is gone. A batch is one short transaction, so a
pass waits at most one batch for the store's writer (SQLite) or for nothing (PostgreSQL: other
rows). One host purges at a time (the lease :data:`RETENTION_LEASE`), so hosts sharing a store
do not race each other for the same rows.

**Events.** Events belong to no workflow: processed events older than the cutoff go with a
purge that names no definition (and with retention). A wait that begins later with an
effective date before the cutoff no longer sees them; unprocessed events are never purged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from ._leases import Leases
from ._models import WorkflowStatus
from ._outage import Outage
from .clock import Clock
from .errors import ConfigurationError, ProviderUnavailableError
from .providers import PersistenceProvider, WorkflowPurging

__all__ = ["FINISHED", "Retention", "finished_statuses", "purge", "purging_store"]

log = logging.getLogger("wfe.runtime")

#: The statuses a purge may delete.
FINISHED: tuple[WorkflowStatus, ...] = (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)
#: Workflows one background batch deletes at most (one short transaction).
RETENTION_BATCH = 200
#: Seconds between background batches while a backlog lasts, at the least.
BACKLOG_PAUSE = 0.1
#: The most of the time a backlog's batches take (on SQLite, of the one writer's time):
#: the pause after a batch is long enough to keep to it.
BACKLOG_SHARE = 0.2
#: The lease the purging host holds for one batch.
RETENTION_LEASE = "retention"


def purging_store(persistence: PersistenceProvider) -> WorkflowPurging:
    """``persistence`` as a purging store, or a ``ConfigurationError`` saying it is not one."""
    if not isinstance(persistence, WorkflowPurging):
        raise ConfigurationError(
            f"{type(persistence).__name__} cannot purge workflows (it lacks count_purgeable, "
            "purge_workflows and purge_events of wfe_core.providers.WorkflowPurging); use a store "
            "that has them (memory, SQLite, PostgreSQL), or leave retention unset"
        )
    return persistence


def finished_statuses(
    status: WorkflowStatus | str | Collection[WorkflowStatus | str] | None,
) -> tuple[WorkflowStatus, ...]:
    """The statuses a purge asked for (``None``: both finished ones), checked.

    Raises:
        ValueError: a status that is not COMPLETE or TERMINATED, or none at all.
    """
    if status is None:
        return FINISHED
    given = [status] if isinstance(status, WorkflowStatus | str) else list(status)
    chosen: list[WorkflowStatus] = []
    for value in given:
        try:
            chosen.append(WorkflowStatus(value))
        except ValueError:
            chosen.append(None)  # type: ignore[arg-type]  # reported below
        if chosen[-1] not in FINISHED:
            raise ValueError(
                f"only finished workflows are purged: give status complete or terminated (or "
                f"leave it out for both), not {value!r}; terminate a running one first"
            )
    if not chosen:
        raise ValueError("give at least one status to purge (complete, terminated), or None for both")
    return tuple(s for s in FINISHED if s in chosen)


def cutoff(older_than: timedelta | datetime, now: datetime) -> datetime:
    """The completion time before which workflows are purged.

    Raises:
        ValueError: a negative age, or a time without a zone.
    """
    if isinstance(older_than, datetime):
        if older_than.tzinfo is None:
            raise ValueError("older_than as a datetime needs a time zone, e.g. datetime(..., tzinfo=UTC)")
        return older_than
    if not isinstance(older_than, timedelta) or older_than < timedelta(0):
        raise ValueError(f"older_than must be a timedelta of 0 or more (or a datetime), not {older_than!r}")
    return now - older_than


async def purge(
    store: WorkflowPurging,
    before: datetime,
    statuses: Collection[WorkflowStatus],
    definition_id: str | None = None,
    *,
    batch: int = 500,
    progress: Callable[[int, int], None] | None = None,
    dry_run: bool = False,
) -> int:
    """Delete every purgeable workflow, ``batch`` at a time, yielding to the loop between batches.

    Returns:
        How many workflows were deleted (with ``dry_run``: how many would be; none is).
    """
    total = await store.count_purgeable(before, statuses, definition_id)
    if dry_run:
        return total
    done = 0
    while True:
        purged = await store.purge_workflows(before, statuses, definition_id, batch)
        done += purged
        if progress is not None:
            progress(done, max(total, done))
        if purged < batch:
            break
        await asyncio.sleep(0)  # let passes in between
    if definition_id is None:
        while await store.purge_events(before, batch) >= batch:
            await asyncio.sleep(0)
    return done


class Retention:
    """The background task of a host made with ``retention=``: one batch per interval."""

    def __init__(
        self,
        store: WorkflowPurging,
        leases: Leases,
        clock: Clock,
        retention: float,
        idle_interval: float,
    ) -> None:
        self.store = store
        self.leases = leases
        self.clock = clock
        self.retention = timedelta(seconds=retention)
        self.idle_interval = idle_interval
        self.outage = Outage()
        #: Workflows this host's retention has deleted (read by tests and benchmarks).
        self.purged = 0

    async def run(self, stopping: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        while not stopping():
            pause = self.idle_interval
            began = loop.time()
            try:
                if await self.batch() >= RETENTION_BATCH:
                    took = loop.time() - began
                    pause = max(BACKLOG_PAUSE, took * (1 - BACKLOG_SHARE) / BACKLOG_SHARE)
            except ProviderUnavailableError as exc:
                self.outage.failed(exc, "purging finished workflows")
            except Exception:
                log.exception("purging finished workflows failed; retrying at the next interval")
            else:
                self.outage.ok()
            await asyncio.sleep(pause)

    async def batch(self) -> int:
        """Delete one batch of workflows (and of processed events) past the retention.

        Returns the larger of the two counts; 0 when another host holds the lease.
        """
        if not await self.leases.acquire(RETENTION_LEASE):
            return 0
        try:
            before = self.clock.now() - self.retention
            workflows = await self.store.purge_workflows(before, FINISHED, None, RETENTION_BATCH)
            events = await self.store.purge_events(before, RETENTION_BATCH)
        finally:
            await self.leases.release(RETENTION_LEASE)
        self.purged += workflows
        return max(workflows, events)
