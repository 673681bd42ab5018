"""What a provider offers (:class:`Capability`) and the one object per store that offers it.

A provider package declares its URL scheme with a :class:`~wfe_core.hookspecs.ProviderSpec`.
For each store a host uses (one per distinct store, however many capabilities it takes from it)
the spec makes one :class:`ProviderBackend`: the holder of what the capabilities share, a
SQLite connection, a PostgreSQL pool, a Valkey client. The host asks the backend for the
capabilities it needs, then calls :meth:`ProviderBackend.start` once before use and
:meth:`ProviderBackend.close` once at the end. So ``sqlite:///a.db`` given for persistence and
search is one backend with one connection, and no provider counts its users.

The host calls these; ``wfe_core._plugins.ProviderBackends`` keeps a host's backends.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, cast

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .providers import (
        HeartbeatStore,
        LockProvider,
        PersistenceProvider,
        QueueProvider,
        SearchIndex,
    )

__all__ = ["Capability", "ProviderBackend"]

log = logging.getLogger("wfe.providers")

#: Seconds a provider's ``close`` (or a backend's disconnect) may take before it is given up
#: on, logged with where it was stuck, and the rest closed.
CLOSE_LIMIT = 15.0


class Capability(enum.Enum):
    """What a provider scheme can offer; each value names its :class:`ProviderBackend` attribute."""

    PERSISTENCE = "persistence"
    """Durable workflows, events and errors (:class:`~wfe_core.providers.PersistenceProvider`)."""
    LOCK = "lock"
    """Leases on workflows (:class:`~wfe_core.providers.LockProvider`)."""
    QUEUE = "queue"
    """Work queues of ids (:class:`~wfe_core.providers.QueueProvider`)."""
    SEARCH = "search"
    """Full-text search over workflows (:class:`~wfe_core.providers.SearchIndex`)."""
    HEARTBEATS = "heartbeats"
    """Heartbeats of running hosts (:class:`~wfe_core.providers.HeartbeatStore`)."""
    LIFECYCLE_EVENTS = "lifecycle_events"
    """Lifecycle events published to every host of a cluster (Valkey, PostgreSQL NOTIFY).

    Declared so that a scheme can offer it; the host does not ask for it yet.
    """


class ProviderBackend:
    """One store behind one URL, and the providers a host takes from it.

    Subclass it in a provider package: implement :meth:`make`, and :meth:`connect` /
    :meth:`disconnect` when the capabilities share a connection, pool or client. The typed
    attributes (:attr:`persistence`, :attr:`lock`, :attr:`queue`, :attr:`search`) make their
    provider on first access, once; a host reads them before :meth:`start`, and only those it
    uses are made (a SQLite search index, once made, takes over the store's search writes, so
    it must not exist where the host searches elsewhere).

    Args:
        url: the URL the host opened the store with.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._made: dict[Capability, object] = {}
        self._started = False

    # -- for subclasses -------------------------------------------------------------------------

    def make(self, capability: Capability) -> object | None:
        """Build the provider of ``capability`` on this store (called once per capability).

        Returns ``None`` for a capability the scheme does not offer. Import drivers here, or
        in :meth:`connect`, not at module level.
        """
        return None

    async def connect(self) -> None:
        """Open what the providers share (a connection, pool or client); before their ``start()``.

        Raises:
            ProviderError: the store cannot be reached or prepared.
        """

    async def disconnect(self) -> None:
        """Release what :meth:`connect` opened; after the providers' ``close()``. Idempotent."""

    def reuse_for(self, url: str) -> None:
        """Accept another URL of the same host that names this store (an equal store key).

        By default any such URL is accepted. Override to refuse one that asks for other
        options than :attr:`url` (raise :class:`~wfe_core.errors.ConfigurationError`).
        """

    # -- for the host -----------------------------------------------------------------------------

    @property
    def persistence(self) -> PersistenceProvider | None:
        """This store's persistence provider, or ``None`` if the scheme offers none."""
        return cast("PersistenceProvider | None", self.provider(Capability.PERSISTENCE))

    @property
    def lock(self) -> LockProvider | None:
        """This store's lock provider, or ``None``."""
        return cast("LockProvider | None", self.provider(Capability.LOCK))

    @property
    def queue(self) -> QueueProvider | None:
        """This store's queue provider, or ``None``."""
        return cast("QueueProvider | None", self.provider(Capability.QUEUE))

    @property
    def search(self) -> SearchIndex | None:
        """This store's search index, or ``None``."""
        return cast("SearchIndex | None", self.provider(Capability.SEARCH))

    @property
    def heartbeats(self) -> HeartbeatStore | None:
        """This store's heartbeat store, or ``None``."""
        return cast("HeartbeatStore | None", self.provider(Capability.HEARTBEATS))

    def provider(self, capability: Capability) -> object | None:
        """The provider of ``capability``, made on first use; ``None`` if not offered.

        Raises:
            ConfigurationError: asked for a provider not made before :meth:`start`.
        """
        if capability in self._made:
            return self._made[capability]
        if self._started:
            raise ConfigurationError(
                f"the {capability.value} provider of {self.url!r} was asked for after the store "
                "was opened; take every provider from a backend before start()"
            )
        made = self.make(capability)
        if made is not None:
            self._made[capability] = made
        return made

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran and :meth:`close` has not."""
        return self._started

    async def start(self) -> None:
        """Connect, then start every provider made so far, in the order they were made.

        Idempotent. If anything fails, what was opened is closed again and the error raised.
        """
        if self._started:
            return
        try:
            await self.connect()
        except BaseException:
            # A half-made connection (a pool, a worker thread) must not outlive the failure.
            try:
                await self.disconnect()
            except Exception:
                log.exception("disconnecting from %s after a failed connect failed", self.url)
            raise
        started: list[object] = []
        try:
            for provider in self._made.values():
                await provider.start()  # type: ignore[attr-defined]
                started.append(provider)
        except BaseException:
            await self._close(started)
            raise
        self._started = True

    async def close(self) -> None:
        """Close the providers (newest first), then disconnect. Idempotent.

        A provider that fails to close is logged and the rest still close; the first such
        error is raised at the end.
        """
        self._started = False
        await self._close(list(self._made.values()))

    async def _close(self, providers: list[object]) -> None:
        import asyncio  # here, not at the top: plugin modules import this one, often to list only

        first: BaseException | None = None
        for provider in reversed(providers):
            try:
                # Bounded: a close stuck in a driver must not hold the host's stop for good.
                async with asyncio.timeout(CLOSE_LIMIT):
                    await provider.close()  # type: ignore[attr-defined]
            except Exception as exc:  # closing the rest matters more
                log.exception("closing %r of %s failed", provider, self.url)
                first = first or exc
        try:
            async with asyncio.timeout(CLOSE_LIMIT):
                await self.disconnect()
        except Exception as exc:
            log.exception("disconnecting from %s failed", self.url)
            first = first or exc
        if first is not None:
            raise first

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
