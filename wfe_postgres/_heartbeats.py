"""``PostgresHeartbeats``: the heartbeats of the hosts on one schema, rows of its ``hosts`` table.

Implements :class:`wfe_core.providers.HeartbeatStore`; the plugin's backend makes it, and the
host's heartbeat task writes through it every few seconds. A record is one JSON text
(:func:`wfe_core.serialization.dump_host`), so adding a field needs no migration.
"""

from __future__ import annotations

from wfe_core.models import HostRecord
from wfe_core.serialization import dump_host, load_host

from ._database import DatabaseUser

__all__ = ["PostgresHeartbeats"]

_RECORD = """
    INSERT INTO {s}.hosts (id, last_seen, record) VALUES (%s, %s, %s)
    ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, record = excluded.record"""
_REMOVE = "DELETE FROM {s}.hosts WHERE id = %s"
_LIST = "SELECT record FROM {s}.hosts ORDER BY id"


class PostgresHeartbeats(DatabaseUser):
    """Heartbeats shared by every host on the same database and schema."""

    async def record_heartbeat(self, record: HostRecord) -> None:
        args = (record.id, record.last_seen, dump_host(record))
        await self._db.execute("recording a heartbeat", _RECORD, args)

    async def remove_host(self, host_id: str) -> None:
        await self._db.execute("removing a host's heartbeat", _REMOVE, (host_id,))

    async def list_hosts(self) -> list[HostRecord]:
        rows = await self._db.fetchall("listing hosts", _LIST, read=True)
        return [load_host(text) for (text,) in rows]
