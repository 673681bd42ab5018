"""``SqliteSearchIndex``: full-text search over workflows, in the shared SQLite database.

Implements :class:`wfe_core.providers.SearchIndex`; the host serves ``host.search`` with it,
the plugin's ``search`` factory builds it.

It follows the search rule of :mod:`wfe_core.search`. Two tables: ``search_docs`` holds one
summary row per workflow (the columns the filters and the page need) and ``search_text`` its
searchable text under the same rowid, made by :func:`wfe_core.search.searchable_text`: the
words of the definition id, reference, description and data values, already lower-cased and
space-separated. ``search_text`` is an FTS5 table when this SQLite has FTS5 (the usual case),
with the ``ascii`` tokenizer: on such text it splits at the spaces only and folds nothing, so
FTS5's tokens are exactly the rule's words.

Entries follow the durable state: made on a database, the index attaches itself to it, and
``SqlitePersistence`` runs an :class:`EntryWrite` in the transaction of every workflow write,
so a committed state always has its entry and the host indexes nothing itself. Most passes
change nothing searchable: the index remembers the entry it committed for each workflow's
latest revision, so such a pass costs a digest and a comparison, and no SQL.

Terms are split into words by :func:`wfe_core.providers.search_words`; each word must match
the start of a word (``piz`` finds "pizza"): an FTS5 prefix query. Without FTS5 (some minimal
SQLite builds), ``search_text`` is a plain table that a search scans for " " + word in
" " + text: the same results, but a scan of every document per search.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from wfe_core.models import WorkflowInstance, WorkflowStatus
from wfe_core.providers import SearchFilter, SearchPage, WorkflowSummary, search_words
from wfe_core.search import filter_conditions, searchable_text, waiting_text

from ._database import DatabaseUser, SqliteDatabase
from ._schema import search_text_is_fts5
from ._times import from_micros, from_micros_or_none, to_micros, to_micros_or_none

__all__ = ["EntryWrite", "SearchEntry", "SqliteSearchIndex", "entry_sources"]

#: Workflows whose committed entry the index remembers (the oldest is forgotten first).
REMEMBERED_ENTRIES = 4096

_DOC_COLUMNS = (
    "id, definition_id, version, status, reference, description, create_time, complete_time, "
    "text_hash"
)
_SELECT_DOC = f"SELECT {_DOC_COLUMNS} FROM search_docs WHERE id = ?"
# An entry never goes back to an older state: an indexer that read a workflow before a newer
# state (and its entry) committed leaves the newer entry alone.
_UPSERT_DOC = f"""
    INSERT INTO search_docs ({_DOC_COLUMNS}, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET definition_id = excluded.definition_id,
        version = excluded.version, status = excluded.status, reference = excluded.reference,
        description = excluded.description, create_time = excluded.create_time,
        complete_time = excluded.complete_time, text_hash = excluded.text_hash,
        revision = excluded.revision
    WHERE search_docs.revision IS NULL OR search_docs.revision <= excluded.revision
    RETURNING doc"""
_INSERT_TEXT = "INSERT INTO search_text (rowid, text) VALUES (?, ?)"
_SUMMARY_COLUMNS = (
    "d.id, d.definition_id, d.version, d.status, d.reference, d.description, d.create_time, "
    "d.complete_time"
)


@attrs.frozen
class SearchEntry:
    """One instance's search entry as handed to the worker thread.

    Attributes:
        doc: the ``search_docs`` columns but the text hash, in ``_DOC_COLUMNS`` order.
        data: the instance's data as JSON text; its words are pulled out in the thread (only
            when they may have changed).
        revision: the instance's revision the entry shows.
        waiting: what it waits on outside the engine (``wfe_core.search.waiting_text``).
    """

    doc: tuple[Any, ...]
    data: str | None
    revision: int
    waiting: str = ""

    @classmethod
    def of(cls, instance: WorkflowInstance, revision: int | None = None) -> SearchEntry:
        """The entry of ``instance`` as it is now (``instance.data`` is JSON text).

        Args:
            revision: the revision it shows, if not ``instance.revision`` (a write in
                progress stores the next one).
        """
        doc = (
            instance.id,
            instance.definition_id,
            instance.version,
            instance.status._value_,
            instance.reference,
            instance.description,
            to_micros(instance.create_time),
            to_micros_or_none(instance.complete_time),
        )
        return cls(
            doc, instance.data, instance.revision if revision is None else revision,
            waiting_text(instance),
        )


class EntryWrite:
    """The write of one entry in the transaction of a workflow write (see ``_persistence``).

    Attributes:
        entry: what to write.
        revision: the workflow's revision once the write commits.
        known: the ``search_docs`` row committed at the revision this write replaces, when the
            index remembers it; else the row is read in the transaction.
        runnable: whether the workflow stays runnable (so it will likely be written again).
        sources: what the entry is made of, to tell whether the next write changes it.
    """

    __slots__ = ("entry", "index", "known", "revision", "runnable", "sources")

    def __init__(
        self,
        index: SqliteSearchIndex,
        entry: SearchEntry,
        revision: int,
        known: tuple[Any, ...] | None,
        runnable: bool,
        sources: tuple[Any, ...] = (),
    ) -> None:
        self.index = index
        self.entry = entry
        self.revision = revision
        self.known = known
        self.runnable = runnable
        self.sources = sources

    def run(self, conn: sqlite3.Connection) -> tuple[Any, ...]:
        """In the worker thread, inside the transaction; returns the row now stored."""
        return self.index.write_entry(conn, self.entry, self.known)


def entry_sources(instance: WorkflowInstance) -> tuple[Any, ...]:
    """What a workflow's search entry is made of and can change with (``instance.data`` is
    JSON text): two writes with equal sources show the same entry.

    The data counts by its length and hash (computed in C, and kept in the string), not its
    text, so that remembering this for every running workflow does not hold their data.
    """
    data = instance.data
    return (
        instance.status,
        instance.reference,
        instance.description,
        instance.complete_time,
        None if data is None else (len(data), hash(data)),
        waiting_text(instance),
    )


class SqliteSearchIndex(DatabaseUser):
    """Search by words and filters, newest first, in the workflows' SQLite database.

    Made on a database, it attaches itself to it: ``SqlitePersistence`` on the same database
    then keeps it current in the transaction of every workflow write.

    Args:
        database: the :class:`~wfe_sqlite.SqliteDatabase` to use, or a ``sqlite://`` URL.
    """

    def __init__(self, database: SqliteDatabase | str) -> None:
        super().__init__(database)
        self._fts5: bool | None = None  # what search_text is, read from the schema on first use
        # Workflow id -> (revision, search_docs row, what the row was made of) committed by a
        # write through this index. A write that replaces that revision knows the stored row
        # without reading it: no one else can have written that revision's entry (a revision
        # is written once, and its entry with it), and the row is only remembered once its
        # transaction committed. A write whose sources are the same needs no entry write.
        self._committed: dict[str, tuple[int, tuple[Any, ...], tuple[Any, ...]]] = {}
        self._db.attach_search(self)

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        """Add or replace one instance's summary and text (``instance.data`` is JSON text)."""
        entry = SearchEntry.of(instance)
        await self._db.write(lambda conn: self.write_entry(conn, entry))

    async def index_workflows(self, instances: Sequence[WorkflowInstance]) -> None:
        """Add or replace many instances' entries in one transaction (one commit)."""
        entries = [SearchEntry.of(instance) for instance in instances]
        if not entries:
            return

        def write(conn: sqlite3.Connection) -> None:
            for entry in entries:
                self.write_entry(conn, entry)

        await self._db.write(write)

    async def remove_workflows(self, workflow_ids: Sequence[str]) -> None:
        """Delete these workflows' entries (purged ones); unknown ids are ignored."""
        ids = [(wid,) for wid in workflow_ids]
        if not ids:
            return

        def remove(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM search_text WHERE rowid IN (SELECT doc FROM search_docs WHERE id = ?)", ids
            )
            conn.executemany("DELETE FROM search_docs WHERE id = ?", ids)

        await self._db.write(remove)
        for (wid,) in ids:
            self._committed.pop(wid, None)

    def entry_write(self, instance: WorkflowInstance, replaces: int | None) -> EntryWrite | None:
        """The entry write for a workflow write replacing revision ``replaces`` (None: new),
        or None when the entry committed at ``replaces`` shows this state already (most
        passes: nothing searchable changed); then call :meth:`entry_kept` once it commits.

        Called on the loop when the workflow write is prepared.
        """
        sources = entry_sources(instance)
        known = self._committed.get(instance.id)
        row = None
        if known is not None and known[0] == replaces:
            if known[2] == sources:
                return None
            row = known[1]
        revision = 1 if replaces is None else replaces + 1
        runnable = instance.status is WorkflowStatus.RUNNABLE
        entry = SearchEntry.of(instance, revision)
        return EntryWrite(self, entry, revision, row, runnable, sources)

    def entry_committed(self, write: EntryWrite, row: tuple[Any, ...]) -> None:
        """Remember the row ``write`` stored, now that it committed. Called on the loop."""
        wid = write.entry.doc[0]
        self._committed.pop(wid, None)  # re-inserted last: the oldest is forgotten first
        if write.runnable:  # one that stopped is rarely written again
            self._committed[wid] = (write.revision, row, write.sources)
            if len(self._committed) > REMEMBERED_ENTRIES:
                del self._committed[next(iter(self._committed))]

    def entry_kept(self, workflow_id: str, revision: int) -> None:
        """A write that needed no entry write (``entry_write`` said None) committed
        ``revision``: its entry is the one remembered. Called on the loop."""
        known = self._committed.get(workflow_id)
        if known is not None:
            self._committed[workflow_id] = (revision, known[1], known[2])

    def write_entry(
        self,
        conn: sqlite3.Connection,
        entry: SearchEntry,
        stored: tuple[Any, ...] | None = None,
    ) -> tuple[Any, ...]:
        """Write ``entry`` inside the caller's transaction; runs in the worker thread.

        Args:
            stored: the entry's stored row if known; else it is read.

        Returns:
            The ``search_docs`` row now stored.
        """
        wid, definition_id, _, _, reference, description = entry.doc[:6]
        # A digest of the text's sources, not of the text: pulling the words out of the data
        # (a JSON parse) is only paid for when the data changed.
        digest = hashlib.blake2b(digest_size=8)
        # The waits count only when there are some: an entry without keeps its digest.
        waits = (entry.waiting,) if entry.waiting else ()
        for part in (definition_id, reference, description, entry.data, *waits):
            raw = b"" if part is None else part.encode("utf-8", "surrogatepass")
            digest.update(b"-" if part is None else len(raw).to_bytes(8, "big"))
            digest.update(raw)
        text_hash = int.from_bytes(digest.digest(), "big", signed=True)
        row = (*entry.doc, text_hash)
        if stored is None:
            stored = conn.execute(_SELECT_DOC, (wid,)).fetchone()
        if stored == row:
            return row  # nothing searchable changed
        # fetchall: RETURNING must run to completion before the next statement.
        written = conn.execute(_UPSERT_DOC, (*row, entry.revision)).fetchall()
        if not written:  # it shows a newer state already; only an update can be refused
            assert stored is not None
            return stored
        ((rowid,),) = written
        if stored is not None and stored[-1] == text_hash:
            return row  # only the summary changed
        conn.execute("DELETE FROM search_text WHERE rowid = ?", (rowid,))
        text = searchable_text(definition_id, reference, description, entry.data, entry.waiting)
        conn.execute(_INSERT_TEXT, (rowid, text))
        return row

    async def search(
        self, terms: str, filters: SearchFilter, skip: int = 0, take: int = 20
    ) -> SearchPage:
        """Instances matching every term (none: all) and the filters, newest first, one page."""
        words = list(dict.fromkeys(search_words(terms)))  # a repeated word asks nothing more
        where, args = _filter_sql(filters)

        def run(conn: sqlite3.Connection) -> SearchPage:
            clauses, params = list(where), list(args)
            if words:
                if self._fts5 is None:
                    self._fts5 = search_text_is_fts5(conn)
                clause, extra = _terms_sql(self._fts5, words)
                clauses.append(clause)
                params.extend(extra)
            condition = " AND ".join(clauses) or "1"
            (total,) = conn.execute(
                f"SELECT COUNT(*) FROM search_docs d WHERE {condition}", params
            ).fetchone()
            # The rule's order (wfe_core.search.newest_first), which the indexes on
            # (create_time, id) serve by walking them backwards.
            rows = conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM search_docs d WHERE {condition} "
                "ORDER BY d.create_time DESC, d.id DESC LIMIT ? OFFSET ?",
                [*params, max(take, 0), max(skip, 0)],
            ).fetchall()
            return SearchPage(items=[_summary(r) for r in rows], total=total)

        return await self._db.read(run)


