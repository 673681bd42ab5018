"""Declares the ``postgresql://`` and ``postgres://`` providers (entry points ``wfe.postgresql``
and ``wfe.postgres``); the plugin host loads it.

Imports no driver: psycopg is imported when a backend is made (the plugin host checks it is
installed first, and names ``pip install "wfe[postgres]"`` when it is not). A host's URLs for
one database and schema share one :class:`PostgresBackend` (one pool, one listener).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterator
from pathlib import Path

from wfe_core.backends import Capability, ProviderBackend
from wfe_core.hookspecs import ProviderSpec, TestStore, hookimpl

from ._url import parse_url, store_key

__all__ = ["PostgresBackend", "alias", "wfe_providers"]

#: The environment variable naming the test server (``scripts/services.sh`` exports it).
TEST_URL_VARIABLE = "WFE_TEST_POSTGRES_URL"


class PostgresBackend(ProviderBackend):
    """One PostgreSQL database and schema of a host: its pool and the providers on it.

    Raises:
        ConfigurationError: a malformed URL.
    """

    def __init__(self, url: str) -> None:
        from ._database import PostgresDatabase

        super().__init__(url)
        self.database = PostgresDatabase(parse_url(url))

    def make(self, capability: Capability) -> object | None:
        if capability is Capability.PERSISTENCE:
            from ._persistence import PostgresPersistence

            return PostgresPersistence(self.database)
        if capability is Capability.LOCK:
            from ._lock import PostgresLock

            return PostgresLock(self.database)
        if capability is Capability.QUEUE:
            from ._queue import PostgresQueue

            return PostgresQueue(self.database)
        if capability is Capability.SEARCH:
            # Attaches itself to the database: the persistence on it then writes the index
            # in each workflow's statement instead of the outbox.
            from ._search import PostgresSearchIndex

            return PostgresSearchIndex(self.database)
        if capability is Capability.HEARTBEATS:
            from ._heartbeats import PostgresHeartbeats

            return PostgresHeartbeats(self.database)
        return None

    async def connect(self) -> None:
        await self.database.open()

    async def disconnect(self) -> None:
        await self.database.close()


@contextlib.contextmanager
def _test_store(directory: Path, scheme: str = "postgresql") -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards; the URL spelled with ``scheme``."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    from wfe_core.testing import service_url

    base = service_url(TEST_URL_VARIABLE, "postgresql")
    schema = f"wfe_test_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(base)
    # Commits of a test store do not wait for the disk: its tests are about the engine, and a
    # server crash is not among them (the restart tests make clusters of their own). Four
    # connections a host: the suite runs many hosts at once against one server, whose
    # default limit is 100 connections.
    wfe = urlencode({"schema": schema, "options": "-c synchronous_commit=off", "pool_size": 4})
    query = "&".join(p for p in (parts.query, wfe) if p)
    yield urlunsplit((scheme, parts.netloc, parts.path, query, ""))
    import psycopg

    with psycopg.connect(parse_url(base).conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def existing_url(url: str, read_only: bool) -> str:
    """``url`` with ``existing=1``: opening it never creates the schema (a mistyped ``?schema=``
    is an error, not a new, empty store). A URL that names ``existing`` itself is left as it is.
    """
    from urllib.parse import parse_qsl, urlsplit

    query = urlsplit(url).query
    if any(name == "existing" for name, _ in parse_qsl(query, keep_blank_values=True)):
        return url
    return f"{url}{'&' if query else '?'}existing=1"


def _spec(scheme: str, tested_as: str | None = None) -> ProviderSpec:
    return ProviderSpec(
        scheme=scheme,
        capabilities={
            Capability.PERSISTENCE,
            Capability.LOCK,
            Capability.QUEUE,
            Capability.SEARCH,
            Capability.HEARTBEATS,
        },
        backend=PostgresBackend,
        store_key=store_key,
        test_store=TestStore(
            functools.partial(_test_store, scheme=scheme), shared_across_processes=True
        ),
        extra="postgres",
        driver="psycopg",
        description="PostgreSQL: many hosts on one database (persistence, lock, queue, search)",
        existing_url=existing_url,
        tested_as=tested_as,
    )


@hookimpl
def wfe_providers() -> list[ProviderSpec]:
    """The ``postgresql://`` scheme."""
    return [_spec("postgresql")]


class _Alias:
    """The ``postgres://`` spelling, a plugin of its own (entry point ``wfe.postgres``), so that
    each entry point registers one plugin object and blocking one leaves the other."""

    @hookimpl
    def wfe_providers(self) -> list[ProviderSpec]:
        """The ``postgres://`` scheme: the same provider."""
        return [_spec("postgres", tested_as="postgresql")]


#: The plugin object of the ``postgres`` entry point.
alias = _Alias()
