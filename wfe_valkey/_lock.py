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

Acquires and releases made together (a host starting or finishing many workflows at once) go
to the server as one pipeline (``wfe_core.coalesce``): one round trip, one pooled connection
and one deadline for all of them, and each caller still gets its own answer. Keys asked for
twice in one pipeline are answered in order, as one after the other: the first ask takes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from wfe_core.coalesce import Coalescer

from ._errors import translate

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
        self._acquire: Coalescer[tuple[str, str, float], bool] = Coalescer(
            self._acquire_many, self._acquire_one, name="wfe.valkey.acquire"
        )
        self._releases: Coalescer[tuple[str, str], None] = Coalescer(
            self._release_many, self._release_one, name="wfe.valkey.release"
        )
        # A host renews every lease it holds at once, each third of their length: one
        # pipeline for the renewals made together.
        self._renewals: Coalescer[tuple[str, str, float], bool] = Coalescer(
            self._renew_many, self._renew_one, name="wfe.valkey.renew"
        )

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
        return await self._acquire((key, owner, float(ttl)))

    async def _acquire_one(self, arg: tuple[str, str, float]) -> bool:
        key, owner, ttl = arg
        redis = self.client.redis
        taken = await self.client.run(
            f"taking the lease on {key!r}", redis.set, self._key(key), owner, nx=True, px=_ms(ttl)
        )
        return bool(taken)

    async def _acquire_many(self, args: Sequence[tuple[str, str, float]]) -> list[Any]:
        async def add(pipe: Any) -> None:
            for key, owner, ttl in args:
                pipe.set(self._key(key), owner, nx=True, px=_ms(ttl))

        answers = await self._pipeline(f"taking {len(args)} leases", add)
        return [a if isinstance(a, Exception) else bool(a) for a in answers]

    async def _pipeline(self, doing: str, add: Callable[[Any], Awaitable[None]]) -> list[Any]:
        """Send the commands ``add`` puts in a pipeline as one round trip: one answer each,
        a command's own error as the wfe error its caller raises."""

        async def send() -> list[Any]:
            pipe = self.client.redis.pipeline(transaction=False)
            await add(pipe)
            return list(await pipe.execute(raise_on_error=False))

        answers = await self.client.run(doing, send)
        options = self.client.options
        return [translate(a, options, doing) if isinstance(a, Exception) else a for a in answers]

    async def renew(self, key: str, owner: str, ttl: float) -> bool:
        return await self._renewals((key, owner, float(ttl)))

    async def _renew_one(self, arg: tuple[str, str, float]) -> bool:
        assert self._renew is not None, "start() first"
        key, owner, ttl = arg
        renewed = await self.client.run(
            f"renewing the lease on {key!r}", self._renew, keys=[self._key(key)], args=[owner, _ms(ttl)]
        )
        return bool(renewed)

    async def _renew_many(self, args: Sequence[tuple[str, str, float]]) -> list[Any]:
        assert self._renew is not None, "start() first"
        script = self._renew

        async def add(pipe: Any) -> None:
            for key, owner, ttl in args:
                await script(keys=[self._key(key)], args=[owner, _ms(ttl)], client=pipe)

        answers = await self._pipeline(f"renewing {len(args)} leases", add)
        return [a if isinstance(a, Exception) else bool(a) for a in answers]

    async def release(self, key: str, owner: str) -> None:
        await self._releases((key, owner))

    async def _release_one(self, arg: tuple[str, str]) -> None:
        assert self._release is not None, "start() first"
        key, owner = arg
        await self.client.run(
            f"releasing the lease on {key!r}", self._release, keys=[self._key(key)], args=[owner]
        )

    async def _release_many(self, args: Sequence[tuple[str, str]]) -> list[Any]:
        assert self._release is not None, "start() first"
        script = self._release

        async def add(pipe: Any) -> None:
            for key, owner in args:
                await script(keys=[self._key(key)], args=[owner], client=pipe)

        answers = await self._pipeline(f"releasing {len(args)} leases", add)
        return [a if isinstance(a, Exception) else None for a in answers]
