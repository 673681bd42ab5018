"""``SqlitePersistence``: workflow instances, events, subscriptions and errors in SQLite.

Implements :class:`wfe_core.providers.PersistenceProvider`; the host calls it, the plugin's
``persistence`` factory builds it. Each method is one transaction on the shared
:class:`~wfe_sqlite.SqliteDatabase`. Models become rows (and pointers JSON) on the event loop,
so that a write captures the instance as it was when the call was made; rows become models in
the worker thread, so that loading a long history does not stall the loop.

Every workflow write keeps search in step in its own transaction (no extra round trip, no extra
fsync): with a :class:`~wfe_sqlite.SqliteSearchIndex` attached to the database it writes the
workflow's search entry; without one it records the workflow in ``index_outbox``, which the
host drains into its search index elsewhere (``get_index_outbox`` / ``remove_index_outbox``).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from wfe_core.coalesce import Coalescer, bulk_reads
from wfe_core.errors import ConcurrencyError, ProviderError, WorkflowNotFoundError
from wfe_core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    WorkflowInstance,
    WorkflowStatus,
)
from wfe_core.providers import PRIORITY_AGING, LockProvider, WorkflowWrite
from wfe_core.serialization import dump_pointer

from ._database import SqliteDatabase
from ._errors import provider_error
from ._lock import SqliteLock, take_lease
from ._purge import SqlitePurge
from ._rows import (
    ERROR_COLUMNS,
    EVENT_COLUMNS,
    STORED_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    error_from_row,
    error_row,
    event_from_row,
    event_row,
    instance_from_row,
    instance_row,
    subscription_from_row,
    subscription_row,
)
from ._search import REMEMBERED_ENTRIES, EntryWrite, SqliteSearchIndex, entry_sources
from ._times import from_micros, to_micros

__all__ = ["SqlitePersistence"]

_INSERT_INSTANCE = f"INSERT INTO workflows ({STORED_COLUMNS}) VALUES ({', '.join('?' * 14)})"
# The revision check and the write are one statement: no other writer can slip in between.
_UPDATE_INSTANCE = """
    UPDATE workflows SET definition_id = ?, version = ?, status = ?, reference = ?,
        description = ?, data = ?, create_time = ?, complete_time = ?, next_execution = ?,
        parent_workflow_id = ?, priority = ?, revision = revision + 1
    WHERE id = ? AND revision = ?"""
# A stored pointer keeps its seq (its place in creation order); only its body changes. New
# pointers get the seq handed to them, after every stored one.
_UPSERT_POINTER = """
    INSERT INTO execution_pointers (workflow_id, id, seq, body) VALUES (?, ?, ?, ?)
    ON CONFLICT (workflow_id, id) DO UPDATE SET body = excluded.body"""
# Re-sent ids update in place, keeping their row (and rowid, i.e. their place in the listing
# order), the way the memory provider's dictionaries do.
_UPSERT_SUBSCRIPTION = f"""
    INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET workflow_id = excluded.workflow_id,
        step_id = excluded.step_id, pointer_id = excluded.pointer_id, name = excluded.name,
        key = excluded.key, subscribe_as_of = excluded.subscribe_as_of, data = excluded.data"""
_UPSERT_EVENT = f"""
    INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, key = excluded.key,
        data = excluded.data, event_time = excluded.event_time,
        is_processed = excluded.is_processed, trace_context = excluded.trace_context"""
_INSERT_ERROR = f"INSERT INTO execution_errors ({ERROR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
# The status literal (not a parameter) lets SQLite see that the partial index applies. Due
# work by rank (wfe_core's priority rule: the due time plus the level's aging, microseconds),
# ties by due time: the index finds what is due, the sort is over that alone.
_RUNNABLE = """
    SELECT id, next_execution FROM workflows
    WHERE status = 'runnable' AND next_execution IS NOT NULL AND next_execution <= ?
    ORDER BY next_execution + priority * ?, next_execution LIMIT ?"""

_UPSERT_OUTBOX = """
    INSERT INTO index_outbox (workflow_id, revision) VALUES (?, ?)
    ON CONFLICT (workflow_id) DO UPDATE SET revision = excluded.revision"""
_OUTBOX = "SELECT workflow_id, revision FROM index_outbox LIMIT ?"
_REMOVE_OUTBOX = "DELETE FROM index_outbox WHERE workflow_id = ? AND revision <= ?"

# Stay well under SQLite's host-parameter limit in IN (...) lists.
_CHUNK = 500


class SqlitePersistence(SqlitePurge):
    """Durable persistence in an SQLite file, with optimistic concurrency per instance.

    Args:
        database: the :class:`~wfe_sqlite.SqliteDatabase` to use, or a ``sqlite://`` URL.
    """

    def __init__(self, database: SqliteDatabase | str) -> None:
        super().__init__(database)
        self._load: Coalescer[str, WorkflowInstance] = bulk_reads(
            self.get_workflows, attrgetter("id"), WorkflowNotFoundError, name="wfe.sqlite.load"
        )

    async def create_workflow(self, instance: WorkflowInstance) -> str:
        """Store a new instance with revision 1 and return its id.

        Raises:
            ProviderError: an instance with this id exists already (it is left untouched).
        """
        search, create = self._creation(instance)
        search.committed(await self._db.write(create))
        instance.revision = 1
        return instance.id

    def shares_leases_with(self, lock: LockProvider) -> bool:
        """True for a :class:`~wfe_sqlite.SqliteLock` on this store's database
        (:class:`~wfe_core.providers.LeasedCreation`)."""
        return isinstance(lock, SqliteLock) and lock.database is self._db

    async def create_workflow_leased(
        self, instance: WorkflowInstance, lock: LockProvider, key: str, owner: str, ttl: float
    ) -> bool:
        """Store a new instance and take ``lock``'s lease ``key`` for ``owner`` (in this
        database's ``locks`` table) in one transaction.

        Returns whether the lease was taken; see
        :class:`~wfe_core.providers.LeasedCreation`.

        Raises:
            ProviderError: an instance with this id exists already (nothing was written).
        """
        if not self.shares_leases_with(lock):
            raise TypeError(f"{type(lock).__name__} keeps no leases in {self._db.path}")
        search, create = self._creation(instance)

        def create_leased(conn: sqlite3.Connection) -> tuple[Any, bool]:
            return create(conn), take_lease(conn, key, owner, ttl)

        entry, taken = await self._db.write(create_leased)
        search.committed(entry)
        instance.revision = 1
        return taken

    def _creation(
        self, instance: WorkflowInstance
    ) -> tuple[_SearchStep, Callable[[sqlite3.Connection], Any]]:
        """The write that stores a new instance, and its search step (built on the loop)."""
        row = instance_row(instance, revision=1)
        pointers = [
            (instance.id, p.id, seq, dump_pointer(p))
            for seq, p in enumerate(instance.execution_pointers)
        ]
        search = _SearchStep(self._db.search_index, instance, None, self._db.outboxed)

        def create(conn: sqlite3.Connection) -> Any:
            try:
                conn.execute(_INSERT_INSTANCE, row)
            except sqlite3.IntegrityError as exc:
                raise ProviderError(
                    f"a workflow with id {instance.id!r} already exists; give each new instance "
                    "a fresh id"
                ) from exc
            conn.executemany(_UPSERT_POINTER, pointers)
            return search.run(conn)

        return search, create

    async def persist_workflow(
        self,
        instance: WorkflowInstance,
        *,
        changed_pointers: Collection[str] | None = None,
        subscriptions: Sequence[EventSubscription] = (),
        errors: Sequence[ExecutionError] = (),
    ) -> None:
        """Write one pass in one transaction, if the stored revision is ``instance.revision``.

        ``changed_pointers=None`` rewrites every pointer, dropping stored ones the instance no
        longer has; otherwise only the named pointers are written.

        Raises:
            ConcurrencyError: the stored revision differs; nothing was written.
            WorkflowNotFoundError: no such instance.
            KeyError: ``changed_pointers`` names a pointer the instance does not have.
        """
        write = _PassWrite(
            self._db.search_index,
            WorkflowWrite(instance, changed_pointers, subscriptions, errors),
            self._db.outboxed,
        )
        write.committed(await self._db.write(write.run))

    async def persist_workflows(self, writes: Sequence[WorkflowWrite]) -> list[Exception | None]:
        """Write several passes in one transaction, each in its own SAVEPOINT, with one COMMIT.

        A write that fails is rolled back to its savepoint alone and gets its error; the others
        commit. If the transaction is lost as a whole (SQLite rolls it all back on some I/O
        errors), the writes run again without the one that broke it. So each write's outcome
        is what ``persist_workflow`` would give it alone, for one fsync per batch.
        """
        outcomes: list[Exception | None] = [None] * len(writes)
        prepared: list[tuple[int, _PassWrite]] = []
        for n, item in enumerate(writes):
            try:
                prepared.append((n, _PassWrite(self._db.search_index, item, self._db.outboxed)))
            except Exception as exc:  # e.g. a changed pointer the instance does not have
                outcomes[n] = exc
        isolated = False
        while prepared:
            batch = [write for _, write in prepared]
            try:
                results = await self._db.write(
                    functools.partial(_run_batch, writes=batch, isolated=isolated)
                )
            except _NeedsSavepoints:  # rolled back with its job: again, each write isolated
                isolated = True
                continue
            except _BatchLost as lost:
                n, write = prepared.pop(lost.index)
                outcomes[n] = self._translate(lost.error)
                continue
            for (n, write), (ok, value) in zip(prepared, results, strict=True):
                if ok:
                    write.committed(value)
                else:
                    outcomes[n] = self._translate(value)
            break
        return outcomes

    def _translate(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.Error):
            error = provider_error(exc, self._db.path, self._db.options.busy_timeout)
            error.__cause__ = exc
            return error
        return exc

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance:
        """Load one instance with all its pointers, in creation order.

        Loads asked for together (a host's queue readers each loading the workflow they took)
        share one read (see ``wfe_core.coalesce``); each caller gets its own instance.

        Raises:
            WorkflowNotFoundError: no such instance.
        """
        return await self._load(workflow_id)

    async def get_status(self, workflow_id: str) -> WorkflowStatus:
        """One instance's status, without loading its pointers.

        Raises:
            WorkflowNotFoundError: no such instance.
        """
        sql = "SELECT status FROM workflows WHERE id = ?"
        row = await self._db.read(lambda conn: conn.execute(sql, (workflow_id,)).fetchone())
        if row is None:
            raise WorkflowNotFoundError(workflow_id)
        return WorkflowStatus(row[0])

    async def get_workflows(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        """Load several instances in the order asked for; unknown ids are left out."""
        ids = list(workflow_ids)
        return await self._db.read(lambda conn: _load_instances(conn, ids))

    async def count_workflows(self) -> int:
        """How many workflows the database holds (for ``wfe reindex``)."""
        sql = "SELECT COUNT(*) FROM workflows"
        (count,) = await self._db.read(lambda conn: conn.execute(sql).fetchone())
        return int(count)

    async def list_workflow_ids(self, after: str | None = None, limit: int = 1000) -> list[str]:
        """Workflow ids above ``after``, ascending, ``limit`` at most (a primary-key range)."""
        return await self._ids(
            "SELECT id FROM workflows WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit)
        )

    async def get_runnable_instances(
        self, as_of: datetime, limit: int = 1000
    ) -> list[tuple[str, datetime]]:
        """Runnable instances due by ``as_of`` as (id, next_execution), by priority rank."""
        args = (to_micros(as_of), int(PRIORITY_AGING * 1_000_000), limit)
        rows = await self._db.read(lambda conn: conn.execute(_RUNNABLE, args).fetchall())
        return [(wid, from_micros(due)) for wid, due in rows]

    async def create_event(self, event: Event) -> str:
        """Store an event (re-storing an id replaces it) and return its id."""
        row = event_row(event)
        await self._db.write(lambda conn: conn.execute(_UPSERT_EVENT, row))
        return event.id

    async def get_event(self, event_id: str) -> Event | None:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ?"
        row = await self._db.read(lambda conn: conn.execute(sql, (event_id,)).fetchone())
        return None if row is None else event_from_row(row)

    async def get_runnable_events(self, as_of: datetime, limit: int = 1000) -> list[str]:
        """Ids of unprocessed events with ``event_time <= as_of``, oldest first."""
        sql = """SELECT id FROM events WHERE is_processed = 0 AND event_time <= ?
                 ORDER BY event_time, rowid LIMIT ?"""
        args = (to_micros(as_of), limit)
        return await self._ids(sql, args)

    async def get_events(self, event_name: str, event_key: str, as_of: datetime) -> list[Event]:
        """Events of this name and key with ``event_time >= as_of``, oldest first."""
        sql = f"""SELECT {EVENT_COLUMNS} FROM events WHERE name = ? AND key = ? AND event_time >= ?
                  ORDER BY event_time, rowid"""
        args = (event_name, event_key, to_micros(as_of))
        rows = await self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        return [event_from_row(r) for r in rows]

    async def mark_event_processed(self, event_id: str) -> None:
        await self._set_processed(event_id, 1)

    async def mark_event_unprocessed(self, event_id: str) -> None:
        await self._set_processed(event_id, 0)

    async def get_subscriptions(
        self, event_name: str, event_key: str, as_of: datetime
    ) -> list[EventSubscription]:
        """Subscriptions of this name and key with ``subscribe_as_of <= as_of``, oldest first."""
        sql = f"""SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                  WHERE name = ? AND key = ? AND subscribe_as_of <= ? ORDER BY rowid"""
        args = (event_name, event_key, to_micros(as_of))
        rows = await self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        return [subscription_from_row(r) for r in rows]

    async def terminate_subscription(self, subscription_id: str) -> None:
        """Delete a subscription; unknown ids are ignored."""
        sql = "DELETE FROM subscriptions WHERE id = ?"
        await self._db.write(lambda conn: conn.execute(sql, (subscription_id,)))

    async def get_execution_errors(self, workflow_id: str) -> list[ExecutionError]:
        """Errors of one workflow, oldest (first stored) first."""
        sql = f"SELECT {ERROR_COLUMNS} FROM execution_errors WHERE workflow_id = ? ORDER BY id"
        rows = await self._db.read(lambda conn: conn.execute(sql, (workflow_id,)).fetchall())
        return [error_from_row(r) for r in rows]

    async def get_index_outbox(self, limit: int = 1000) -> list[tuple[str, int]]:
        """Workflows written since the search index elsewhere last took them, with revisions.

        Always empty while a :class:`~wfe_sqlite.SqliteSearchIndex` on this database keeps
        itself current (except for what was written before it was attached).
        """
        rows = await self._db.read(lambda conn: conn.execute(_OUTBOX, (limit,)).fetchall())
        return [(wid, revision) for wid, revision in rows]

    async def remove_index_outbox(self, entries: Sequence[tuple[str, int]]) -> None:
        """Delete the entries still at or below the given revisions; re-dirtied ones stay."""
        rows = list(entries)
        if rows:
            await self._db.write(lambda conn: conn.executemany(_REMOVE_OUTBOX, rows))

    async def _set_processed(self, event_id: str, value: int) -> None:
        sql = "UPDATE events SET is_processed = ? WHERE id = ?"
        await self._db.write(lambda conn: conn.execute(sql, (value, event_id)))

    async def _ids(self, sql: str, args: tuple[Any, ...]) -> list[str]:
        rows = await self._db.read(lambda conn: conn.execute(sql, args).fetchall())
        return [r[0] for r in rows]


class _PassWrite:
    """One pass's write, made into rows on the loop and run in the worker thread.

    Built when the write is asked for, so that it captures the instance as it was then; the
    instance's revision goes up only in :meth:`committed`, once the write is durable.
    """

    __slots__ = ("error_rows", "every", "expected", "instance", "pointer_rows", "search",
                 "sub_rows", "update")

    def __init__(
        self,
        index: SqliteSearchIndex | None,
        write: WorkflowWrite,
        outboxed: dict[str, tuple[int, tuple[Any, ...]]] | None = None,
    ) -> None:
        instance = write.instance
        wid, expected = instance.id, instance.revision
        row = instance_row(instance, revision=expected)
        self.instance = instance
        self.expected = expected
        self.update = (*row[1:10], row[11], row[13], wid, expected)
        self.every = write.changed_pointers is None
        pointers = instance.execution_pointers
        names = [p.id for p in pointers] if self.every else write.changed_pointers
        # A pointer's seq is its place in the instance: pointers are only ever appended, so
        # a stored one keeps the seq it was written with, and no query is needed to number
        # new ones.
        self.pointer_rows = [
            (wid, pid, pointers.position(pid), dump_pointer(pointers[pid])) for pid in names or ()
        ]
        self.sub_rows = [subscription_row(s) for s in write.subscriptions]
        self.error_rows = [error_row(e) for e in write.errors]
        self.search = _SearchStep(index, instance, expected, outboxed)

    def run(self, conn: sqlite3.Connection) -> Any:
        """In the worker thread, inside a write transaction."""
        wid = self.instance.id
        if conn.execute(_UPDATE_INSTANCE, self.update).rowcount == 0:
            found = conn.execute("SELECT revision FROM workflows WHERE id = ?", (wid,))
            stored = found.fetchone()
            if stored is None:
                raise WorkflowNotFoundError(wid)
            raise ConcurrencyError(wid, self.expected, stored[0])
        if self.every:
            conn.execute("DELETE FROM execution_pointers WHERE workflow_id = ?", (wid,))
        conn.executemany(_UPSERT_POINTER, self.pointer_rows)
        if self.sub_rows:
            conn.executemany(_UPSERT_SUBSCRIPTION, self.sub_rows)
        if self.error_rows:
            conn.executemany(_INSERT_ERROR, self.error_rows)
        return self.search.run(conn)

    def committed(self, result: Any) -> None:
        """On the loop, once the write is durable."""
        self.search.committed(result)
        self.instance.revision = self.expected + 1


class _BatchLost(Exception):
    """The batch's transaction was rolled back as a whole by the write at ``index``."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


class _NeedsSavepoints(Exception):
    """A write of a batch run without savepoints failed after it had written something."""


#: What a pass write raises before it has written anything (its UPDATE matched no row): a
#: batch run without savepoints gives it to that write alone, with nothing to roll back.
_NOTHING_WRITTEN = (ConcurrencyError, WorkflowNotFoundError)


def _run_batch(
    conn: sqlite3.Connection, writes: list[_PassWrite], isolated: bool = False
) -> list[tuple[bool, Any]]:
    """The writes in the one transaction; in the worker thread.

    Without ``isolated``, no savepoint each (two statements a pass less): a write refused
    by its revision check wrote nothing, so it fails alone; any other failure raises
    ``_NeedsSavepoints``, its job is rolled back, and the batch runs again ``isolated``, every
    write in its own savepoint, so that only the failing one is undone.
    """
    if not isolated:
        fast: list[tuple[bool, Any]] = []
        for write in writes:
            try:
                fast.append((True, write.run(conn)))
            except _NOTHING_WRITTEN as exc:
                fast.append((False, exc))
            except Exception as exc:
                raise _NeedsSavepoints() from exc
        return fast
    outcomes: list[tuple[bool, Any]] = []
    for n, write in enumerate(writes):
        conn.execute("SAVEPOINT wfe_pass")
        try:
            outcomes.append((True, write.run(conn)))
        except Exception as exc:
            if not conn.in_transaction:
                # SQLite rolled the whole transaction back (I/O error, full disk): the writes
                # before this one are gone too; run them again without it.
                raise _BatchLost(n, exc) from exc
            conn.execute("ROLLBACK TO wfe_pass")
            outcomes.append((False, exc))
        conn.execute("RELEASE wfe_pass")
    return outcomes


class _SearchStep:
    """What one workflow write does for search, inside its transaction.

    With a search index attached to the database, it writes the workflow's entry; without,
    it records the workflow and its new revision in the outbox. Built on the loop, so that it
    captures the instance as it was when the write was asked for.

    Args:
        index: the database's attached search index, or None.
        instance: the instance being written.
        replaces: the stored revision the write replaces (None for a new instance).
    """

    __slots__ = ("index", "outbox", "outboxed", "runnable", "skip", "sources", "write")

    def __init__(
        self,
        index: SqliteSearchIndex | None,
        instance: WorkflowInstance,
        replaces: int | None,
        outboxed: dict[str, tuple[int, tuple[Any, ...]]] | None = None,
    ) -> None:
        self.index = index
        self.write: EntryWrite | None = None
        self.outbox: tuple[str, int] = (instance.id, 1 if replaces is None else replaces + 1)
        self.outboxed = outboxed
        self.sources: tuple[Any, ...] = ()
        self.runnable = instance.status is WorkflowStatus.RUNNABLE
        self.skip = False
        if index is not None:
            # None: the entry stored already shows this state (nothing searchable changed).
            self.write = index.entry_write(instance, replaces)
        elif outboxed is not None:
            # No outbox row is needed when the revision this write replaces was outboxed (or
            # came after one, unchanged) and nothing searchable changed since: the index reads
            # the workflow when it drains a row, so it shows the same entry either way.
            self.sources = entry_sources(instance)
            known = outboxed.get(instance.id)
            self.skip = known is not None and known[0] == replaces and known[1] == self.sources

    def run(self, conn: sqlite3.Connection) -> Any:
        """In the worker thread, inside the write's transaction."""
        if self.index is None:
            if not self.skip:
                conn.execute(_UPSERT_OUTBOX, self.outbox)
        elif self.write is not None:
            return self.write.run(conn)
        return None

    def committed(self, result: Any) -> None:
        """On the loop, once the write is durable; ``result`` is what :meth:`run` returned."""
        if self.index is None:
            if self.outboxed is not None:
                self._remember(self.outboxed)
            return
        if self.write is not None:
            self.index.entry_committed(self.write, result)
        else:
            self.index.entry_kept(*self.outbox)

    def _remember(self, outboxed: dict[str, tuple[int, tuple[Any, ...]]]) -> None:
        wid, revision = self.outbox
        outboxed.pop(wid, None)  # re-inserted last: the oldest is forgotten first
        if self.runnable:  # one that stopped is rarely written again
            outboxed[wid] = (revision, self.sources)
            if len(outboxed) > REMEMBERED_ENTRIES:
                del outboxed[next(iter(outboxed))]


def _load_instances(conn: sqlite3.Connection, ids: list[str]) -> list[WorkflowInstance]:
    """Instances for ``ids`` in that order (repeats repeated, unknown ids left out)."""
    rows: dict[str, tuple[Any, ...]] = {}
    bodies: dict[str, list[str]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT {STORED_COLUMNS} FROM workflows WHERE id IN ({marks})"
        for row in conn.execute(sql, chunk):
            rows[row[0]] = row
            bodies[row[0]] = []
        sql = f"""SELECT workflow_id, body FROM execution_pointers
                  WHERE workflow_id IN ({marks}) ORDER BY workflow_id, seq"""
        for wid, body in conn.execute(sql, chunk):
            bodies[wid].append(body)
    return [instance_from_row(rows[i], bodies[i]) for i in ids if i in rows]
