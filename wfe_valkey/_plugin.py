"""Declares the ``valkey://`` providers (entry points ``wfe.valkey``, ``wfe.valkeys``,
``wfe.redis``, ``wfe.rediss``) and the test combinations ``sqlite+valkey://`` and
``postgresql+valkey://`` (entry point ``wfe.valkey-combined``); the plugin host loads them.

Imports no driver: redis-py is imported when a backend connects (the plugin host checks it is
installed first, and names ``pip install "wfe[valkey]"`` when it is not). A host's URLs for one
server, database and prefix share one :class:`ValkeyBackend`: one client for its lock, queue
and lifecycle events.

**Why the combinations.** wfe's suites (scenarios, bad input, crash tests) run once per
installed scheme that offers persistence, each on one URL from the scheme's test store. A
Valkey store offers no persistence, so the suites would never run a host whose leases and
queue are on Valkey. Rather than teach every suite a second fixture, a combination is a scheme
of its own: ``sqlite+valkey:///path/wfe.db?valkey=<valkey URL, quoted>`` is a SQLite store for
persistence and search with this Valkey store for lock, queue and lifecycle events, and its
test store makes both. So ``test_basic[sqlite+valkey]`` runs wherever Valkey is configured,
with no change to wfe_core. It works for users too, but the plain spelling is
``WorkflowHost("sqlite:///app.db", lock="valkey://...", queue="valkey://...")``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from wfe_core.backends import Capability, ProviderBackend
from wfe_core.backends import CombinedBackend as StoreAndOther
from wfe_core.errors import ConfigurationError
from wfe_core.hookspecs import ProviderSpec, TestStore, hookimpl

from ._url import parse_url, store_key


def _test_store(directory: Path, scheme: str = "valkey") -> contextlib.AbstractContextManager[str]:
    from ._testing import test_store

    return test_store(directory, scheme)

__all__ = ["CombinedBackend", "ValkeyBackend", "combined", "redis", "rediss", "valkey", "valkeys"]

_VALKEY_CAPABILITIES = frozenset({Capability.LOCK, Capability.QUEUE, Capability.LIFECYCLE_EVENTS})


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
        test_store=TestStore(functools.partial(_test_store, scheme=scheme), shared_across_processes=True),
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


# -- combinations (see the module docstring) ---------------------------------------------------


def split_combined(url: str) -> tuple[str, str]:
    """``(base URL, Valkey URL)`` of a ``<base>+valkey://...?valkey=...`` URL.

    Raises:
        ConfigurationError: no ``valkey=`` option, or a scheme that is not ``<base>+valkey``.
    """
    # By hand: urlsplit/urlunsplit would drop the empty host of sqlite:///path.
    head, _, query = url.partition("?")
    scheme, _, after = head.partition("://")
    base_scheme, _, tail = scheme.partition("+")
    params = [p for p in query.split("&") if p]
    valkey_urls = [unquote(p[len("valkey="):]) for p in params if p.startswith("valkey=")]
    if tail.lower() != "valkey" or len(valkey_urls) != 1:
        raise ConfigurationError(
            f"write a combined URL as {base_scheme or 'sqlite'}+valkey://<the rest of the "
            "persistence URL>?valkey=<a valkey:// URL, quoted>"
        )
    rest = "&".join(p for p in params if not p.startswith("valkey="))
    return f"{base_scheme}://{after}" + (f"?{rest}" if rest else ""), valkey_urls[0]


def join_combined(base_url: str, valkey_url: str) -> str:
    """The combined URL of a persistence URL and a Valkey URL (see :func:`split_combined`)."""
    scheme, _, after = base_url.partition("://")
    return f"{scheme}+valkey://{after}{'&' if '?' in after else '?'}valkey={quote(valkey_url, safe='')}"


class CombinedBackend(StoreAndOther):
    """A persistence store (SQLite, PostgreSQL) with a Valkey store for lock, queue and events."""

    def __init__(self, url: str) -> None:
        from wfe_core._plugins import PluginHost

        base_url, valkey_url = split_combined(url)
        if PluginHost().spec_for(valkey_url).backend is not ValkeyBackend:
            raise ConfigurationError(f"the valkey= option of {url!r} is not a valkey:// URL")
        super().__init__(url, PluginHost().backend(base_url), ValkeyBackend(valkey_url))
        self.valkey = self.other

    def make(self, capability: Capability) -> object | None:
        if capability in _VALKEY_CAPABILITIES:
            return self.valkey.provider(capability)
        return self.base.provider(capability)


@contextlib.contextmanager
def _combined_test_store(directory: Path, base_scheme: str) -> Iterator[str]:
    from wfe_core._plugins import PluginHost
    from wfe_core.testing._stores import StoreUnavailableError, empty_store

    if base_scheme not in PluginHost().specs():
        raise StoreUnavailableError(f"{base_scheme}+valkey:// needs the {base_scheme}:// provider installed")
    with empty_store(base_scheme, directory) as base_url, _test_store(directory) as valkey_url:
        yield join_combined(base_url, valkey_url)


def _combined_spec(base_scheme: str) -> ProviderSpec:
    return ProviderSpec(
        scheme=f"{base_scheme}+valkey",
        capabilities={Capability.PERSISTENCE, Capability.SEARCH, *_VALKEY_CAPABILITIES},
        backend=CombinedBackend,
        test_store=TestStore(
            functools.partial(_combined_test_store, base_scheme=base_scheme),
            shared_across_processes=True,
        ),
        extra="valkey",
        driver="redis",
        description=f"{base_scheme} persistence with Valkey lock, queue and lifecycle events "
        "in one URL (for the test suites)",
    )


class _Combined:
    @hookimpl
    def wfe_providers(self) -> list[ProviderSpec]:
        """``sqlite+valkey://`` and ``postgresql+valkey://``."""
        return [_combined_spec("sqlite"), _combined_spec("postgresql")]


#: The plugin object of the ``valkey-combined`` entry point.
combined = _Combined()