def _filter_sql(f: SearchFilter) -> tuple[list[str], list[Any]]:
    """The rule's filters (``wfe_core.search.filter_conditions``) as SQL on ``search_docs d``."""
    clauses: list[str] = []
    args: list[Any] = []
    for name, comparison, value in filter_conditions(f):
        clauses.append(f"d.{name} {comparison} ?")
        args.append(_column_value(value))
    return clauses, args


def _column_value(value: Any) -> Any:
    """A filter's value as ``search_docs`` stores it: a status as its text, a time as
    integer microseconds."""
    if isinstance(value, WorkflowStatus):
        return value.value
    if isinstance(value, datetime):
        return to_micros(value)
    return value


def _terms_sql(fts5: bool, words: list[str]) -> tuple[str, list[Any]]:
    if fts5:
        # Each word becomes an FTS5 string, so nothing in it is read as query syntax; words
        # hold only letters and digits anyway. The trailing * makes it a prefix match.
        query = " AND ".join(f'"{w}"*' for w in words)
        return "d.doc IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)", [query]
    # The text is words and single spaces (wfe_core.search.matches_words, in SQL).
    matches = " AND ".join(["instr(' ' || t.text, ' ' || ?) > 0"] * len(words))
    return f"d.doc IN (SELECT t.rowid FROM search_text t WHERE {matches})", list(words)


def _summary(row: tuple[Any, ...]) -> WorkflowSummary:
    wid, definition_id, version, status, reference, description, created, completed = row
    return WorkflowSummary(
        id=wid,
        definition_id=definition_id,
        version=version,
        status=WorkflowStatus(status),
        reference=reference,
        description=description,
        create_time=from_micros(created),
        complete_time=from_micros_or_none(completed),
    )
