"""Declares the ``memory://`` providers (entry point ``wfe.memory``)."""

from __future__ import annotations

from typing import Any

from .hookspecs import ProviderSpec, hookimpl


def _shared(kind: str):  # one object per host, so lock and queue are shared by its parts
    def factory(url: str, shared: dict[str, Any]) -> Any:
        from . import _memory

        key = f"memory:{kind}:{url}"
        if key not in shared:
            shared[key] = getattr(_memory, kind)()
            # One host's memory store keeps its memory index in step with every write.
            store = shared.get(f"memory:MemoryPersistence:{url}")
            index = shared.get(f"memory:MemorySearchIndex:{url}")
            if store is not None and index is not None:
                store.keep_search_index(index)
        return shared[key]

    return factory


@hookimpl
def wfe_providers() -> list[ProviderSpec]:
    return [
        ProviderSpec(
            scheme="memory",
            factories={
                "persistence": _shared("MemoryPersistence"),
                "lock": _shared("MemoryLock"),
                "queue": _shared("MemoryQueue"),
                "search": _shared("MemorySearchIndex"),
            },
            description="in-process, not durable; for tests and throwaway work",
        )
    ]
