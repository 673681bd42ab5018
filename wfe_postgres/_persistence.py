"""``PostgresPersistence``: workflow instances, events, subscriptions and errors in PostgreSQL.

Implements :class:`wfe_core.providers.PersistenceProvider`. A workflow write is one statement:
a chain of data-modifying CTEs that updates the workflow row only if its revision is the one the
pass read (the check and the write cannot be split by another writer), and writes the changed
pointers, the new subscriptions, the errors and the search entry (or the index outbox row) only
``FROM`` that update, so a stale write changes nothing at all. One statement in autocommit mode
is one transaction and one round trip.

``persist_workflows`` (the host's group commit) sends several such statements in one
transaction through a pipeline: one round trip and one commit (one WAL flush) for the batch.
When one of them fails on the server, the transaction is redone with a savepoint around each
write, so the failing write is rolled back alone and the others commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

from wfe_core.coalesce import Coalescer, bulk_reads
from wfe_core.errors import (
    ConcurrencyError,
    ProviderError,
    ProviderUnavailableError,
    WfeError,
    WorkflowNotFoundError,
)
from wfe_core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    WorkflowInstance,
    WorkflowStatus,
)
from wfe_core.providers import PRIORITY_AGING, LockProvider, WorkflowWrite
from wfe_core.serialization import dump_pointer

from ._database import ASYNC_COMMIT
from ._errors import translate
from ._lock import PostgresLock
from ._purge import PostgresPurge
from ._rows import (
    ERROR_COLUMNS,
    EVENT_COLUMNS,
    STORED_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    error_arrays,
    error_from_row,
    event_from_row,
    event_params,
    instance_from_row,
    instance_params,
    stored_text,
    subscription_arrays,
    subscription_from_row,
    utc,
)
from ._search import CHANGED as SEARCH_CHANGED
from ._search import SEARCH_UPSERT, entry_words, search_columns, text_digest

__all__ = ["PostgresPersistence"]

# A batch of passes is one statement over arrays (one element per pass, or per pointer,
# subscription or error, each carrying the id of the workflow it belongs to). Every part but
# the UPDATE joins what the UPDATE returned, so a pass whose revision does not match writes
# nothing at all. The final SELECT sees the snapshot from before the statement: the stored
# revision of each workflow, for the error of one that was not written. Arrays are sent in
# binary (%b): text arrays would need every element escaped.
_BATCH = """
    WITH u AS (
        SELECT * FROM unnest(%(ids)b::text[], %(revisions)b::bigint[],
            %(definition_ids)b::text[], %(versions)b::int[], %(statuses)b::text[],
            %(references)b::text[], %(descriptions)b::text[], %(datas)b::text[],
            %(create_times)b::timestamptz[], %(complete_times)b::timestamptz[],
            %(next_executions)b::timestamptz[], %(parents)b::text[], %(everys)b::bool[],
            %(text_hashes)b::bigint[], %(words)b::text[], %(priorities)b::int[])
        AS u (id, revision, definition_id, version, status, reference, description, data,
              create_time, complete_time, next_execution, parent, every, text_hash, words,
              priority)),
    w AS (
        UPDATE {s}.workflows t SET definition_id = u.definition_id, version = u.version,
            status = u.status, reference = u.reference, description = u.description,
            data = u.data, create_time = u.create_time, complete_time = u.complete_time,
            next_execution = u.next_execution, parent_workflow_id = u.parent,
            priority = u.priority, revision = t.revision + 1
        FROM u WHERE t.id = u.id AND t.revision = u.revision
        RETURNING u.*),
    n AS (
        SELECT * FROM unnest(%(p_wids)b::text[], %(p_ids)b::text[], %(p_seqs)b::int[],
            %(p_bodies)b::text[]) AS n (wid, id, seq, body)),
    gone AS (
        DELETE FROM {s}.execution_pointers p USING w
        WHERE w.every AND p.workflow_id = w.id
          AND NOT EXISTS (SELECT 1 FROM n WHERE n.wid = p.workflow_id AND n.id = p.id)),
    ptr AS (
        INSERT INTO {s}.execution_pointers (workflow_id, id, seq, body)
        SELECT n.wid, n.id, n.seq, n.body FROM n JOIN w ON w.id = n.wid
        ON CONFLICT (workflow_id, id) DO UPDATE SET seq = excluded.seq, body = excluded.body)
    {subscriptions}{errors},
    idx AS ({index})
    SELECT u.id, w.id IS NOT NULL, t.revision
    FROM u LEFT JOIN w ON w.id = u.id LEFT JOIN {s}.workflows t ON t.id = u.id"""

_SUBSCRIPTIONS = f""",
    sub AS (
        INSERT INTO {{s}}.subscriptions ({SUBSCRIPTION_COLUMNS})
        SELECT x.id, x.workflow_id, x.step_id, x.pointer_id, x.name, x.key, x.as_of, x.data
        FROM unnest(%(sub_owners)b::text[], %(sub_ids)b::text[], %(sub_wids)b::text[],
            %(sub_steps)b::int[], %(sub_pids)b::text[], %(sub_names)b::text[],
            %(sub_keys)b::text[], %(sub_times)b::timestamptz[], %(sub_data)b::text[])
            WITH ORDINALITY AS x (owner, id, workflow_id, step_id, pointer_id, name, key, as_of,
                data, ord)
        JOIN w ON w.id = x.owner
        ORDER BY x.ord
        ON CONFLICT (id) DO UPDATE SET workflow_id = excluded.workflow_id,
            step_id = excluded.step_id, pointer_id = excluded.pointer_id, name = excluded.name,
            key = excluded.key, subscribe_as_of = excluded.subscribe_as_of, data = excluded.data)"""

_ERRORS = f""",
    err AS (
        INSERT INTO {{s}}.execution_errors ({ERROR_COLUMNS})
        SELECT x.workflow_id, x.pointer_id, x.step_id, x.message, x.error_type, x.error_time
        FROM unnest(%(err_owners)b::text[], %(err_wids)b::text[], %(err_pids)b::text[],
            %(err_steps)b::int[], %(err_messages)b::text[], %(err_types)b::text[],
            %(err_times)b::timestamptz[])
            WITH ORDINALITY
            AS x (owner, workflow_id, pointer_id, step_id, message, error_type, error_time, ord)
        JOIN w ON w.id = x.owner
        ORDER BY x.ord)"""

_BATCH_SEARCH = """
        INSERT INTO {s}.search_docs (id, definition_id, version, status, reference,
            description, create_time, complete_time, revision, text_hash, words)
        SELECT w.id, w.definition_id, w.version, w.status, w.reference, w.description,
            w.create_time, w.complete_time, w.revision + 1, w.text_hash,
            array_to_tsvector(string_to_array(w.words, ' '))
        FROM w LEFT JOIN {s}.search_docs d ON d.id = w.id
        -- Only entries that show something new: ON CONFLICT would lock (and so write) each
        -- conflicting row even when its WHERE then leaves it alone.
        WHERE d.id IS NULL OR (d.status, d.reference, d.description, d.complete_time,
            d.text_hash, d.definition_id, d.version, d.create_time)
          IS DISTINCT FROM (w.status, w.reference, w.description, w.complete_time,
            w.text_hash, w.definition_id, w.version, w.create_time)
        ON CONFLICT (id) DO UPDATE SET definition_id = excluded.definition_id,
            version = excluded.version, status = excluded.status,
            reference = excluded.reference, description = excluded.description,
            create_time = excluded.create_time, complete_time = excluded.complete_time,
            revision = excluded.revision, text_hash = excluded.text_hash,
            words = CASE WHEN search_docs.text_hash = excluded.text_hash
                         THEN search_docs.words ELSE excluded.words END
        WHERE (search_docs.revision IS NULL OR search_docs.revision <= excluded.revision)
          AND """ + SEARCH_CHANGED
_BATCH_OUTBOX = """
        INSERT INTO {s}.index_outbox (workflow_id, revision) SELECT w.id, w.revision + 1 FROM w
        ON CONFLICT (workflow_id) DO UPDATE SET revision = excluded.revision"""

_POINTERS = """
    ptr AS (INSERT INTO {s}.execution_pointers (workflow_id, id, seq, body)
        SELECT w.id, u.id, u.seq, u.body
        FROM w, unnest(%(pids)s::text[], %(seqs)s::int[], %(bodies)s::text[]) AS u (id, seq, body)
        ON CONFLICT (workflow_id, id) DO UPDATE SET seq = excluded.seq, body = excluded.body)"""
_OUTBOX = """
    INSERT INTO {s}.index_outbox (workflow_id, revision) SELECT w.id, %(s_revision)s FROM w
    ON CONFLICT (workflow_id) DO UPDATE SET revision = excluded.revision"""

_CREATE = f"""
    WITH w AS (
        INSERT INTO {{s}}.workflows ({STORED_COLUMNS}) VALUES (%(id)s, %(definition_id)s,
            %(version)s, %(status)s, %(reference)s, %(description)s, %(data)s, %(create_time)s,
            %(complete_time)s, %(next_execution)s, 1, %(parent)s, %(trace_context)s,
            %(priority)s)
        ON CONFLICT (id) DO NOTHING RETURNING id),
    {_POINTERS},
    idx AS ({{index}})
    SELECT count(*) FROM w"""

# Many new workflows in one statement (see wfe_core.coalesce): the rows whose id is free are
# inserted, and their pointers and search entries (or outbox rows) only FROM those.
_CREATE_MANY = f"""
    WITH u AS (
        SELECT * FROM unnest(%(ids)b::text[], %(definition_ids)b::text[], %(versions)b::int[],
            %(statuses)b::text[], %(references)b::text[], %(descriptions)b::text[],
            %(datas)b::text[], %(create_times)b::timestamptz[],
            %(complete_times)b::timestamptz[], %(next_executions)b::timestamptz[],
            %(parents)b::text[], %(traces)b::text[], %(priorities)b::int[],
            %(text_hashes)b::bigint[], %(words)b::text[])
        AS u (id, definition_id, version, status, reference, description, data, create_time,
              complete_time, next_execution, parent, trace_context, priority, text_hash, words)),
    w AS (
        INSERT INTO {{s}}.workflows ({STORED_COLUMNS})
        SELECT id, definition_id, version, status, reference, description, data, create_time,
            complete_time, next_execution, 1, parent, trace_context, priority FROM u
        ON CONFLICT (id) DO NOTHING RETURNING id),
    ptr AS (
        INSERT INTO {{s}}.execution_pointers (workflow_id, id, seq, body)
        SELECT n.wid, n.id, n.seq, n.body
        FROM unnest(%(p_wids)b::text[], %(p_ids)b::text[], %(p_seqs)b::int[],
            %(p_bodies)b::text[]) AS n (wid, id, seq, body)
        JOIN w ON w.id = n.wid
        ON CONFLICT (workflow_id, id) DO UPDATE SET seq = excluded.seq, body = excluded.body),
    idx AS ({{index}})
    SELECT id FROM w"""
_CREATE_MANY_SEARCH = """
        INSERT INTO {s}.search_docs (id, definition_id, version, status, reference,
            description, create_time, complete_time, revision, text_hash, words)
        SELECT u.id, u.definition_id, u.version, u.status, u.reference, u.description,
            u.create_time, u.complete_time, 1, u.text_hash,
            array_to_tsvector(string_to_array(u.words, ' '))
        FROM u JOIN w ON w.id = u.id
        ON CONFLICT (id) DO UPDATE SET definition_id = excluded.definition_id,
            version = excluded.version, status = excluded.status,
            reference = excluded.reference, description = excluded.description,
            create_time = excluded.create_time, complete_time = excluded.complete_time,
            revision = excluded.revision, text_hash = excluded.text_hash, words = excluded.words
        WHERE (search_docs.revision IS NULL OR search_docs.revision <= excluded.revision)
          AND """ + SEARCH_CHANGED
_CREATE_MANY_OUTBOX = """
        INSERT INTO {s}.index_outbox (workflow_id, revision) SELECT w.id, 1 FROM w
        ON CONFLICT (workflow_id) DO UPDATE SET revision = excluded.revision"""

# _CREATE_MANY that also takes each new workflow's lease in the same statement (so the same
# transaction: see wfe_core.providers.LeasedCreation), only for the rows it inserted, as
# PostgresLock's acquire would, in key order. Its rows: the ids stored, then the keys taken.
_LEASE_TAIL = """,
    lease AS (
        INSERT INTO {s}.locks (key, owner, expires_at)
        SELECT l.key, l.owner, clock_timestamp() + l.ttl * interval '1 second'
        FROM unnest(%(l_wids)b::text[], %(l_keys)b::text[], %(l_owners)b::text[],
            %(l_ttls)b::float8[]) AS l (wid, key, owner, ttl)
        JOIN w ON w.id = l.wid
        ORDER BY l.key
        ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
        WHERE locks.expires_at <= clock_timestamp()
        RETURNING key)
    SELECT id, false FROM w UNION ALL SELECT key, true FROM lease"""
_CREATE_MANY_LEASED = _CREATE_MANY.replace("\n    SELECT id FROM w", _LEASE_TAIL)
assert _CREATE_MANY_LEASED != _CREATE_MANY

#: _CREATE_MANY's instance arrays -> the instance_params key each collects.
_CREATE_COLUMNS = [
    ("ids", "id"),
    ("definition_ids", "definition_id"),
    ("versions", "version"),
    ("statuses", "status"),
    ("references", "reference"),
    ("descriptions", "description"),
    ("datas", "data"),
    ("create_times", "create_time"),
    ("complete_times", "complete_time"),
    ("next_executions", "next_execution"),
    ("parents", "parent"),
    ("traces", "trace_context"),
    ("priorities", "priority"),
]
_CREATE_ARRAYS = [name for name, _ in _CREATE_COLUMNS] + ["text_hashes", "words"]

#: The array parameters of _BATCH and its parts.
_BATCH_ARRAYS = (
    "ids revisions definition_ids versions statuses references descriptions datas create_times "
    "complete_times next_executions parents everys text_hashes words priorities p_wids p_ids p_seqs "
    "p_bodies sub_owners sub_ids sub_wids sub_steps sub_pids sub_names sub_keys sub_times "
    "sub_data err_owners err_wids err_pids err_steps err_messages err_types err_times"
).split()
#: Array name -> the instance_params key it collects.
_INSTANCE_ARRAYS = [
    ("ids", "id"),
    ("revisions", "revision"),
    ("definition_ids", "definition_id"),
    ("versions", "version"),
    ("statuses", "status"),
    ("references", "reference"),
    ("descriptions", "description"),
    ("datas", "data"),
    ("create_times", "create_time"),
    ("complete_times", "complete_time"),
    ("next_executions", "next_execution"),
    ("parents", "parent"),
    ("priorities", "priority"),
]

_UPSERT_EVENT = f"""
    INSERT INTO {{s}}.events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, key = excluded.key,
        data = excluded.data, event_time = excluded.event_time,
        is_processed = excluded.is_processed, trace_context = excluded.trace_context"""
_LOAD = f"""
    SELECT {", ".join("w." + c for c in STORED_COLUMNS.split(", "))},
        (SELECT array_agg(p.body ORDER BY p.seq) FROM {{s}}.execution_pointers p
         WHERE p.workflow_id = w.id)
    FROM {{s}}.workflows w WHERE w.id = ANY (%s)"""
# The status literal (not a parameter) lets the planner use the partial index. Due work by
# rank (wfe_core's priority rule: the due time plus the level's aging), ties by due time: the
# index finds what is due, the sort is over that alone.
_RUNNABLE = """
    SELECT id, next_execution FROM {s}.workflows
    WHERE status = 'runnable' AND next_execution IS NOT NULL AND next_execution <= %s
    ORDER BY next_execution + priority * %s::float8 * interval '1 second', next_execution
    LIMIT %s"""


# Events and subscriptions are indexed by digests of their name and key (see _schema, version
# 3): a name or key may be longer than a btree entry can be. The digests find the rows, the
# plain comparison decides.
_NAME_AND_KEY = """md5(name) = md5(%(name)s) AND md5(key) = md5(%(key)s)
    AND name = %(name)s AND key = %(key)s"""


def _name_and_key(name: str, key: str) -> dict[str, str]:
    return {"name": stored_text(name), "key": stored_text(key)}


#: Workflows whose committed search digest a persistence remembers (oldest forgotten first).
REMEMBERED_ENTRIES = 4096


class _WriteRows(NamedTuple):
    """One write's share of a batch statement's arrays."""

    id: str
    instance: list[Any]
    every: bool
    text_hash: int | None
    words: str | None
    pointers: list[tuple[str, int, str]]
    subscriptions: dict[str, list[Any]] | None
    errors: dict[str, list[Any]] | None


def _id_taken(instance: WorkflowInstance) -> ProviderError:
    return ProviderError(
        f"a workflow with id {instance.id!r} already exists; give each new instance a fresh id"
    )


class _Leased(NamedTuple):
    """One ``create_workflow_leased`` call."""

    instance: WorkflowInstance
    key: str
    owner: str
    ttl: float


class PostgresPersistence(PostgresPurge):
    """Durable persistence in PostgreSQL, with optimistic concurrency per instance.

    Args:
        database: the :class:`~wfe_postgres.PostgresDatabase` to use, or a ``postgresql://`` URL.
    """

    def __init__(self, database: Any) -> None:
        super().__init__(database)
        # Workflow id -> (revision, search digest) of the last write committed here.
        self._entries: dict[str, tuple[int, int]] = {}
        self._create = Coalescer(self._create_many, self._create_one)
        self._create_leased: Coalescer[_Leased, bool | None] = Coalescer(
            self._create_leased_many, self._create_leased_one, name="wfe.postgres.create"
        )
        # Loads made together (a host's queue readers taking a backlog) share one statement.
        self._load: Coalescer[str, WorkflowInstance] = bulk_reads(
            self.get_workflows, attrgetter("id"), WorkflowNotFoundError, name="wfe.postgres.load"
        )

    def _index_sql(self) -> str:
        if self._db.search_index is not None:
            return SEARCH_UPSERT.replace("{source}", "FROM w")
        return _OUTBOX

    async def create_workflow(self, instance: WorkflowInstance) -> str:
        """Store a new instance with revision 1 and return its id.

        Creations made together (a host starting many workflows at once) share one statement
        (see ``wfe_core.coalesce``); each is still refused or stored on its own.

        Raises:
            ProviderError: an instance with this id exists already (it is left untouched).
        """
        if not await self._create(instance):
            raise _id_taken(instance)
        instance.revision = 1
        return instance.id

    def shares_leases_with(self, lock: LockProvider) -> bool:
        """True for a :class:`~wfe_postgres.PostgresLock` on this store's database
        (:class:`~wfe_core.providers.LeasedCreation`)."""
        return isinstance(lock, PostgresLock) and lock.database is self._db

    async def create_workflow_leased(
        self, instance: WorkflowInstance, lock: LockProvider, key: str, owner: str, ttl: float
    ) -> bool:
        """Store a new instance and take ``lock``'s lease ``key`` for ``owner`` (in this
        database's ``locks`` table) in one statement.

        Returns whether the lease was taken; see :class:`~wfe_core.providers.LeasedCreation`.
        Creations made together share one statement, as with ``create_workflow``.

        Raises:
            ProviderError: an instance with this id exists already (nothing was written).
        """
        if not self.shares_leases_with(lock):
            raise TypeError(f"{type(lock).__name__} keeps no leases in this store's database")
        # The statement goes on when the caller is cancelled (it may carry other callers'
        # creations): the call then ends only with it, so that a release asked next, on
        # another connection, cannot reach the server first and leave the lease held.
        answer = self._create_leased.submit(_Leased(instance, key, owner, float(ttl)))
        try:
            taken = await asyncio.shield(answer)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await answer
            raise
        if taken is None:
            raise _id_taken(instance)
        instance.revision = 1
        return taken

    async def _create_leased_one(self, arg: _Leased) -> bool | None:
        answer = (await self._create_leased_many([arg]))[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def _create_leased_many(self, args: Sequence[_Leased]) -> list[bool | None]:
        """None for a workflow not stored (its id was taken), else whether its lease was."""
        sql, columns, first = self._create_statement([a.instance for a in args], _CREATE_MANY_LEASED)
        leases = [args[n] for n in first.values()]
        columns["l_wids"] = [lease.instance.id for lease in leases]
        columns["l_keys"] = [lease.key for lease in leases]
        columns["l_owners"] = [lease.owner for lease in leases]
        columns["l_ttls"] = [lease.ttl for lease in leases]
        rows = await self._db.fetchall("storing new workflows and their leases", sql, columns)
        made = {value for value, is_key in rows if not is_key}
        keys = {value for value, is_key in rows if is_key}
        return [
            (a.key in keys) if a.instance.id in made and first[a.instance.id] == n else None
            for n, a in enumerate(args)
        ]

    async def _create_one(self, instance: WorkflowInstance) -> bool:
        params = instance_params(instance)
        pointers = list(instance.execution_pointers)
        params["pids"] = [p.id for p in pointers]
        params["seqs"] = list(range(len(pointers)))
        params["bodies"] = [dump_pointer(p) for p in pointers]
        params.update(search_columns(instance, 1))
        sql = _CREATE.replace("{index}", self._index_sql())
        row = await self._db.fetchone("storing a new workflow", sql, params)
        return bool(row and row[0])

    async def _create_many(self, instances: Sequence[WorkflowInstance]) -> list[bool]:
        sql, columns, first = self._create_statement(instances, _CREATE_MANY)
        rows = await self._db.fetchall("storing new workflows", sql, columns)
        made = {row[0] for row in rows}
        return [i.id in made and first[i.id] == n for n, i in enumerate(instances)]

    def _create_statement(
        self, instances: Sequence[WorkflowInstance], template: str
    ) -> tuple[str, dict[str, list[Any]], dict[str, int]]:
        """``template`` (a _CREATE_MANY) with its search part, its arrays for ``instances``,
        and the index of each id's first ask."""
        # An id asked for twice goes to the server once; the later asks find it taken.
        first: dict[str, int] = {}
        for n, instance in enumerate(instances):
            first.setdefault(instance.id, n)
        columns: dict[str, list[Any]] = {
            name: [] for name in (*_CREATE_ARRAYS, "p_wids", "p_ids", "p_seqs", "p_bodies")
        }
        searched = self._db.search_index is not None
        for n in first.values():
            instance = instances[n]
            params = instance_params(instance)
            for name, key in _CREATE_COLUMNS:
                columns[name].append(params[key])
            text_hash, words = entry_words(instance) if searched else (None, [])
            columns["text_hashes"].append(text_hash)
            columns["words"].append(" ".join(words) if searched else None)
            for seq, pointer in enumerate(instance.execution_pointers):
                columns["p_wids"].append(instance.id)
                columns["p_ids"].append(pointer.id)
                columns["p_seqs"].append(seq)
                columns["p_bodies"].append(dump_pointer(pointer))
        index = _CREATE_MANY_SEARCH if searched else _CREATE_MANY_OUTBOX
        return template.replace("{index}", index), columns, first

    def _batch_sql(self, subscriptions: bool, errors: bool) -> str:
        index = _BATCH_SEARCH if self._db.search_index is not None else _BATCH_OUTBOX
        return self._db.sql(
            _BATCH.replace("{subscriptions}", _SUBSCRIPTIONS if subscriptions else "")
            .replace("{errors}", _ERRORS if errors else "")
            .replace("{index}", index)
        )

    def _rows_of(self, write: WorkflowWrite) -> _WriteRows:
        """What ``write`` puts in the batch's arrays, made on the loop when the write is asked.

        Raises:
            KeyError: ``changed_pointers`` names a pointer the instance does not have.
        """
        instance = write.instance
        params = instance_params(instance)
        text_hash: int | None = None
        words: str | None = None
        if self._db.search_index is not None:
            text_hash = text_digest(instance)
            # Most passes change nothing searchable: when the entry this write replaces was
            # written here with the same digest, the statement keeps its words (see
            # _BATCH_SEARCH), so they need not be made again.
            if self._entries.get(instance.id) == (instance.revision, text_hash):
                words = ""
            else:
                words = " ".join(entry_words(instance)[1])
        pointers = instance.execution_pointers
        names = (
            [p.id for p in pointers] if write.changed_pointers is None else write.changed_pointers
        )
        # A pointer's seq is its place in the instance: pointers are only appended, so a
        # stored one keeps its place and new ones need no query to be numbered.
        pointer_rows = [(pid, pointers.position(pid), dump_pointer(pointers[pid])) for pid in names]
        return _WriteRows(
            instance.id,
            [params[key] for _, key in _INSTANCE_ARRAYS],
            write.changed_pointers is None,
            text_hash,
            words,
            pointer_rows,
            subscription_arrays(write.subscriptions) if write.subscriptions else None,
            error_arrays(write.errors) if write.errors else None,
        )

    def _statement(self, batch: Sequence[_WriteRows]) -> tuple[str, dict[str, list[Any]]]:
        """The statement and parameters that write ``batch`` (of distinct workflows)."""
        columns: dict[str, list[Any]] = {name: [] for name in _BATCH_ARRAYS}
        for rows in batch:
            for (name, _), value in zip(_INSTANCE_ARRAYS, rows.instance):
                columns[name].append(value)
            columns["everys"].append(rows.every)
            columns["text_hashes"].append(rows.text_hash)
            columns["words"].append(rows.words)
            for pid, seq, body in rows.pointers:
                columns["p_wids"].append(rows.id)
                columns["p_ids"].append(pid)
                columns["p_seqs"].append(seq)
                columns["p_bodies"].append(body)
            if rows.subscriptions is not None:
                for name, values in rows.subscriptions.items():
                    columns[name].extend(values)
                columns["sub_owners"].extend([rows.id] * len(values))
            if rows.errors is not None:
                for name, values in rows.errors.items():
                    columns[name].extend(values)
                columns["err_owners"].extend([rows.id] * len(values))
        sql = self._batch_sql(bool(columns["sub_ids"]), bool(columns["err_wids"]))
        return sql, columns

    def _written(self, rows: _WriteRows, instance: WorkflowInstance) -> None:
        """Remember the search digest a committed write left (see :meth:`_rows_of`)."""
        if rows.text_hash is None:
            return
        self._entries.pop(rows.id, None)  # re-inserted last: the oldest is forgotten first
        if instance.status is WorkflowStatus.RUNNABLE:  # one that stopped is rarely written
            self._entries[rows.id] = (instance.revision, rows.text_hash)
            if len(self._entries) > REMEMBERED_ENTRIES:
                del self._entries[next(iter(self._entries))]

    async def persist_workflow(
        self,
        instance: WorkflowInstance,
        *,
        changed_pointers: Collection[str] | None = None,
        subscriptions: Sequence[EventSubscription] = (),
        errors: Sequence[ExecutionError] = (),
    ) -> None:
        """Write one pass in one statement, if the stored revision is ``instance.revision``.

        ``changed_pointers=None`` rewrites every pointer, dropping stored ones the instance no
        longer has; otherwise only the named pointers are written.

        Raises:
            ConcurrencyError: the stored revision differs; nothing was written.
            WorkflowNotFoundError: no such instance.
            KeyError: ``changed_pointers`` names a pointer the instance does not have.
        """
        rows = self._rows_of(WorkflowWrite(instance, changed_pointers, subscriptions, errors))
        sql, params = self._statement([rows])
        found = await self._db.fetchall("writing a workflow", sql, params)
        _check(instance, found[0][1:])
        instance.revision += 1
        self._written(rows, instance)

    async def persist_workflows(self, writes: Sequence[WorkflowWrite]) -> list[Exception | None]:
        """Write several passes in one statement (one round trip, one commit); each alone.

        When the statement fails on the server (one pass holds what PostgreSQL cannot store),
        the passes are written again in one transaction, each under a savepoint, so the
        failing one is rolled back alone and the others commit. A batch naming one workflow
        twice is written that way too, in order.

        Returns:
            One outcome per write, in order: ``None`` (written) or the error it met.

        Raises:
            ProviderUnavailableError: the database could not be reached; nothing was written.
        """
        import psycopg

        outcomes: list[Exception | None] = [None] * len(writes)
        prepared: list[tuple[int, _WriteRows]] = []
        for n, write in enumerate(writes):
            try:
                prepared.append((n, self._rows_of(write)))
            except Exception as exc:  # e.g. a changed pointer the instance lacks
                outcomes[n] = exc
        if not prepared:
            return outcomes
        ids = [rows.id for _, rows in prepared]
        results: dict[int, tuple[Any, ...] | Exception] = {}
        if len(set(ids)) == len(ids):
            sql, params = self._statement([rows for _, rows in prepared])
            try:
                found = await self._db.fetchall("writing workflows", sql, params)
            except WfeError as exc:
                if isinstance(exc, ProviderUnavailableError):
                    raise  # nothing was written
            else:
                by_id = {row[0]: row[1:] for row in found}
                results = {n: by_id[rows.id] for n, rows in prepared}

        async def alone(conn: Any) -> dict[int, tuple[Any, ...] | Exception]:
            done: dict[int, tuple[Any, ...] | Exception] = {}
            async with conn.transaction():
                for n, rows in prepared:
                    sql, params = self._statement([rows])
                    try:
                        async with conn.transaction():  # a savepoint
                            cursor = await conn.execute(sql, params)
                            done[n] = (await cursor.fetchall())[0][1:]
                    except psycopg.DatabaseError as exc:
                        error = translate(exc, self._db.options, "writing a workflow")
                        if isinstance(error, ProviderUnavailableError):
                            raise  # the connection or server failed, not this write
                        done[n] = error
            return done

        if not results:
            results = await self._db.run("writing workflows", alone)
        for n, rows in prepared:
            instance = writes[n].instance
            result = results[n]
            if isinstance(result, Exception):
                outcomes[n] = result
                continue
            try:
                _check(instance, result)
            except WfeError as exc:
                outcomes[n] = exc
            else:
                instance.revision += 1
                self._written(rows, instance)
        return outcomes

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance:
        """Load one instance with all its pointers, in creation order.

        Loads asked for together (a host's queue readers each loading the workflow they took)
        share one statement (see ``wfe_core.coalesce``); each caller gets its own instance.

        Raises:
            WorkflowNotFoundError: no such instance.
        """
        return await self._load(workflow_id)

    async def get_workflows(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        """Load several instances in the order asked for; unknown ids are left out."""
        ids = list(dict.fromkeys(workflow_ids))
        if not ids:
            return []
        # One statement, so one snapshot: the row and its pointers as one pass left them.
        rows = await self._db.fetchall("reading workflows", _LOAD, (ids,), read=True)
        by_id = {row[0]: row for row in rows}
        return [
            instance_from_row(by_id[i][:-1], by_id[i][-1] or []) for i in workflow_ids if i in by_id
        ]

    async def get_status(self, workflow_id: str) -> WorkflowStatus:
        """One instance's status, without loading its pointers.

        Raises:
            WorkflowNotFoundError: no such instance.
        """
        row = await self._db.fetchone(
            "reading a status",
            "SELECT status FROM {s}.workflows WHERE id = %s",
            (workflow_id,),
            read=True,
        )
        if row is None:
            raise WorkflowNotFoundError(workflow_id)
        return WorkflowStatus(row[0])

    async def count_workflows(self) -> int:
        """How many workflows the schema holds (``WorkflowListing``, for ``wfe reindex``)."""
        row = await self._db.fetchone(
            "counting workflows", "SELECT count(*) FROM {s}.workflows", read=True
        )
        return int(row[0]) if row else 0

    async def list_workflow_ids(self, after: str | None = None, limit: int = 1000) -> list[str]:
        """Workflow ids above ``after``, ascending, ``limit`` at most (a primary-key range).

        "Ascending" is the database's collation, the primary key's order, so each page is a
        range scan of that index; the comparison and the ordering use the same (deterministic)
        collation, so paging by the last id seen never skips or repeats one.
        """
        rows = await self._db.fetchall(
            "listing workflows",
            "SELECT id FROM {s}.workflows WHERE id > %s ORDER BY id LIMIT %s",
            (after or "", max(limit, 0)),
            read=True,
        )
        return [r[0] for r in rows]

    async def get_runnable_instances(
        self, as_of: datetime, limit: int = 1000
    ) -> list[tuple[str, datetime]]:
        """Runnable instances due by ``as_of`` as (id, next_execution), by priority rank."""
        rows = await self._db.fetchall(
            "finding runnable workflows", _RUNNABLE, (utc(as_of), PRIORITY_AGING, limit),
            read=True,
        )
        return [(wid, utc(due)) for wid, due in rows]

    async def create_event(self, event: Event) -> str:
        """Store an event (re-storing an id replaces it) and return its id."""
        await self._db.execute("storing an event", _UPSERT_EVENT, event_params(event))
        return event.id

    async def get_event(self, event_id: str) -> Event | None:
        row = await self._db.fetchone(
            "reading an event",
            f"SELECT {EVENT_COLUMNS} FROM {{s}}.events WHERE id = %s",
            (event_id,),
            read=True,
        )
        return None if row is None else event_from_row(row)

    async def get_runnable_events(self, as_of: datetime, limit: int = 1000) -> list[str]:
        """Ids of unprocessed events with ``event_time <= as_of``, oldest first."""
        rows = await self._db.fetchall(
            "finding runnable events",
            """SELECT id FROM {s}.events WHERE NOT is_processed AND event_time <= %s
               ORDER BY event_time, seq LIMIT %s""",
            (utc(as_of), limit),
            read=True,
        )
        return [r[0] for r in rows]

    async def get_events(self, event_name: str, event_key: str, as_of: datetime) -> list[Event]:
        """Events of this name and key with ``event_time >= as_of``, oldest first, whole."""
        rows = await self._db.fetchall(
            "reading events",
            f"""SELECT {EVENT_COLUMNS} FROM {{s}}.events
                WHERE {_NAME_AND_KEY} AND event_time >= %(as_of)s ORDER BY event_time, seq""",
            {**_name_and_key(event_name, event_key), "as_of": utc(as_of)},
            read=True,
        )
        return [event_from_row(r) for r in rows]

    async def mark_event_processed(self, event_id: str) -> None:
        await self._set_processed(event_id, True)

    async def mark_event_unprocessed(self, event_id: str) -> None:
        await self._set_processed(event_id, False)

    async def get_subscriptions(
        self, event_name: str, event_key: str, as_of: datetime
    ) -> list[EventSubscription]:
        """Subscriptions of this name and key with ``subscribe_as_of <= as_of``, oldest first."""
        rows = await self._db.fetchall(
            "reading subscriptions",
            f"""SELECT {SUBSCRIPTION_COLUMNS} FROM {{s}}.subscriptions
                WHERE {_NAME_AND_KEY} AND subscribe_as_of <= %(as_of)s ORDER BY seq""",
            {**_name_and_key(event_name, event_key), "as_of": utc(as_of)},
            read=True,
        )
        return [subscription_from_row(r) for r in rows]

    async def terminate_subscription(self, subscription_id: str) -> None:
        """Delete a subscription; unknown ids are ignored."""
        # Without waiting for the flush (ASYNC_COMMIT): a subscription whose end a server
        # crash lost is found spent (its wait served) at the next delivery, and ended then.
        await self._db.execute(
            "ending a subscription",
            "DELETE FROM {s}.subscriptions WHERE id = %s AND " + ASYNC_COMMIT,
            (subscription_id,),
        )

    async def get_execution_errors(self, workflow_id: str) -> list[ExecutionError]:
        """Errors of one workflow, oldest (first stored) first."""
        rows = await self._db.fetchall(
            "reading execution errors",
            f"SELECT {ERROR_COLUMNS} FROM {{s}}.execution_errors WHERE workflow_id = %s ORDER BY seq",
            (workflow_id,),
            read=True,
        )
        return [error_from_row(r) for r in rows]

    async def get_index_outbox(self, limit: int = 1000) -> list[tuple[str, int]]:
        """Workflows written since the search index elsewhere last took them, with revisions.

        Always empty while a :class:`~wfe_postgres.PostgresSearchIndex` on this database keeps
        itself current.
        """
        rows = await self._db.fetchall(
            "reading the index outbox",
            "SELECT workflow_id, revision FROM {s}.index_outbox LIMIT %s",
            (limit,),
            read=True,
        )
        return [(wid, revision) for wid, revision in rows]

    async def remove_index_outbox(self, entries: Sequence[tuple[str, int]]) -> None:
        """Delete the entries still at or below the given revisions; re-dirtied ones stay."""
        rows = list(entries)
        if not rows:
            return
        await self._db.execute(
            "clearing the index outbox",
            """DELETE FROM {s}.index_outbox o USING unnest(%s::text[], %s::bigint[]) AS u (id, rev)
               WHERE o.workflow_id = u.id AND o.revision <= u.rev""",
            ([wid for wid, _ in rows], [rev for _, rev in rows]),
        )

    async def _set_processed(self, event_id: str, value: bool) -> None:
        # Marking delivered need not wait for the flush (ASYNC_COMMIT): an event whose mark a
        # server crash lost is delivered again, and finds every wait it served served. Marking
        # undelivered must: a lost one would keep the event from a wait that began.
        await self._db.execute(
            "marking an event",
            "UPDATE {s}.events SET is_processed = %s WHERE id = %s"
            + (" AND " + ASYNC_COMMIT if value else ""),
            (value, event_id),
        )

    # -- kept for callers of the earlier Protocol --------------------------------------------

    async def create_subscription(self, subscription: EventSubscription) -> str:
        """Store a subscription on its own (re-storing an id replaces it)."""
        arrays = subscription_arrays([subscription])
        await self._db.execute(
            "storing a subscription",
            f"""INSERT INTO {{s}}.subscriptions ({SUBSCRIPTION_COLUMNS})
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (id) DO UPDATE SET workflow_id = excluded.workflow_id,
                    step_id = excluded.step_id, pointer_id = excluded.pointer_id,
                    name = excluded.name, key = excluded.key,
                    subscribe_as_of = excluded.subscribe_as_of, data = excluded.data""",
            [values[0] for values in arrays.values()],
        )
        return subscription.id

    async def get_subscription(self, subscription_id: str) -> EventSubscription | None:
        row = await self._db.fetchone(
            "reading a subscription",
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM {{s}}.subscriptions WHERE id = %s",
            (subscription_id,),
            read=True,
        )
        return None if row is None else subscription_from_row(row)

    async def persist_errors(self, errors: Sequence[ExecutionError]) -> None:
        if not errors:
            return
        await self._db.execute(
            "storing execution errors",
            f"""INSERT INTO {{s}}.execution_errors ({ERROR_COLUMNS})
                SELECT * FROM unnest(%(err_wids)s::text[], %(err_pids)s::text[],
                    %(err_steps)s::int[], %(err_messages)s::text[], %(err_types)s::text[],
                    %(err_times)s::timestamptz[])""",
            error_arrays(errors),
        )


def _check(instance: WorkflowInstance, row: tuple[Any, ...] | None) -> None:
    """Raise what a workflow write's result row says went wrong, if anything."""
    assert row is not None
    written, stored = row
    if written:
        return
    if stored is None:
        raise WorkflowNotFoundError(instance.id)
    raise ConcurrencyError(instance.id, instance.revision, stored)
