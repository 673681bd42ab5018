"""Declares the ``valkey://`` providers (entry points ``wfe.valkey``, ``wfe.valkeys``,
``wfe.redis``, ``wfe.rediss``); the plugin host loads them.

Imports no driver: redis-py is imported when a backend connects (the plugin host checks it is
installed first, and names ``pip install "wfe[valkey]"`` when it is not). A host's URLs for one
server, database and prefix share one :class:`ValkeyBackend`: one client for its lock, queue
and lifecycle events.

wfe's suites run a host with this lock and queue beside every persistence scheme whose
store processes share (``sqlite+valkey``, ``postgresql+valkey``): the test store below is all
they need (see :mod:`wfe_core.testing`).
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

from wfe_core.backends import Capability, ProviderBackend
from wfe_core.errors import ConfigurationError
from wfe_core.hookspecs import ProviderSpec, TestStore, hookimpl

from ._url import parse_url, store_key


def _test_store(directory: Path, scheme: str = "valkey") -> contextlib.AbstractContextManager[str]:
    from ._testing import test_store

    return test_store(directory, scheme)

__all__ = ["ValkeyBackend", "redis", "rediss", "valkey", "valkeys"]

_VALKEY_CAPABILITIES = frozenset(
    {Capability.LOCK, Capability.QUEUE, Capability.LIFECYCLE_EVENTS, Capability.HEARTBEATS}
)


class ValkeyBackend(ProviderBackend):
    """One Valkey server, database and prefix of a host: its client and the providers on it.

    Raises:
        ConfigurationError: a malformed URL.
    """

    def __init__(self, url: str) -> None:
        from ._client import ValkeyClient

        super().__init__(url)
        self.options = parse_url(url)
        self.client = ValkeyClient(self.options)

    def make(self, capability: Capability) -> object | None:
        if capability is Capability.LOCK:
            from ._lock import ValkeyLock

            return ValkeyLock(self.client)
        if capability is Capability.QUEUE:
            from ._queue import ValkeyQueue

            return ValkeyQueue(self.client)
        if capability is Capability.LIFECYCLE_EVENTS:
            from ._lifecycle import ValkeyLifecycleChannel

            return ValkeyLifecycleChannel(self.client)
        if capability is Capability.HEARTBEATS:
            from ._heartbeats import ValkeyHeartbeats

            return ValkeyHeartbeats(self.client)
        return None

    async def connect(self) -> None:
        await self.client.connect()

    async def disconnect(self) -> None:
        await self.client.close()

    def reuse_for(self, url: str) -> None:
        if parse_url(url) != self.options:
            raise ConfigurationError(
                f"two URLs of this host name the Valkey store {self.options.display} with "
                "different options; give every URL for one store the same options"
            )


def _spec(scheme: str) -> ProviderSpec:
    return ProviderSpec(
        scheme=scheme,
        capabilities=_VALKEY_CAPABILITIES,
        backend=ValkeyBackend,
        store_key=store_key,
        test_store=TestStore(
            functools.partial(_test_store, scheme=scheme),
            shared_across_processes=True,
            # Over TLS, the suites beside PostgreSQL: beside SQLite they prove nothing the plain
            # spelling does not.
            compose_with=("postgresql",) if scheme in ("valkeys", "rediss") else None,
        ),
        extra="valkey",
        driver="redis",
        description="Valkey / Redis: leases, reliable queues and lifecycle events for many hosts"
        + (" (TLS)" if scheme in ("valkeys", "rediss") else ""),
        # redis:// and rediss:// are other spellings of the same provider and test store.
        tested_as={"redis": "valkey", "rediss": "valkeys"}.get(scheme),
    )


def _plugin(scheme: str) -> object:
    class _Plugin:
        @hookimpl
        def wfe_providers(self) -> list[ProviderSpec]:
            return [_spec(scheme)]

    _Plugin.__name__ = _Plugin.__qualname__ = f"{scheme.capitalize()}Plugin"
    return _Plugin()


#: The plugin objects of the ``valkey``, ``valkeys``, ``redis`` and ``rediss`` entry points:
#: one each, so that blocking one leaves the others.
valkey = _plugin("valkey")
valkeys = _plugin("valkeys")
redis = _plugin("redis")
rediss = _plugin("rediss")
