"""``MemoryPurge``: the purge of finished workflows for ``MemoryPersistence`` (a mixin).

Implements :class:`wfe_core.providers.WorkflowPurging` over the dictionaries that
``wfe_core._memory.MemoryPersistence`` keeps; the host's retention and ``purge_workflows``
call it. A linked ``MemorySearchIndex`` loses the entries in the same call; without one the
purged workflows go to the index outbox, for the host's indexer to remove elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._models import Event, EventSubscription, ExecutionError, WorkflowStatus

if TYPE_CHECKING:
    from ._memory import MemorySearchIndex

__all__ = ["MemoryPurge"]


class MemoryPurge:
    """The purge methods; the attributes are ``MemoryPersistence``'s."""

    _instances: dict[str, Any]
    _due: dict[str, datetime]
    _events: dict[str, Event]
    _subscriptions: dict[str, EventSubscription]
    _errors: list[ExecutionError]
    _search: MemorySearchIndex | None
    _outbox: dict[str, int]

    def _purgeable(
        self, before: datetime, statuses: Collection[WorkflowStatus], definition_id: str | None
    ) -> Iterator[tuple[datetime, str]]:
        wanted = set(statuses)
        for wid, stored in self._instances.items():
            fields = stored.fields
            done = fields["complete_time"]
            if (
                fields["status"] in wanted
                and done is not None
                and done < before
                and (definition_id is None or fields["definition_id"] == definition_id)
            ):
                yield done, wid

    async def count_purgeable(
        self, before: datetime, statuses: Collection[WorkflowStatus], definition_id: str | None = None
    ) -> int:
        return sum(1 for _ in self._purgeable(before, statuses, definition_id))

    async def purge_workflows(
        self,
        before: datetime,
        statuses: Collection[WorkflowStatus],
        definition_id: str | None = None,
        limit: int = 500,
    ) -> int:
        # Oldest completion first, as the stores with an index on complete_time serve them.
        chosen = {wid for _, wid in sorted(self._purgeable(before, statuses, definition_id))[:limit]}
        if not chosen:
            return 0
        for wid in chosen:
            revision = self._instances.pop(wid).fields["revision"]
            self._due.pop(wid, None)
            if self._search is not None:
                self._search.drop(wid)
                self._outbox.pop(wid, None)
            else:  # the host's indexer removes the entry from the index kept elsewhere
                self._outbox[wid] = revision + 1
        self._subscriptions = {
            sid: sub for sid, sub in self._subscriptions.items() if sub.workflow_id not in chosen
        }
        self._errors = [error for error in self._errors if error.workflow_id not in chosen]
        return len(chosen)

    async def purge_events(self, before: datetime, limit: int = 500) -> int:
        old = [
            eid for eid, event in self._events.items() if event.is_processed and event.event_time < before
        ][:limit]
        for eid in old:
            del self._events[eid]
        return len(old)
