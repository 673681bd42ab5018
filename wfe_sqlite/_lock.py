"""``SqliteLock``: leases on named resources, in the ``locks`` table of the shared database.

Implements :class:`wfe_core.providers.LockProvider`; the host takes a lease per workflow pass,
the plugin's ``lock`` factory builds it. Several processes on one file see each other's leases,
which is why expiry uses the wall clock (``time.time()``): a monotonic clock is per process.
The price is that a wall-clock jump (an NTP step) shortens or stretches live leases.

Lease writes are light (``SqliteDatabase.write(light=True)``): a transaction of them alone
commits without an fsync. It still survives the crash of any process; a crash of the machine
may lose it (with every write after it, never one before), and that crash ends every process
that could hold the lease. A lost acquire belonged to a host that is gone; a lost release
leaves a lease that expires on its own.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from wfe_core.coalesce import Coalescer

from ._database import DatabaseUser, SqliteDatabase

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

    def __init__(self, database: SqliteDatabase | str) -> None:
        super().__init__(database)
        # Acquires and releases made together (a host starting or parking many workflows)
        # share one job of the worker thread: statements in a row, no savepoint each.
        self._acquires: Coalescer[tuple[str, str, float], bool] = Coalescer(
            self._acquire_many, self._acquire_one, name="wfe.sqlite.acquire"
        )
        self._releases: Coalescer[tuple[str, str], None] = Coalescer(
            self._release_many, self._release_one, name="wfe.sqlite.release"
        )
        # A host renews every lease it holds each third of the lease's length, all at once:
        # thousands of them for a host holding a long line of waiting workflows.
        self._renewals: Coalescer[tuple[str, str, float], bool] = Coalescer(
            self._renew_many, self._renew_one, name="wfe.sqlite.renew"
        )

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
        return await self._acquires((key, owner, ttl))

    async def _acquire_one(self, args: tuple[str, str, float]) -> bool:
        key, owner, ttl = args
        return await self._db.write(lambda conn: take_lease(conn, key, owner, ttl), light=True)

    async def _acquire_many(self, batch: Sequence[tuple[str, str, float]]) -> list[bool]:
        # In call order: of two asks for one key, the first takes it and the second finds it held.
        return await self._db.write(
            lambda conn: [take_lease(conn, key, owner, ttl) for key, owner, ttl in batch],
            light=True,
        )

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s live lease by ``ttl`` seconds from now; False if it is not theirs."""
        return await self._renewals((key, owner, ttl))

    async def _renew_one(self, args: tuple[str, str, float]) -> bool:
        key, owner, ttl = args
        return await self._db.write(lambda conn: _timed(conn, _RENEW, key, owner, ttl), light=True)

    async def _renew_many(self, batch: Sequence[tuple[str, str, float]]) -> list[bool]:
        return await self._db.write(
            lambda conn: [_timed(conn, _RENEW, key, owner, ttl) for key, owner, ttl in batch],
            light=True,
        )

    async def release(self, key: str, owner: str) -> None:
        """Give the lease back; a no-op unless ``owner`` holds it."""
        await self._releases((key, owner))

    async def _release_one(self, args: tuple[str, str]) -> None:
        key, owner = args
        await self._db.write(
            lambda conn: conn.execute(_RELEASE, {"key": key, "owner": owner}), light=True
        )

    async def _release_many(self, batch: Sequence[tuple[str, str]]) -> list[None]:
        rows = [{"key": key, "owner": owner} for key, owner in batch]
        await self._db.write(lambda conn: conn.executemany(_RELEASE, rows), light=True)
        return [None] * len(rows)


def take_lease(conn: sqlite3.Connection, key: str, owner: str, ttl: float) -> bool:
    """``acquire``'s statement, inside the caller's transaction (a store's create takes one
    with it)."""
    return _timed(conn, _ACQUIRE, key, owner, ttl)


def _timed(conn: sqlite3.Connection, sql: str, key: str, owner: str, ttl: float) -> bool:
    # The clock is read here, in the worker thread once the write lock is held, not when the
    # call was made: a call that queued behind other writes then still gets its full ttl
    # counted from no earlier than the moment the caller asked, so a caller that counts its
    # lease from its own call time never believes in a lease longer than the stored one.
    now = time.time()
    args = {"key": key, "owner": owner, "expires": now + ttl, "now": now}
    return conn.execute(sql, args).rowcount > 0
