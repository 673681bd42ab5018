"""``valkey://`` (and ``valkeys://``, ``redis://``, ``rediss://``) providers for wfe: fenced
leases, reliable de-duplicated queues with blocking reads, and lifecycle events shared by every
host through pub/sub. Install with ``pip install "wfe[valkey]"`` (redis-py's asyncio client).

Use it beside a persistence store that many hosts share::

    WorkflowHost("postgresql://db/app", lock="valkey://cache:6379/0?prefix=app",
                 queue="valkey://cache:6379/0?prefix=app",
                 lifecycle="valkey://cache:6379/0?prefix=app")
"""

from ._lifecycle import ValkeyLifecycleChannel
from ._lock import ValkeyLock
from ._plugin import ValkeyBackend
from ._queue import ValkeyQueue
from ._url import ValkeyOptions, parse_url

__all__ = [
    "ValkeyBackend",
    "ValkeyLifecycleChannel",
    "ValkeyLock",
    "ValkeyOptions",
    "ValkeyQueue",
    "parse_url",
]
