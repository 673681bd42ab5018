"""``ValkeyLock``: leases on workflows and events, one Valkey key each.

A lease is ``SET prefix:lock:<key> <owner> NX PX <ttl>``: taken only if nobody holds it, gone
by itself when its ttl runs out. The owner string is the holder's token. Renewal is
compare-and-extend and release compare-and-delete, each one Lua script, so only the holder
extends or deletes its lease, and a holder whose lease expired and was taken by another
cannot touch the new one.

The host renews every lease it holds each third of its length (``wfe_core._leases``) and a
pass whose renewal was refused stops before it writes. So a step that runs longer than the
lease keeps its workflow, unlike our sibling WFE's fixed 30 s lock, and a host that stalled
past its lease writes nothing: the instance's revision (optimistic concurrency in the
persistence store) is the fence that makes a late write fail even then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import ValkeyClient

__all__ = ["ValkeyLock"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class ValkeyLock:
    """The ``LockProvider`` of a ``valkey://`` store."""

    def __init__(self, client: ValkeyClient) -> None:
        self.client = client
        self._renew: Any = None  # redis-py AsyncScript objects, made at start
        self._release: Any = None

    async def start(self) -> None:
        redis = self.client.redis
        # Scripts are sent by hash and loaded again by redis-py after a server restart.
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def close(self) -> None:
        pass

    def _key(self, key: str) -> str:
        return self.client.key("lock", key)

    async def acquire(self, key: str, owner: str, ttl: float) -> bool:
        redis = self.client.redis
        taken = await self.client.run(
            f"taking the lease on {key!r}", redis.set, self._key(key), owner, nx=True, px=_ms(ttl)
        )
        return bool(taken)

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        assert self._renew is not None, "start() first"
        renewed = await self.client.run(
            f"renewing the lease on {key!r}", self._renew, keys=[self._key(key)], args=[owner, _ms(ttl)]
        )
        return bool(renewed)

    async def release(self, key: str, owner: str) -> None:
        assert self._release is not None, "start() first"
        await self.client.run(
            f"releasing the lease on {key!r}", self._release, keys=[self._key(key)], args=[owner]
        )
