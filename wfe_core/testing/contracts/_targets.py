"""Fresh, empty provider stores for the contract suites, one recipe per URL scheme.

``tests/contracts/conftest.py`` parametrizes the suites' fixtures over every scheme the installed
:class:`~wfe_core._plugins.PluginHost` declares (:func:`schemes_offering`), asks this module for a
URL that opens an empty store of that scheme (:func:`target_url`) and opens the provider with
:func:`open_provider`. Third-party provider authors may use the same helpers in their own
fixtures, or build their provider directly.

Schemes backed by a service read its URL from an environment variable, which
``scripts/services.sh`` exports. When the variable is absent the test is skipped, except under
``WFE_REQUIRE_SERVICES=1`` (set by CI), where it fails: a broken CI configuration cannot pass
silently. A registered scheme with no recipe here is treated the same way, so a new provider is
never tested against a store it cannot empty.

This module imports pytest; it is meant to be used from tests only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ..._plugins import PluginHost

__all__ = [
    "REQUIRE_SERVICES_VARIABLE",
    "SERVICE_VARIABLES",
    "TargetUnavailableError",
    "open_provider",
    "schemes_offering",
    "store_url",
    "target_url",
]

#: Set to ``1`` to turn a missing service into a test failure instead of a skip.
REQUIRE_SERVICES_VARIABLE = "WFE_REQUIRE_SERVICES"

#: Scheme -> the environment variable that holds its test service's URL.
SERVICE_VARIABLES: dict[str, str] = {
    "postgresql": "WFE_TEST_POSTGRES_URL",
    "postgres": "WFE_TEST_POSTGRES_URL",
    "valkey": "WFE_TEST_VALKEY_URL",
    "redis": "WFE_TEST_VALKEY_URL",
    "opensearch": "WFE_TEST_OPENSEARCH_URL",
}


class TargetUnavailableError(Exception):
    """No empty store of this scheme can be made here.

    Attributes:
        reason: what to do about it, in one sentence.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _service_url(scheme: str) -> str:
    variable = SERVICE_VARIABLES[scheme]
    url = os.environ.get(variable)
    if not url:
        raise TargetUnavailableError(
            f"{scheme}:// needs a running service: set {variable} or run scripts/services.sh"
        )
    return url


def _memory(scheme: str, tmp_path: Path) -> str:
    # Each open gets a fresh ``shared`` dict, and the memory factories key their objects on it,
    # so the same URL still yields a new, empty store.
    return "memory://"


def _sqlite(scheme: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/contract.db"


def _postgresql(scheme: str, tmp_path: Path) -> str:
    # TODO(postgresql not registered yet): give every test a fresh schema (create it here and
    # point the URL at it, e.g. with options=-csearch_path=...), so the store starts empty.
    return _service_url(scheme)


def _valkey(scheme: str, tmp_path: Path) -> str:
    # TODO(valkey/redis not registered yet): give every test its own key prefix (or database
    # number) so that queues and leases start empty.
    return _service_url(scheme)


def _opensearch(scheme: str, tmp_path: Path) -> str:
    # TODO(opensearch not registered yet): give every test its own index name.
    return _service_url(scheme)


#: Scheme -> ``recipe(scheme, tmp_path)`` returning the URL of an empty store.
_RECIPES: dict[str, Callable[[str, Path], str]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "postgres": _postgresql,
    "valkey": _valkey,
    "redis": _valkey,
    "opensearch": _opensearch,
}


def schemes_offering(capability: str, plugin_host: PluginHost | None = None) -> list[str]:
    """The installed schemes whose provider offers ``capability``, sorted.

    Args:
        capability: one of ``"persistence"``, ``"lock"``, ``"queue"``, ``"search"``.
        plugin_host: where to look; a host loading the ``wfe`` entry points by default.
    """
    host = plugin_host if plugin_host is not None else PluginHost()
    return sorted(s for s, spec in host.specs().items() if capability in spec.factories)


def store_url(scheme: str, tmp_path: Path) -> str:
    """The URL of a fresh, empty store of ``scheme``.

    Args:
        scheme: a provider URL scheme, e.g. ``"sqlite"``.
        tmp_path: a directory private to the test, for file-based stores.

    Raises:
        TargetUnavailableError: the scheme has no recipe, or its service is not configured.
    """
    recipe = _RECIPES.get(scheme)
    if recipe is None:
        raise TargetUnavailableError(
            f"no recipe makes an empty {scheme}:// store for the contract suites; "
            "add one to wfe_core/testing/contracts/_targets.py"
        )
    return recipe(scheme, tmp_path)


def target_url(scheme: str, tmp_path: Path) -> str:
    """Like :func:`store_url`, but skips the test (or fails it under ``WFE_REQUIRE_SERVICES=1``).

    Args:
        scheme: a provider URL scheme.
        tmp_path: pytest's ``tmp_path`` for the test.
    """
    try:
        return store_url(scheme, tmp_path)
    except TargetUnavailableError as exc:
        if os.environ.get(REQUIRE_SERVICES_VARIABLE) == "1":
            pytest.fail(f"{exc.reason} ({REQUIRE_SERVICES_VARIABLE}=1)", pytrace=False)
        pytest.skip(exc.reason)


@contextlib.asynccontextmanager
async def open_provider(
    capability: str, url: str, plugin_host: PluginHost | None = None
) -> AsyncIterator[Any]:
    """Open the ``capability`` provider for ``url``, started, and close it on exit.

    Args:
        capability: one of ``"persistence"``, ``"lock"``, ``"queue"``, ``"search"``.
        url: the provider URL, usually from :func:`target_url`.
        plugin_host: where to find the scheme; a host loading the ``wfe`` entry points by default.

    Yields:
        The started provider.
    """
    host = plugin_host if plugin_host is not None else PluginHost()
    provider = host.open(capability, url, {})
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()
