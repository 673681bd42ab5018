"""pytest fixtures for testing workflows and providers.

Loaded automatically (entry point ``pytest11: wfe``) wherever wfe is installed:

* ``wfe_fake_clock``: a ``FakeClock`` that skips delays;
* ``wfe_host``: a started in-memory host on that clock;
* ``wfe_store_url``: the URL of a fresh, empty store, the test run once per installed scheme
  that offers persistence (test ids ``[memory]``, ``[sqlite]``, ...). Narrow it with the
  ``wfe_stores`` marker: ``@pytest.mark.wfe_stores(capability="search")`` (or a tuple of
  capabilities the scheme must all offer), or
  ``shared_across_processes=True`` for tests that open one store from several processes. A
  scheme whose service is not configured is skipped, or failed under ``WFE_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._clock import FakeClock
from ._stores import REQUIRE_SERVICES_VARIABLE, StoreUnavailableError, empty_store, store_schemes

if TYPE_CHECKING:
    from .._plugins import PluginHost

_plugin_host: PluginHost | None = None


def _plugins() -> PluginHost:
    # Built once per session, at collection: the parameters must be known before tests run.
    global _plugin_host
    if _plugin_host is None:
        from .._plugins import PluginHost

        _plugin_host = PluginHost()
    return _plugin_host


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wfe_stores(capability='persistence', shared_across_processes=False): the schemes "
        "the wfe_store_url fixture runs a test on",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wfe_store_url" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("wfe_stores")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    schemes = store_schemes(
        options.get("capability", "persistence"),
        shared_across_processes=options.get("shared_across_processes", False),
        plugin_host=_plugins(),
    )
    metafunc.parametrize("wfe_store_url", schemes, indirect=True, ids=str)


@contextlib.contextmanager
def store_or_skip(
    scheme: str, directory: Path, plugin_host: PluginHost | None = None
) -> Iterator[str]:
    """:func:`~wfe_core.testing.empty_store`, skipping the test when the store is unavailable.

    Under ``WFE_REQUIRE_SERVICES=1`` an unavailable store fails the test instead, so a broken
    CI configuration cannot pass silently.
    """
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(empty_store(scheme, directory, plugin_host or _plugins()))
    except StoreUnavailableError as exc:
        if os.environ.get(REQUIRE_SERVICES_VARIABLE) == "1":
            pytest.fail(f"{exc.reason} ({REQUIRE_SERVICES_VARIABLE}=1)", pytrace=False)
        pytest.skip(exc.reason)
    with stack:
        yield url


@pytest.fixture
def wfe_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty store of this test's scheme (``memory`` if unparametrized)."""
    with store_or_skip(getattr(request, "param", "memory"), tmp_path) as url:
        yield url


@pytest.fixture
def wfe_fake_clock() -> FakeClock:
    """A ``FakeClock`` that jumps to the next timer whenever the host is idle."""
    return FakeClock(auto_advance=True)


try:
    import pytest_asyncio
except ImportError:  # the host fixture needs an async test runner
    pass
else:

    @pytest_asyncio.fixture
    async def wfe_host(wfe_fake_clock: FakeClock) -> AsyncIterator[object]:
        """A started ``WorkflowHost`` on ``memory://`` with ``wfe_fake_clock``; stopped after."""
        from wfe_core._host import WorkflowHost

        async with WorkflowHost("memory://", clock=wfe_fake_clock) as host:
            yield host
