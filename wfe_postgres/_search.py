"""``PostgresSearchIndex``: full-text search over workflows in the workflows' PostgreSQL schema.

Implements :class:`wfe_core.providers.SearchIndex`; the host serves ``host.search`` with it.
One table, ``search_docs``: the summary columns the filters and the page need, and ``words``,
a ``tsvector`` (GIN-indexed) of the entry's words.

The words are wfe_core's, not PostgreSQL's: the text (definition id, reference, description
and the data's values) is :func:`wfe_core.search.instance_text`, made here, and the
``tsvector`` is made from those lexemes as they are (``array_to_tsvector``), so the server's
parser, locale and dictionaries decide nothing. A search turns its terms' words into quoted
lexemes with a prefix match (``'piz':*``), cast to ``tsquery`` as a parameter: the cast reads
quoted lexemes literally (no parser, no stemming), and the words hold only letters and digits,
so quotes, ``&``, ``|``, ``!``, ``:*``, ``%``, ``_`` and backslashes in terms are separators,
never syntax. (``to_tsquery('simple', ...)`` would run the server's parser over each lexeme,
which with a C locale drops non-ASCII letters: "日本語" would find everything.)

Entries follow the durable state: made on a database, the index attaches itself to it, and
``PostgresPersistence`` writes the entry in the statement of every workflow write. An entry
never goes back to an older revision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from wfe_core.models import WorkflowInstance, WorkflowStatus
from wfe_core.providers import SearchFilter, SearchPage, WorkflowSummary, search_words
from wfe_core.search import filter_conditions, instance_text, waiting_text

from ._database import DatabaseUser, PostgresDatabase
from ._rows import instance_params, loaded_text, stored_text, utc

__all__ = ["PostgresSearchIndex", "entry_words", "search_columns", "text_digest"]

# PostgreSQL refuses a lexeme over 2047 bytes; a longer word keeps its first characters, which
# is all a prefix search of it can use.
MAX_WORD = 500
#: Words of a search that go into the tsquery the GIN index serves; more are checked row by row.
INDEXED_WORDS = 64

#: The search_docs columns a workflow write sets, and the statement's parameters for them.
SEARCH_UPSERT = """
    INSERT INTO {s}.search_docs (id, definition_id, version, status, reference, description,
        create_time, complete_time, revision, text_hash, words)
    SELECT %(id)s, %(definition_id)s, %(version)s, %(status)s, %(reference)s, %(description)s,
        %(create_time)s, %(complete_time)s, %(s_revision)s, %(text_hash)s,
        array_to_tsvector(%(words)s::text[])
    {source}
    ON CONFLICT (id) DO UPDATE SET definition_id = excluded.definition_id,
        version = excluded.version, status = excluded.status, reference = excluded.reference,
        description = excluded.description, create_time = excluded.create_time,
        complete_time = excluded.complete_time, revision = excluded.revision,
        text_hash = excluded.text_hash,
        words = CASE WHEN search_docs.text_hash = excluded.text_hash THEN search_docs.words
                     ELSE excluded.words END
    WHERE (search_docs.revision IS NULL OR search_docs.revision <= excluded.revision)
      AND {CHANGED}"""

#: The condition under which an upsert rewrites an entry: something the entry shows differs.
#: Most passes change none of it (a chain step moves only the revision), and an update that
#: writes no new row version costs no WAL and no GIN insertion of the entry's every word.
#: Skipping stays correct: the stored revision is then the last one whose entry differed, every
#: later revision up to the current one has the same entry, so a late write of any of them
#: (passes the revision guard) writes what is there already.
CHANGED = """(search_docs.status, search_docs.reference, search_docs.description,
        search_docs.complete_time, search_docs.text_hash, search_docs.definition_id,
        search_docs.version, search_docs.create_time)
      IS DISTINCT FROM (excluded.status, excluded.reference, excluded.description,
        excluded.complete_time, excluded.text_hash, excluded.definition_id, excluded.version,
        excluded.create_time)"""

SEARCH_UPSERT = SEARCH_UPSERT.replace("{CHANGED}", CHANGED)

_SUMMARY = (
    "id, definition_id, version, status, reference, description, create_time, complete_time"
)


def text_digest(instance: WorkflowInstance) -> int:
    """A digest of what an entry's words are made from: equal digests, equal words."""
    # The waits count only when there are some: an entry without keeps its digest.
    waiting = waiting_text(instance)
    parts = (instance.definition_id, instance.reference, instance.description, instance.data,
             *((waiting,) if waiting else ()))
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        raw = b"" if part is None else part.encode("utf-8", "surrogatepass")
        digest.update(b"-" if part is None else len(raw).to_bytes(8, "big"))
        digest.update(raw)
    return int.from_bytes(digest.digest(), "big", signed=True)


def entry_words(instance: WorkflowInstance) -> tuple[int, list[str]]:
    """The digest of an entry's text sources and its distinct lexemes (wfe_core's rule)."""
    words = dict.fromkeys(word[:MAX_WORD] for word in instance_text(instance).split())
    return text_digest(instance), list(words)


