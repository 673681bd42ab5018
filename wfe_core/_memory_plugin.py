"""Declares the ``memory://`` providers (entry point ``wfe.memory``).

Each host's ``memory://`` is one in-process store (:class:`MemoryBackend`): its persistence,
lock, queue and search index are made for that host and vanish with it. When the host takes
both persistence and search from it, the store keeps its index current in every write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from .backends import Capability, ProviderBackend
from .hookspecs import ProviderSpec, TestStore, hookimpl

__all__ = ["MemoryBackend", "wfe_providers"]


class MemoryBackend(ProviderBackend):
    """One host's in-process store."""

    def make(self, capability: Capability) -> object | None:
        from . import _memory

        if capability is Capability.PERSISTENCE:
            store = _memory.MemoryPersistence()
            made_index = self._made.get(Capability.SEARCH)
            if isinstance(made_index, _memory.MemorySearchIndex):
                store.keep_search_index(made_index)
            return store
        if capability is Capability.SEARCH:
            index = _memory.MemorySearchIndex()
            made_store = self._made.get(Capability.PERSISTENCE)
            if isinstance(made_store, _memory.MemoryPersistence):
                made_store.keep_search_index(index)
            return index
        if capability is Capability.LOCK:
            return _memory.MemoryLock()
        if capability is Capability.QUEUE:
            return _memory.MemoryQueue()
        if capability is Capability.HEARTBEATS:
            return _memory.MemoryHeartbeats()
        return None


@contextlib.contextmanager
def _test_store(directory: Path) -> Iterator[str]:
    # Every host makes its own memory store, so the same URL is always a fresh, empty one.
    yield "memory://"


@hookimpl
def wfe_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            scheme="memory",
            capabilities={
                Capability.PERSISTENCE,
                Capability.LOCK,
                Capability.QUEUE,
                Capability.SEARCH,
                Capability.HEARTBEATS,
            },
            backend=MemoryBackend,
            test_store=TestStore(_test_store),
            description="in-process, not durable; for tests and throwaway work",
        )
    ]
