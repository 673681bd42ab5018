"""Binding the contract suites to installed schemes: which schemes, and their providers opened.

``tests/contracts/conftest.py`` parametrizes the suites' fixtures over every scheme the installed
:class:`~wfe_core._plugins.PluginHost` declares for the capability (:func:`schemes_offering`),
makes an empty store of it with the test store its provider package declares
(:func:`~wfe_core.testing._pytest_plugin.store_or_skip`) and opens the provider on it with
:func:`open_provider`. Third-party provider authors may use the same helpers in their own
fixtures, or build their provider directly.

Each provider package owns its recipe (``ProviderSpec.test_store``); none lives here. A scheme
whose service is not configured, or that declares no test store, is skipped, except under
``WFE_REQUIRE_SERVICES=1`` (set by CI), where it fails.

This module imports pytest; it is meant to be used from tests only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ..._plugins import PluginHost
from ...backends import Capability
from .._pytest_plugin import store_or_skip
from .._stores import REQUIRE_SERVICES_VARIABLE, StoreUnavailableError, store_schemes

__all__ = [
    "REQUIRE_SERVICES_VARIABLE",
    "StoreUnavailableError",
    "open_provider",
    "schemes_offering",
    "store_or_skip",
]


def schemes_offering(capability: Capability | str, plugin_host: PluginHost | None = None) -> list[str]:
    """The installed schemes whose provider offers ``capability``, sorted.

    Args:
        capability: a :class:`~wfe_core.backends.Capability` or its value (``"search"``).
        plugin_host: where to look; a host loading the ``wfe`` entry points by default.
    """
    return store_schemes(capability, plugin_host=plugin_host)


@contextlib.asynccontextmanager
async def open_provider(
    capability: Capability | str, url: str, plugin_host: PluginHost | None = None
) -> AsyncIterator[Any]:
    """Open the store at ``url`` and yield its ``capability`` provider, started; close it on exit.

    The store's backend is opened and closed as a host would, with only this provider made.

    Args:
        capability: a :class:`~wfe_core.backends.Capability` or its value.
        url: the store's URL, usually from a test store.
        plugin_host: where to find the scheme; a host loading the ``wfe`` entry points by default.
    """
    host = plugin_host if plugin_host is not None else PluginHost()
    wanted = host.check_offers(url, capability)
    backend = host.backend(url)
    provider = backend.provider(wanted)
    await backend.start()
    try:
        yield provider
    finally:
        await backend.close()
