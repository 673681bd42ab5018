"""``SqliteSearchIndex``: full-text search over workflows, in the shared SQLite database.

Implements :class:`wfe_core.providers.SearchIndex`; the host indexes instances and serves
``host.search`` with it, the plugin's ``search`` factory builds it.

Two tables: ``search_docs`` holds one summary row per workflow (the columns the filters and the
page need) and ``search_text`` its searchable text under the same rowid: the definition id, the
reference, the description and the *values* of the JSON data (strings and numbers, not keys or
punctuation). ``search_text`` is an FTS5 table when this SQLite has FTS5 (the usual case). Each
search term must match, as a word or the start of one (``piz`` finds "pizza"), case-insensitively.

Without FTS5 (some minimal SQLite builds), ``search_text`` is a plain table and each term must
appear as a substring of one of the columns, found with ``LIKE``: the same results for whole
words, but a scan of every document per search.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from wfe_core._models import WorkflowInstance, WorkflowStatus
from wfe_core.providers import SearchFilter, SearchPage, WorkflowSummary

from ._database import DatabaseUser, SqliteDatabase
from ._times import from_micros, from_micros_or_none, to_micros, to_micros_or_none

__all__ = ["SqliteSearchIndex", "data_text"]

# The text indexed from one instance's data is capped: indexing runs on every pass that
# reaches the index queue, and what people search for (order numbers, names, e-mails) sits in
# small fields, so a multi-megabyte payload should not cost its size in index work each time.
MAX_DATA_TEXT = 256 * 1024

# The tag key of wfe's serialized values ({"$wfe": "decimal", "v": "1.5"}): only "v" is data.
_TAG = "$wfe"

_UPSERT_DOC = """
    INSERT INTO search_docs (id, definition_id, version, status, reference, description,
        create_time, complete_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET definition_id = excluded.definition_id,
        version = excluded.version, status = excluded.status, reference = excluded.reference,
        description = excluded.description, create_time = excluded.create_time,
        complete_time = excluded.complete_time
    RETURNING doc"""
_SUMMARY_COLUMNS = (
    "d.id, d.definition_id, d.version, d.status, d.reference, d.description, d.create_time, "
    "d.complete_time"
)


class SqliteSearchIndex(DatabaseUser):
    """Search by words and filters, newest first, in the workflows' SQLite database.

    Args:
        database: the :class:`~wfe_sqlite.SqliteDatabase` to use, or a ``sqlite://`` URL.
    """

    def __init__(self, database: SqliteDatabase | str) -> None:
        super().__init__(database)
        self._fts5: bool | None = None  # what search_text is, read from the schema on first use

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        """Add or replace one instance's summary and text (``instance.data`` is JSON text)."""
        doc = (
            instance.id,
            instance.definition_id,
            instance.version,
            instance.status.value,
            instance.reference,
            instance.description,
            to_micros(instance.create_time),
            to_micros_or_none(instance.complete_time),
        )
        fields = (instance.definition_id, instance.reference, instance.description)
        data = instance.data

        def index(conn: sqlite3.Connection) -> None:
            # The data's words are pulled out here, in the worker thread: parsing a large
            # payload would otherwise stall the event loop.
            text = (*fields, data_text(data))
            # fetchall: RETURNING must run to completion before the next statement.
            ((rowid,),) = conn.execute(_UPSERT_DOC, doc).fetchall()
            conn.execute("DELETE FROM search_text WHERE rowid = ?", (rowid,))
            conn.execute(
                "INSERT INTO search_text (rowid, definition_id, reference, description, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (rowid, *text),
            )

        await self._db.write(index)

    async def search(
        self, terms: str, filters: SearchFilter, skip: int = 0, take: int = 20
    ) -> SearchPage:
        """Instances matching every term (none: all) and the filters, newest first, one page."""
        words = terms.split()
        where, args = _filter_sql(filters)

        def run(conn: sqlite3.Connection) -> SearchPage:
            clauses, params = list(where), list(args)
            if words:
                if self._fts5 is None:
                    self._fts5 = _is_fts5(conn)
                clause, extra = _terms_sql(self._fts5, words)
                clauses.append(clause)
                params.extend(extra)
            condition = " AND ".join(clauses) or "1"
            (total,) = conn.execute(
                f"SELECT COUNT(*) FROM search_docs d WHERE {condition}", params
            ).fetchone()
            # Ties on create_time keep the order of first indexing, as the memory index does.
            rows = conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM search_docs d WHERE {condition} "
                "ORDER BY d.create_time DESC, d.doc LIMIT ? OFFSET ?",
                [*params, max(take, 0), max(skip, 0)],
            ).fetchall()
            return SearchPage(items=[_summary(r) for r in rows], total=total)

        return await self._db.read(run)


def data_text(data: Any) -> str | None:
    """The words of a workflow's JSON data: its string and number values, space-separated.

    Keys, punctuation, booleans and nulls are left out, and so are wfe's type tags (only the
    tagged value counts). At most :data:`MAX_DATA_TEXT` characters are kept. Text that is not
    JSON is indexed as it is.
    """
    if data is None:
        return None
    if not isinstance(data, str):
        return str(data)[:MAX_DATA_TEXT]
    try:
        value = json.loads(data)
    except ValueError:
        return data[:MAX_DATA_TEXT]
    parts: list[str] = []
    size = 0
    for word in _values(value):
        parts.append(word)
        size += len(word) + 1
        if size >= MAX_DATA_TEXT:
            break
    return " ".join(parts)[:MAX_DATA_TEXT]


def _values(value: Any) -> Iterator[str]:
    # An explicit stack rather than recursion: user data may nest deeper than Python recurses.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, (int, float)):
            yield str(item)
        elif isinstance(item, dict):
            children = [item["v"]] if _TAG in item and "v" in item else list(item.values())
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _filter_sql(f: SearchFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if f.status is not None:
        clauses.append("d.status = ?")
        args.append(f.status.value)
    if f.definition_id is not None:
        clauses.append("d.definition_id = ?")
        args.append(f.definition_id)
    if f.reference is not None:
        clauses.append("d.reference = ?")
        args.append(f.reference)
    if f.created_after is not None:
        clauses.append("d.create_time >= ?")
        args.append(to_micros(f.created_after))
    if f.created_before is not None:
        clauses.append("d.create_time < ?")
        args.append(to_micros(f.created_before))
    return clauses, args


def _terms_sql(fts5: bool, words: list[str]) -> tuple[str, list[Any]]:
    if fts5:
        # Each term becomes an FTS5 string (quotes doubled), so user input is never parsed as
        # query syntax (AND, NEAR, column:, -, *); the trailing * makes it a prefix match.
        query = " AND ".join('"' + w.replace('"', '""') + '"*' for w in words)
        return "d.doc IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)", [query]
    like = " OR ".join(
        f"t.{column} LIKE ? ESCAPE '\\'"
        for column in ("definition_id", "reference", "description", "data")
    )
    matches = " AND ".join([f"({like})"] * len(words))
    clause = f"d.doc IN (SELECT t.rowid FROM search_text t WHERE {matches})"
    params: list[Any] = []
    for w in words:
        pattern = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params.extend([pattern] * 4)
    return clause, params


def _is_fts5(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'search_text'").fetchone()
    return row is not None and "fts5" in row[0].lower()


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
