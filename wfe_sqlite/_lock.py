"""``SqliteLock``: leases on named resources, in the ``locks`` table of the shared database.

Implements :class:`wfe_core.providers.LockProvider`; the host takes a lease per workflow pass,
the plugin's ``lock`` factory builds it. Several processes on one file see each other's leases,
which is why expiry uses the wall clock (``time.time()``): a monotonic clock is per process.
The price is that a wall-clock jump (an NTP step) shortens or stretches live leases.
"""

from __future__ import annotations

import sqlite3
import time

from ._database import DatabaseUser

__all__ = ["SqliteLock"]

# One statement decides, inside SQLite's write lock, whether the key is free: a new row is
# inserted, an expired row is taken over, and a live row (anyone's, ours included: leases are
# not re-entrant) is left alone, which shows as no change.
_ACQUIRE = """
    INSERT INTO locks (key, owner, expires_at) VALUES (:key, :owner, :expires)
    ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
    WHERE locks.expires_at <= :now"""
_RENEW = """
    UPDATE locks SET expires_at = :expires
    WHERE key = :key AND owner = :owner AND expires_at > :now"""
_RELEASE = "DELETE FROM locks WHERE key = :key AND owner = :owner"

# Leases expired this long ago belong to holders that died; start() sweeps them so the table
# does not keep one row per workflow a crashed host ever held.
_SWEEP_AFTER = 3600.0


class SqliteLock(DatabaseUser):
    """Leases with expiry, shared by every process using the same database file.

    Args:
        database: the :class:`~wfe_sqlite.SqliteDatabase` to use, or a ``sqlite://`` URL.
    """

    async def start(self) -> None:
        """Open the database and drop leases that expired long ago. Idempotent."""
        await super().start()
        if self._db.options.mode == "ro":  # a read-only store is looked at, never changed
            return
        cutoff = time.time() - _SWEEP_AFTER
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM locks WHERE expires_at < ?", (cutoff,))
        )

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease for ``ttl`` seconds; False if a live lease holds it (even ``owner``'s)."""
        return await self._db.write(lambda conn: _timed(conn, _ACQUIRE, key, owner, ttl))

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s live lease by ``ttl`` seconds from now; False if it is not theirs."""
        return await self._db.write(lambda conn: _timed(conn, _RENEW, key, owner, ttl))

    async def release(self, key: str, owner: str) -> None:
        """Give the lease back; a no-op unless ``owner`` holds it."""
        args = {"key": key, "owner": owner}
        await self._db.write(lambda conn: conn.execute(_RELEASE, args))


def _timed(conn: sqlite3.Connection, sql: str, key: str, owner: str, ttl: float) -> bool:
    # The clock is read here, in the worker thread once the write lock is held, not when the
    # call was made: a call that queued behind other writes then still gets its full ttl
    # counted from no earlier than the moment the caller asked, so a caller that counts its
    # lease from its own call time never believes in a lease longer than the stored one.
    now = time.time()
    args = {"key": key, "owner": owner, "expires": now + ttl, "now": now}
    return conn.execute(sql, args).rowcount > 0
