"""Fresh, empty stores for test suites, declared by each provider package.

A provider's :class:`~wfe_core.hookspecs.ProviderSpec` carries a
:class:`~wfe_core.hookspecs.TestStore`: how to make an empty store of its scheme and remove it
afterwards. wfe's suites (contracts, scenarios, bad input, search, crash tests) run on every
installed scheme through :func:`store_schemes` and :func:`empty_store`, so a new provider is
tested by all of them the moment it declares its store. The dependency runs provider -> core:
nothing here knows any scheme.

Imports no pytest: provider packages raise :class:`StoreUnavailableError` from their test
store, and the pytest side (``wfe_core.testing._pytest_plugin``) turns it into a skip, or a
failure under ``WFE_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .._plugins import PluginHost
from ..backends import Capability

__all__ = [
    "REQUIRE_SERVICES_VARIABLE",
    "StoreUnavailableError",
    "empty_store",
    "service_url",
    "store_schemes",
]

#: Set to ``1`` to turn a missing service into a test failure instead of a skip.
REQUIRE_SERVICES_VARIABLE = "WFE_REQUIRE_SERVICES"


class StoreUnavailableError(Exception):
    """No empty store of this scheme can be made here (its service is not configured).

    Attributes:
        reason: what to do about it, in one sentence.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def service_url(variable: str, scheme: str) -> str:
    """The URL of a test service, from the environment variable ``variable``.

    For a provider's test store, e.g. ``service_url("WFE_TEST_POSTGRES_URL", "postgresql")``.

    Raises:
        StoreUnavailableError: the variable is unset or empty.
    """
    url = os.environ.get(variable)
    if not url:
        raise StoreUnavailableError(
            f"{scheme}:// needs a running service: set {variable} or run scripts/services.sh"
        )
    return url


def store_schemes(
    capability: Capability | str | Iterable[Capability | str] | None = None,
    *,
    shared_across_processes: bool = False,
    plugin_host: PluginHost | None = None,
) -> list[str]:
    """The installed schemes to run a suite on, sorted.

    Args:
        capability: only schemes offering it, or all of several (every scheme when ``None``).
        shared_across_processes: only schemes whose test store two processes share, or
            that declare no test store (they are then skipped with the reason).

    Schemes tested as another (``ProviderSpec.tested_as``: aliases) are left out.
        plugin_host: where to look; one loading the ``wfe`` entry points by default.
    """
    host = plugin_host if plugin_host is not None else PluginHost()
    if capability is None:
        wanted: set[Capability] = set()
    elif isinstance(capability, (Capability, str)):
        wanted = {Capability(capability)}
    else:
        wanted = {Capability(c) for c in capability}
    return sorted(
        scheme
        for scheme, spec in host.specs().items()
        if wanted <= spec.capabilities
        and spec.tested_as is None
        and not (
            shared_across_processes
            and spec.test_store is not None
            and not spec.test_store.shared_across_processes
        )
    )


@contextlib.contextmanager
def empty_store(
    scheme: str, directory: Path, plugin_host: PluginHost | None = None
) -> Iterator[str]:
    """The URL of a fresh, empty store of ``scheme``, removed on exit.

    Args:
        scheme: an installed provider scheme.
        directory: a directory private to the test, for file-based stores.
        plugin_host: where to find the scheme; one loading the ``wfe`` entry points by default.

    Raises:
        StoreUnavailableError: the scheme declares no test store, or its service is absent.
    """
    host = plugin_host if plugin_host is not None else PluginHost()
    spec = host.specs().get(scheme)
    if spec is None or spec.test_store is None:
        raise StoreUnavailableError(
            f"the {scheme}:// provider declares no test store, so wfe's suites cannot empty "
            "one; give its ProviderSpec a test_store (see docs/providers.md)"
        )
    with spec.test_store.make(directory) as url:
        yield url
