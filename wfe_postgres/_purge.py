"""``PostgresPurge``: deleting finished workflows from a PostgreSQL store (a mixin).

Implements :class:`wfe_core.providers.WorkflowPurging` for ``PostgresPersistence``; the host's
retention, ``host.purge_workflows`` and ``wfe purge`` call it one batch at a time. A batch is
one statement (one round trip, one transaction): it chooses the oldest finished workflows
through the partial index ``workflows_finished`` (schema version 5), skipping rows another
purge holds, and deletes them with their pointers, subscriptions, errors and search entry.
Where the search index is kept elsewhere (none attached to the database), the purged
workflows are recorded in ``index_outbox`` instead, and the host's indexer removes them there.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from wfe_core.models import WorkflowStatus

from ._database import DatabaseUser
from ._rows import utc

__all__ = ["PostgresPurge"]

_FINISHED = (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)
# The partial index's condition, repeated literally so that the planner sees it applies.
_WHERE = """status IN ('complete', 'terminated') AND complete_time < %(before)s
    AND status = ANY(%(statuses)s::text[])
    AND (%(definition)s::text IS NULL OR definition_id = %(definition)s::text)"""

_COUNT = "SELECT count(*) FROM {s}.workflows WHERE " + _WHERE

_PURGE = """
WITH chosen AS (
    SELECT id FROM {s}.workflows WHERE """ + _WHERE + """
    ORDER BY complete_time LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM {s}.workflows w USING chosen WHERE w.id = chosen.id RETURNING w.id, w.revision
), pointers AS (
    DELETE FROM {s}.execution_pointers p USING gone WHERE p.workflow_id = gone.id
), subscriptions AS (
    DELETE FROM {s}.subscriptions x USING gone WHERE x.workflow_id = gone.id
), errors AS (
    DELETE FROM {s}.execution_errors e USING gone WHERE e.workflow_id = gone.id
), entries AS (
    DELETE FROM {s}.search_docs d USING gone WHERE d.id = gone.id
), {outbox}
SELECT count(*) FROM gone"""
# The search index is kept elsewhere: record the purged workflows for its indexer.
_OUTBOX_TOMBSTONES = """outbox AS (
    INSERT INTO {s}.index_outbox (workflow_id, revision) SELECT id, revision + 1 FROM gone
    ON CONFLICT (workflow_id) DO UPDATE SET revision = excluded.revision
)"""
_OUTBOX_CLEARED = """outbox AS (
    DELETE FROM {s}.index_outbox o USING gone WHERE o.workflow_id = gone.id
)"""

_PURGE_EVENTS = """
DELETE FROM {s}.events WHERE id IN (
    SELECT id FROM {s}.events WHERE is_processed AND event_time < %s
    ORDER BY event_time LIMIT %s FOR UPDATE SKIP LOCKED
)"""


def _params(
    before: datetime, statuses: Collection[WorkflowStatus], definition_id: str | None
) -> dict[str, Any]:
    return {
        "before": utc(before),
        "statuses": [s.value for s in _FINISHED if s in set(statuses)],
        "definition": definition_id,
    }


class PostgresPurge(DatabaseUser):
    """The purge methods of ``PostgresPersistence``."""

    async def count_purgeable(
        self, before: datetime, statuses: Collection[WorkflowStatus], definition_id: str | None = None
    ) -> int:
        """How many workflows a purge with these filters would delete."""
        row = await self._db.fetchone(
            "counting purgeable workflows", _COUNT, _params(before, statuses, definition_id), read=True
        )
        return int(row[0]) if row else 0

    async def purge_workflows(
        self,
        before: datetime,
        statuses: Collection[WorkflowStatus],
        definition_id: str | None = None,
        limit: int = 500,
    ) -> int:
        """Delete up to ``limit`` finished workflows, oldest completion first, in one statement."""
        outbox = _OUTBOX_TOMBSTONES if self._db.search_index is None else _OUTBOX_CLEARED
        row = await self._db.fetchone(
            "purging workflows",
            _PURGE.replace("{outbox}", outbox),
            {**_params(before, statuses, definition_id), "limit": limit},
        )
        return int(row[0]) if row else 0

    async def purge_events(self, before: datetime, limit: int = 500) -> int:
        """Delete up to ``limit`` processed events older than ``before`` (``events_processed``)."""
        return await self._db.execute("purging events", _PURGE_EVENTS, (utc(before), limit))
