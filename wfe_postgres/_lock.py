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

Acquires and releases made together (a host starting or finishing many workflows at once) are
coalesced (see ``wfe_core.coalesce``): one statement over arrays for all of them, so a thousand
workflows started at once cost a handful of round trips for their leases, not a thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wfe_core.coalesce import Coalescer

from ._database import ASYNC_COMMIT, DatabaseUser

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
# Releases do not wait for their WAL flush (ASYNC_COMMIT): one lost in a server crash expires.
_RELEASE = (
    "DELETE FROM {s}.locks WHERE key = %(key)s AND owner = %(owner)s AND " + ASYNC_COMMIT
)
# The same for many distinct keys, in key order (two hosts' batches then lock rows in one
# order and cannot deadlock): the keys it took come back.
_ACQUIRE_MANY = """
    INSERT INTO {s}.locks (key, owner, expires_at)
    SELECT u.key, u.owner, clock_timestamp() + u.ttl * interval '1 second'
    FROM unnest(%s::text[], %s::text[], %s::float8[]) AS u (key, owner, ttl)
    ORDER BY u.key
    ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
    WHERE locks.expires_at <= clock_timestamp()
    RETURNING key"""
_RELEASE_MANY = """
    DELETE FROM {s}.locks l USING unnest(%s::text[], %s::text[]) AS u (key, owner)
    WHERE l.key = u.key AND l.owner = u.owner AND """ + ASYNC_COMMIT
# Renewals of distinct leases, in key order (no deadlock with another host's batch): the
# leases renewed come back.
_RENEW_MANY = """
    UPDATE {s}.locks l SET expires_at = clock_timestamp() + u.ttl * interval '1 second'
    FROM (SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[]) AS v (key, owner, ttl)
          ORDER BY key) AS u
    WHERE l.key = u.key AND l.owner = u.owner AND l.expires_at > clock_timestamp()
    RETURNING l.key, l.owner"""
# Leases expired this long ago belong to holders that died; start() sweeps them.
_SWEEP = "DELETE FROM {s}.locks WHERE expires_at < clock_timestamp() - interval '1 hour'"


class PostgresLock(DatabaseUser):
    """Leases with expiry, shared by every host on the same database and schema.

    Args:
        database: the :class:`~wfe_postgres.PostgresDatabase` to use, or a ``postgresql://`` URL.
    """

    def __init__(self, database: Any) -> None:
        super().__init__(database)
        self._acquire = Coalescer(self._acquire_many, self._acquire_one)
        self._release = Coalescer(self._release_many, self._release_one)
        # A host renews all its leases each third of their length, at once: one statement
        # for the renewals made together.
        self._renew = Coalescer(self._renew_many, self._renew_one)

    async def start(self) -> None:
        """Open the database and drop leases that expired long ago. Idempotent."""
        await super().start()
        await self._db.execute("sweeping expired leases", _SWEEP)

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease for ``ttl`` seconds; False if a live lease holds it (even ``owner``'s)."""
        return await self._acquire((key, owner, float(ttl)))

    async def _acquire_one(self, arg: tuple[str, str, float]) -> bool:
        key, owner, ttl = arg
        args = {"key": key, "owner": owner, "ttl": ttl}
        return await self._db.fetchone("taking a lease", _ACQUIRE, args) is not None

    async def _acquire_many(self, args: Sequence[tuple[str, str, float]]) -> list[bool]:
        # A key asked for twice in one batch goes to the server once: the first ask takes it
        # (or not), and the later ones then find it held, as they would one after the other.
        first = {key: n for n, (key, _, _) in reversed(list(enumerate(args)))}
        unique = [args[n] for n in sorted(first.values())]
        rows = await self._db.fetchall(
            "taking leases", _ACQUIRE_MANY, [list(column) for column in zip(*unique)]
        )
        taken = {row[0] for row in rows}
        return [key in taken and first[key] == n for n, (key, _, _) in enumerate(args)]

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s live lease by ``ttl`` seconds from now; False if it is not theirs."""
        return await self._renew((key, owner, float(ttl)))

    async def _renew_one(self, arg: tuple[str, str, float]) -> bool:
        key, owner, ttl = arg
        args = {"key": key, "owner": owner, "ttl": ttl}
        return await self._db.execute("renewing a lease", _RENEW, args) > 0

    async def _renew_many(self, args: Sequence[tuple[str, str, float]]) -> list[bool]:
        # A lease asked for twice goes once (an UPDATE ... FROM would take one of its rows
        # anyway), and both asks get its answer, as one after the other would: a renewal does
        # not change who holds it. Asks of one key by other owners match no row.
        unique = {(key, owner): ttl for key, owner, ttl in args}
        rows = await self._db.fetchall(
            "renewing leases", _RENEW_MANY,
            [[key for key, _ in unique], [owner for _, owner in unique], list(unique.values())],
        )
        renewed = {(key, owner) for key, owner in rows}
        return [(key, owner) in renewed for key, owner, _ in args]

    async def release(self, key: str, owner: str) -> None:
        """Give the lease back; a no-op unless ``owner`` holds it."""
        await self._release((key, owner))

    async def _release_one(self, arg: tuple[str, str]) -> None:
        key, owner = arg
        await self._db.execute("releasing a lease", _RELEASE, {"key": key, "owner": owner})

    async def _release_many(self, args: Sequence[tuple[str, str]]) -> list[None]:
        keys, owners = (list(column) for column in zip(*args))
        await self._db.execute("releasing leases", _RELEASE_MANY, (keys, owners))
        return [None] * len(args)
