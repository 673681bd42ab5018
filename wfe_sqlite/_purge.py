"""``SqlitePurge``: deleting finished workflows from an SQLite store (a mixin).

Implements :class:`wfe_core.providers.WorkflowPurging` for ``SqlitePersistence``; the host's
retention, ``host.purge_workflows`` and ``wfe purge`` call it one batch at a time. A batch is
one short write transaction (the file has one writer, so a long one would hold every pass up):
the chosen workflows with their pointers, subscriptions, errors and search entry go together.
Where the search index is kept elsewhere (none attached to the database), the purged
workflows are recorded in ``index_outbox`` instead, and the host's indexer removes them there.

The query that chooses a batch walks the partial index ``workflows_finished`` (migration 6) in
completion order, so its cost follows the batch, not the size of the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from datetime import datetime
from typing import Any

from wfe_core.models import WorkflowStatus

from ._database import DatabaseUser
from ._times import to_micros

__all__ = ["SqlitePurge", "finished_filter"]

#: The statuses a purge may delete; their literal list is the partial index's WHERE.
FINISHED = (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)
_FINISHED_SQL = "status IN ('complete', 'terminated')"


def finished_filter(
    statuses: Collection[WorkflowStatus], definition_id: str | None
) -> tuple[str, list[Any]]:
    """The WHERE of a purge (``complete_time < ?`` first) and its arguments after the time.

    The partial index's own condition is repeated literally, so SQLite sees that it applies;
    the statuses asked for are literals of the enum (never user text).
    """
    chosen = [s for s in FINISHED if s in set(statuses)]
    where = [_FINISHED_SQL, "complete_time < ?"]
    if len(chosen) < len(FINISHED):
        where.append("status IN (" + ", ".join(f"'{s.value}'" for s in chosen) + ")" if chosen else "0")
    args: list[Any] = []
    if definition_id is not None:
        where.append("definition_id = ?")
        args.append(definition_id)
    return " AND ".join(where), args


class SqlitePurge(DatabaseUser):
    """The purge methods of ``SqlitePersistence``."""

    async def count_purgeable(
        self, before: datetime, statuses: Collection[WorkflowStatus], definition_id: str | None = None
    ) -> int:
        """How many workflows a purge with these filters would delete."""
        where, args = finished_filter(statuses, definition_id)
        sql = f"SELECT COUNT(*) FROM workflows WHERE {where}"
        values = (to_micros(before), *args)
        (count,) = await self._db.read(lambda conn: conn.execute(sql, values).fetchone())
        return int(count)

    async def purge_workflows(
        self,
        before: datetime,
        statuses: Collection[WorkflowStatus],
        definition_id: str | None = None,
        limit: int = 500,
    ) -> int:
        """Delete up to ``limit`` finished workflows, oldest completion first, in one transaction."""
        where, args = finished_filter(statuses, definition_id)
        choose = f"SELECT id, revision FROM workflows WHERE {where} ORDER BY complete_time LIMIT ?"
        values = (to_micros(before), *args, limit)
        outbox = self._db.search_index is None

        def purge(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(choose, values).fetchall()
            ids = [(wid,) for wid, _ in rows]
            conn.executemany("DELETE FROM execution_pointers WHERE workflow_id = ?", ids)
            conn.executemany("DELETE FROM subscriptions WHERE workflow_id = ?", ids)
            conn.executemany("DELETE FROM execution_errors WHERE workflow_id = ?", ids)
            # Entries kept in this file go now; one kept elsewhere is removed by the indexer.
            conn.executemany(
                "DELETE FROM search_text WHERE rowid IN (SELECT doc FROM search_docs WHERE id = ?)", ids
            )
            conn.executemany("DELETE FROM search_docs WHERE id = ?", ids)
            if outbox:
                conn.executemany(
                    "INSERT INTO index_outbox (workflow_id, revision) VALUES (?, ?) "
                    "ON CONFLICT (workflow_id) DO UPDATE SET revision = excluded.revision",
                    [(wid, revision + 1) for wid, revision in rows],
                )
            else:
                conn.executemany("DELETE FROM index_outbox WHERE workflow_id = ?", ids)
            conn.executemany("DELETE FROM workflows WHERE id = ?", ids)
            return [wid for wid, _ in rows]

        purged = await self._db.write(purge)
        for wid in purged:
            self._db.outboxed.pop(wid, None)
        return len(purged)

    async def purge_events(self, before: datetime, limit: int = 500) -> int:
        """Delete up to ``limit`` processed events older than ``before`` (index ``events_processed``)."""
        sql = """DELETE FROM events WHERE rowid IN (
                     SELECT rowid FROM events WHERE is_processed = 1 AND event_time < ?
                     ORDER BY event_time LIMIT ?)"""
        values = (to_micros(before), limit)
        return await self._db.write(lambda conn: conn.execute(sql, values).rowcount)
