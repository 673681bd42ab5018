"""``SqliteHeartbeats``: the heartbeats of the hosts using one database, in its ``hosts`` table.

Implements :class:`wfe_core.providers.HeartbeatStore`; the plugin's backend makes it, and the
host's heartbeat task writes through it every few seconds. A record is one JSON text
(:func:`wfe_core.serialization.dump_host`), so adding a field needs no migration.
"""

from __future__ import annotations

import sqlite3

from wfe_core.models import HostRecord
from wfe_core.serialization import dump_host, load_host

from ._database import DatabaseUser
from ._times import to_micros

__all__ = ["SqliteHeartbeats"]

_RECORD = """
    INSERT INTO hosts (id, last_seen, record) VALUES (?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, record = excluded.record"""


class SqliteHeartbeats(DatabaseUser):
    """Heartbeats shared by every process using the same database file."""

    async def record_heartbeat(self, record: HostRecord) -> None:
        row = (record.id, to_micros(record.last_seen), dump_host(record))
        await self._db.write(lambda conn: conn.execute(_RECORD, row))

    async def remove_host(self, host_id: str) -> None:
        await self._db.write(lambda conn: conn.execute("DELETE FROM hosts WHERE id = ?", (host_id,)))

    async def list_hosts(self) -> list[HostRecord]:
        def read(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for row in conn.execute("SELECT record FROM hosts ORDER BY id")]

        return [load_host(text) for text in await self._db.read(read)]
