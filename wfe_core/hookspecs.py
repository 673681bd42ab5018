"""The pluggy hooks wfe calls, and the declarations plugins return.

A plugin is a module or object with ``@hookimpl`` functions, found through the ``wfe`` entry-point
group (the in-repo providers use the same door). Hooks are sync and cheap: they *declare*
providers, with a lazy backend factory per URL scheme; no hook opens a connection. Only
``PluginHost`` calls them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import ClassVar

import attrs
import pluggy

from .backends import Capability, ProviderBackend

__all__ = ["ProviderSpec", "TestStore", "hookimpl", "hookspec", "wfe_providers"]

hookspec = pluggy.HookspecMarker("wfe")
hookimpl = pluggy.HookimplMarker("wfe")


@attrs.frozen
class TestStore:
    """How wfe's test suites get a fresh, empty store of one scheme.

    Attributes:
        make: ``make(directory)`` is a context manager yielding the URL of a new, empty store
            and removing it on exit. ``directory`` is private to the test (for files). A
            store that needs a service reads its address from the environment (see
            :func:`wfe_core.testing.service_url`) and raises
            :class:`~wfe_core.testing.StoreUnavailableError` when it is not configured: the
            test is then skipped, or failed under ``WFE_REQUIRE_SERVICES=1``.
        shared_across_processes: two processes opening the URL see one store, so the
            kill -9 and multi-process tests run on it (``memory://`` does not).
        compose_with: for a scheme without persistence, the persistence schemes wfe's suites
            run it beside (``None``: every installed one whose store processes share). A
            variant of another provider (Valkey over TLS) names one, so the suites do not run
            again what its plain spelling proves beside the others.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    make: Callable[[Path], contextlib.AbstractContextManager[str]]
    shared_across_processes: bool = False
    compose_with: tuple[str, ...] | None = None



def _capability_set(capabilities: Iterable[Capability]) -> frozenset[Capability]:
    return frozenset(capabilities)


@attrs.frozen
class ProviderSpec:
    """One URL scheme and what it provides.

    Attributes:
        scheme: the URL scheme, e.g. ``"sqlite"``.
        capabilities: what a store of this scheme offers.
        backend: ``backend(url)`` makes the :class:`~wfe_core.backends.ProviderBackend` of one
            store; the host makes one per store and asks it for the capabilities it uses.
            Import drivers inside it (or later), never at module level.
        store_key: ``store_key(url)`` names the store a URL opens: URLs of one host with equal
            keys share one backend (SQLite: the resolved file path). The URL itself by
            default. May raise ``ConfigurationError`` for a malformed URL.
        test_store: how the test suites make an empty store; ``None`` leaves the scheme's
            tests skipped (failed under ``WFE_REQUIRE_SERVICES=1``).
        extra: the ``pip install "wfe[extra]"`` that brings the driver, if any.
        driver: the module whose absence means the extra is missing.
        description: one line for ``wfe providers`` and error messages.
        tested_as: another scheme whose test suites cover this one (an alias such as
            ``postgres`` for ``postgresql``, or a spelling tested through the same test
            store); the suites then do not run twice.
        existing_url: ``existing_url(url, read_only)`` is ``url`` spelled so that opening it
            never creates a store (a mistyped path is an error, not a new, empty store) and,
            when ``read_only``, changes nothing in it (SQLite: ``mode=rw`` / ``mode=ro``).
            Tools that look at a store call it through
            :meth:`wfe_core.PluginHost.existing_url` (``wfe show`` reads only). ``None``:
            the URL as given (a server's database is made by its operator).
    """

    scheme: str
    capabilities: frozenset[Capability] = attrs.field(converter=_capability_set)
    backend: Callable[[str], ProviderBackend]
    store_key: Callable[[str], Hashable] | None = None
    test_store: TestStore | None = None
    extra: str | None = None
    driver: str | None = None
    description: str = ""
    tested_as: str | None = None
    existing_url: Callable[[str, bool], str] | None = None

    def key_of(self, url: str) -> Hashable:
        """The store ``url`` names (see :attr:`store_key`).

        Qualified by the backend factory, so an alias scheme with the same backend
        (``postgres://`` for ``postgresql://``) shares the store, and another plugin's keys
        never collide with it.
        """
        return (self.backend, self.store_key(url) if self.store_key is not None else url)


@hookspec
def wfe_providers() -> list[ProviderSpec]:  # type: ignore[empty-body]
    """Declare the providers this plugin offers."""
