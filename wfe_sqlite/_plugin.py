"""Declares the ``sqlite://`` providers (entry point ``wfe.sqlite``); the plugin host loads it.

Imports nothing from the providers at import time: the backend imports each module when the
host first asks for its capability. A host's URLs for one file share one :class:`SqliteBackend`
(one :class:`~wfe_sqlite.SqliteDatabase`: one connection, one worker thread), which the host
opens once and closes once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from wfe_core.backends import Capability, ProviderBackend
from wfe_core.errors import ConfigurationError
from wfe_core.hookspecs import ProviderSpec, TestStore, hookimpl

if TYPE_CHECKING:
    from ._database import SqliteDatabase

__all__ = ["SqliteBackend", "wfe_providers"]


def store_key(url: str) -> str:
    """The resolved file path of a ``sqlite://`` URL (``:memory:`` as is).

    So ``sqlite:///wfe.db`` and ``sqlite:///./wfe.db`` share one connection in a host (two
    connections of one host would only contend for the write lock).

    Raises:
        ConfigurationError: a malformed URL.
    """
    from ._url import MEMORY, parse_url

    path = parse_url(url).path
    return MEMORY if path == MEMORY else os.path.realpath(path)


def existing_url(url: str, read_only: bool) -> str:
    """``url`` with SQLite's ``mode=ro`` (``read_only``) or ``mode=rw``: the file must exist.

    A URL that names its own ``mode``, or ``:memory:`` (always new), is left as it is.

    Raises:
        ConfigurationError: a malformed URL.
    """
    from ._url import MEMORY, parse_url

    if parse_url(url).path == MEMORY:
        return url
    query = urlsplit(url).query
    if any(name == "mode" for name, _ in parse_qsl(query, keep_blank_values=True)):
        return url
    return f"{url}{'&' if query else '?'}mode={'ro' if read_only else 'rw'}"


class SqliteBackend(ProviderBackend):
    """One SQLite file (or ``:memory:``) of a host: its database and the providers on it.

    Raises:
        ConfigurationError: a malformed URL or a missing directory.
    """

    def __init__(self, url: str) -> None:
        from ._database import SqliteDatabase

        super().__init__(url)
        self.database: SqliteDatabase = SqliteDatabase.from_url(url)

    def make(self, capability: Capability) -> object | None:
        if capability is Capability.PERSISTENCE:
            from ._persistence import SqlitePersistence

            return SqlitePersistence(self.database)
        if capability is Capability.LOCK:
            from ._lock import SqliteLock

            return SqliteLock(self.database)
        if capability is Capability.QUEUE:
            from ._queue import SqliteQueue

            return SqliteQueue(self.database)
        if capability is Capability.SEARCH:
            # Attaches itself to the database: the persistence on it then writes the index
            # in each workflow's transaction instead of the outbox.
            from ._search import SqliteSearchIndex

            return SqliteSearchIndex(self.database)
        if capability is Capability.HEARTBEATS:
            from ._heartbeats import SqliteHeartbeats

            return SqliteHeartbeats(self.database)
        return None

    async def connect(self) -> None:
        await self.database.open()

    async def disconnect(self) -> None:
        await self.database.close()

    def reuse_for(self, url: str) -> None:
        """Refuse a URL for this file with other options than the backend's.

        Raises:
            ConfigurationError: the options differ.
        """
        from ._url import parse_url

        ours, theirs = self.database.options, parse_url(url)
        if (ours.synchronous, ours.busy_timeout, ours.mode) != (
            theirs.synchronous,
            theirs.busy_timeout,
            theirs.mode,
        ):
            raise ConfigurationError(
                f"{url!r} opens the SQLite database {theirs.path!r} with other options than "
                f"another URL of this host (synchronous={ours.synchronous}, busy_timeout="
                f"{ours.busy_timeout:g} s, mode={ours.mode}); give every URL for one file the "
                "same options"
            )


@contextlib.contextmanager
def _test_store(directory: Path) -> Iterator[str]:
    # A new file in the test's own directory; pytest removes the directory. Commits do not wait
    # for the disk (WAL with synchronous=NORMAL keeps every commit through a process crash,
    # which the kill -9 tests need, and loses only at a power cut, which no test makes).
    yield f"sqlite:///{directory / 'wfe.db'}?synchronous=NORMAL"


@hookimpl
def wfe_providers() -> list[ProviderSpec]:
    """The ``sqlite://`` scheme: persistence, lock, queue and search in one file."""
    return [
        ProviderSpec(
            scheme="sqlite",
            capabilities={
                Capability.PERSISTENCE,
                Capability.LOCK,
                Capability.QUEUE,
                Capability.SEARCH,
                Capability.HEARTBEATS,
            },
            backend=SqliteBackend,
            store_key=store_key,
            test_store=TestStore(_test_store, shared_across_processes=True),
            description="embedded, durable; the default",
            existing_url=existing_url,
        )
    ]
