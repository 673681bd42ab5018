"""``ValkeyHeartbeats``: the heartbeats of the hosts sharing a ``valkey://`` store, in one hash.

Implements :class:`wfe_core.providers.HeartbeatStore` where Valkey is the lock (the host takes
heartbeats from its lock's store when that store offers them). The hash ``prefix:hosts`` maps
each host id to its record as JSON (:func:`wfe_core.serialization.dump_host`); the host's
heartbeat task sweeps records of hosts silent for a day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfe_core.models import HostRecord
from wfe_core.serialization import dump_host, load_host

if TYPE_CHECKING:
    from ._client import ValkeyClient

__all__ = ["ValkeyHeartbeats"]


class ValkeyHeartbeats:
    """The ``HeartbeatStore`` of a ``valkey://`` store."""

    def __init__(self, client: ValkeyClient) -> None:
        self.client = client
        self._hash = client.key("hosts")

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def record_heartbeat(self, record: HostRecord) -> None:
        redis = self.client.redis
        await self.client.run("recording a heartbeat", redis.hset, self._hash, record.id, dump_host(record))

    async def remove_host(self, host_id: str) -> None:
        redis = self.client.redis
        await self.client.run("removing a host's heartbeat", redis.hdel, self._hash, host_id)

    async def list_hosts(self) -> list[HostRecord]:
        redis = self.client.redis
        stored = await self.client.run("listing hosts", redis.hgetall, self._hash)
        # The client decodes replies, so fields and values are str.
        return [load_host(stored[host_id]) for host_id in sorted(stored, key=str)]