def search_columns(instance: WorkflowInstance, revision: int) -> dict[str, Any]:
    """The parameters of :data:`SEARCH_UPSERT` beyond the instance's own."""
    text_hash, words = entry_words(instance)
    return {"s_revision": revision, "text_hash": text_hash, "words": words}


class PostgresSearchIndex(DatabaseUser):
    """Search by words and filters, newest first, in the workflows' PostgreSQL schema.

    Made on a database, it attaches itself to it: ``PostgresPersistence`` on the same database
    then keeps it current in the statement of every workflow write.

    Args:
        database: the :class:`~wfe_postgres.PostgresDatabase` to use, or a ``postgresql://`` URL.
    """

    def __init__(self, database: PostgresDatabase | str) -> None:
        super().__init__(database)
        self._db.attach_search(self)

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        """Add or replace one instance's entry (``instance.data`` is JSON text)."""
        await self.index_workflows([instance])

    async def index_workflows(self, instances: Sequence[WorkflowInstance]) -> None:
        """Add or replace several entries in one transaction."""
        if not instances:
            return
        rows = [
            {**instance_params(i), **search_columns(i, i.revision)} for i in instances
        ]
        sql = self._db.sql(SEARCH_UPSERT.replace("{source}", ""))

        async def write(conn: Any) -> None:
            async with conn.transaction():
                async with conn.cursor() as cursor:
                    await cursor.executemany(sql, rows)

        await self._db.run("indexing workflows", write)

    async def remove_workflows(self, workflow_ids: Sequence[str]) -> None:
        """Delete these workflows' entries (purged ones); unknown ids are ignored."""
        if workflow_ids:
            await self._db.execute(
                "removing search entries",
                "DELETE FROM {s}.search_docs WHERE id = ANY(%s::text[])",
                (list(workflow_ids),),
            )

    async def search(
        self, terms: str, filters: SearchFilter, skip: int = 0, take: int = 20
    ) -> SearchPage:
        """Instances matching every term (none: all) and the filters, newest first, one page."""
        clauses, args = _filter_sql(filters)
        words = list(dict.fromkeys(word[:MAX_WORD] for word in search_words(terms)))
        if words:
            # The first words make one tsquery, which the GIN index serves; the rest, if any,
            # are checked on the rows it finds, one tsquery each: a tsquery of tens of
            # thousands of words is too deep for the server's stack (a 1 MB search term).
            clauses.append("words @@ %s::tsquery")
            args.append(" & ".join(_lexeme(w) for w in words[:INDEXED_WORDS]))
            if len(words) > INDEXED_WORDS:
                clauses.append("words @@ ALL (%s::tsquery[])")
                args.append([_lexeme(w) for w in words[INDEXED_WORDS:]])
        where = " AND ".join(clauses) or "true"
        # The total rides on every row of the page; an empty page (past the end) asks again.
        rows = await self._db.fetchall(
            "searching",
            f"SELECT {_SUMMARY}, count(*) OVER () FROM {{s}}.search_docs WHERE {where} "
            'ORDER BY create_time DESC, id COLLATE "C" DESC LIMIT %s OFFSET %s',
            [*args, max(take, 0), max(skip, 0)],
            read=True,
            prepare=None,
        )
        if rows:
            total = rows[0][-1]
        elif skip > 0 or take <= 0:
            found = await self._db.fetchone(
                "searching",
                f"SELECT count(*) FROM {{s}}.search_docs WHERE {where}",
                args,
                read=True,
                prepare=None,
            )
            total = found[0] if found else 0
        else:
            total = 0
        return SearchPage(items=[_summary(r) for r in rows], total=total)


def _lexeme(word: str) -> str:
    # Quoted, with quotes and backslashes escaped (words never hold them; the escape is the
    # rule of tsquery input, kept so this stays safe whatever a word is made of).
    escaped = word.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}':*"


def _filter_sql(f: SearchFilter) -> tuple[list[str], list[Any]]:
    """The rule's filters (``wfe_core.search.filter_conditions``) as SQL on the workflows."""
    clauses: list[str] = []
    args: list[Any] = []
    for name, comparison, value in filter_conditions(f):
        if name == "reference":
            # Indexed by its digest (a reference may be longer than a btree entry can be).
            clauses.append("md5(reference) = md5(%s) AND reference = %s")
            args.append(stored_text(value))
            value = stored_text(value)
        else:
            clauses.append(f"{name} {comparison} %s")
        if isinstance(value, WorkflowStatus):
            value = value.value
        elif isinstance(value, datetime):
            value = utc(value)
        args.append(value)
    return clauses, args


def _summary(row: Sequence[Any]) -> WorkflowSummary:
    wid, definition_id, version, status, reference, description, created, completed = row[:8]
    return WorkflowSummary(
        id=wid,
        definition_id=definition_id,
        version=version,
        status=WorkflowStatus(status),
        reference=loaded_text(reference),
        description=loaded_text(description),
        create_time=utc(created),
        complete_time=None if completed is None else utc(completed),
    )
