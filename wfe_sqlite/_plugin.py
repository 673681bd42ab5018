"""Declares the ``sqlite://`` providers (entry point ``wfe.sqlite``); the plugin host loads it.

Imports nothing from the providers at import time: each factory imports its module when the
host first asks for it. The four factories of one host and one database share one
:class:`~wfe_sqlite.SqliteDatabase` (one connection, one worker thread) through the host's
shared dict, and one provider object per capability.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from wfe_core.errors import ConfigurationError
from wfe_core.hookspecs import ProviderSpec, hookimpl

if TYPE_CHECKING:
    from ._database import SqliteDatabase

__all__ = ["wfe_providers"]


def _database_for(url: str, shared: dict[str, Any]) -> SqliteDatabase:
    """The host's database for ``url``, made on first use.

    Keyed by the resolved file path, so that ``sqlite:///wfe.db`` and ``sqlite:///./wfe.db``
    share one connection (two connections of one host would only contend for the write lock).

    Raises:
        ConfigurationError: a bad URL, or two URLs for one file with different options.
    """
    from ._database import SqliteDatabase
    from ._url import parse_url

    options = parse_url(url)
    key = f"sqlite:database:{_location(options.path)}"
    database = shared.get(key)
    if database is None:
        database = shared[key] = SqliteDatabase(
            options.path,
            synchronous=options.synchronous,
            busy_timeout=options.busy_timeout,
            mode=options.mode,
        )
    theirs = database.options
    if (theirs.synchronous, theirs.busy_timeout, theirs.mode) != (
        options.synchronous,
        options.busy_timeout,
        options.mode,
    ):
        raise ConfigurationError(
            f"{url!r} opens the SQLite database {options.path!r} with other options than "
            f"another URL of this host (synchronous={theirs.synchronous}, busy_timeout="
            f"{theirs.busy_timeout:g} s, mode={theirs.mode}); give every URL for one file the "
            "same options"
        )
    return database


def _location(path: str) -> str:
    from ._url import MEMORY

    return MEMORY if path == MEMORY else os.path.realpath(path)


def _provider(capability: str, cls: type[Any], url: str, shared: dict[str, Any]) -> Any:
    """The host's ``cls`` provider on ``url``'s database: one per capability and file."""
    database = _database_for(url, shared)
    key = f"sqlite:{capability}:{_location(database.path)}"
    if key not in shared:
        shared[key] = cls(database)
    return shared[key]


def _persistence(url: str, shared: dict[str, Any]) -> Any:
    from ._persistence import SqlitePersistence

    return _provider("persistence", SqlitePersistence, url, shared)


def _lock(url: str, shared: dict[str, Any]) -> Any:
    from ._lock import SqliteLock

    return _provider("lock", SqliteLock, url, shared)


def _queue(url: str, shared: dict[str, Any]) -> Any:
    from ._queue import SqliteQueue

    return _provider("queue", SqliteQueue, url, shared)


def _search(url: str, shared: dict[str, Any]) -> Any:
    from ._search import SqliteSearchIndex

    return _provider("search", SqliteSearchIndex, url, shared)


@hookimpl
def wfe_providers() -> list[ProviderSpec]:
    """The ``sqlite://`` scheme: persistence, lock, queue and search in one file."""
    return [
        ProviderSpec(
            scheme="sqlite",
            factories={
                "persistence": _persistence,
                "lock": _lock,
                "queue": _queue,
                "search": _search,
            },
            description="embedded, durable; the default",
        )
    ]
