"""``PostgresLock``: leases on named resources, rows of the ``locks`` table.

Implements :class:`wfe_core.providers.LockProvider`; the host takes a lease per workflow pass.

Why a lease table and not advisory locks: a session advisory lock lives exactly as long as the
connection that took it. With a pool, the lease would belong to whichever connection ran the
acquire, not to the host: it would be held by an idle pooled connection, released only by that
connection, and lost without a word when the pool recycles the connection or a network blip
drops it, while the host goes on believing it holds it. A lease row outlives connections and
blips, carries its owner (release and renew check it), and expires by itself if its host dies,
which is what the host's lease protocol needs; each call is one statement.

Expiry is the server's clock (``clock_timestamp()``), the one clock every host shares, so
hosts on machines whose clocks disagree still agree on when a lease ended.
"""

from __future__ import annotations

from ._database import DatabaseUser

__all__ = ["PostgresLock"]

# One statement decides, under the row's lock, whether the key is free: a new row is
# inserted, an expired row is taken over, and a live row (anyone's, ours included: leases are
# not re-entrant) is left alone, which returns no row.
_ACQUIRE = """
    INSERT INTO {s}.locks (key, owner, expires_at)
    VALUES (%(key)s, %(owner)s, clock_timestamp() + %(ttl)s * interval '1 second')
    ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
    WHERE locks.expires_at <= clock_timestamp()
    RETURNING 1"""
_RENEW = """
    UPDATE {s}.locks SET expires_at = clock_timestamp() + %(ttl)s * interval '1 second'
    WHERE key = %(key)s AND owner = %(owner)s AND expires_at > clock_timestamp()"""
_RELEASE = "DELETE FROM {s}.locks WHERE key = %(key)s AND owner = %(owner)s"
# Leases expired this long ago belong to holders that died; start() sweeps them.
_SWEEP = "DELETE FROM {s}.locks WHERE expires_at < clock_timestamp() - interval '1 hour'"


class PostgresLock(DatabaseUser):
    """Leases with expiry, shared by every host on the same database and schema.

    Args:
        database: the :class:`~wfe_postgres.PostgresDatabase` to use, or a ``postgresql://`` URL.
    """

    async def start(self) -> None:
        """Open the database and drop leases that expired long ago. Idempotent."""
        await super().start()
        await self._db.execute("sweeping expired leases", _SWEEP)

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease for ``ttl`` seconds; False if a live lease holds it (even ``owner``'s)."""
        args = {"key": key, "owner": owner, "ttl": float(ttl)}
        return await self._db.fetchone("taking a lease", _ACQUIRE, args) is not None

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s live lease by ``ttl`` seconds from now; False if it is not theirs."""
        args = {"key": key, "owner": owner, "ttl": float(ttl)}
        return await self._db.execute("renewing a lease", _RENEW, args) > 0

    async def release(self, key: str, owner: str) -> None:
        """Give the lease back; a no-op unless ``owner`` holds it."""
        await self._db.execute("releasing a lease", _RELEASE, {"key": key, "owner": owner})
