"""pytest fixtures for testing workflows and providers.

Loaded automatically (entry point ``pytest11: wfe``) wherever wfe is installed:

* ``wfe_fake_clock``: a ``FakeClock`` that skips delays;
* ``wfe_host``: a started in-memory host on that clock;
* ``wfe_stores``: :class:`~wfe_core.testing.Stores`, fresh empty stores for a host, the test
  run once per store set (:func:`~wfe_core.testing.store_sets`: every persistence scheme with
  its own lock, queue and search, and every lock, queue or search scheme beside each shared
  persistence scheme; test ids ``[memory]``, ``[sqlite+valkey]``, ...).
  ``WorkflowHost(**wfe_stores.host_options())`` runs on them.
* ``wfe_store_url``: the URL of a fresh, empty store, the test run once per installed scheme
  that offers persistence (``[memory]``, ``[sqlite]``, ...).

Narrow either with the ``wfe_stores`` marker: ``@pytest.mark.wfe_stores(capability="search")``
(or a tuple of capabilities that must all be served), or ``shared_across_processes=True`` for
tests that open the stores from several processes. A scheme whose service is not configured is
skipped, or failed under ``WFE_REQUIRE_SERVICES=1``.

The options ``--wfe-persistence SCHEME`` and ``--wfe-lock``, ``--wfe-queue``, ``--wfe-search``
run every such test on one store set only, and the contract suites on those schemes only
(``python -m wfe_core.testing`` passes them).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from ._clock import FakeClock
from ._compose import Stores, StoreSet, open_stores, store_sets
from ._stores import REQUIRE_SERVICES_VARIABLE, StoreUnavailableError, empty_store, store_schemes

if TYPE_CHECKING:
    from .._plugins import PluginHost

_plugin_host: PluginHost | None = None
_T = TypeVar("_T")


def _plugins() -> PluginHost:
    # Built once per session, at collection: the parameters must be known before tests run.
    global _plugin_host
    if _plugin_host is None:
        from .._plugins import PluginHost

        _plugin_host = PluginHost()
    return _plugin_host


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wfe", "wfe's provider suites")
    for capability in ("persistence", "lock", "queue", "search"):
        group.addoption(
            f"--wfe-{capability}",
            metavar="SCHEME",
            default=None,
            help=f"run wfe's suites with {capability} from this installed scheme only"
            + (" (then lock, queue and search default to its own)" if capability == "persistence" else ""),
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wfe_stores(capability='persistence', shared_across_processes=False): the store sets "
        "(wfe_stores) or schemes (wfe_store_url) a test runs on",
    )


def chosen_store_set(config: pytest.Config) -> StoreSet | None:
    """The store set the ``--wfe-*`` options name, or ``None`` when they name none.

    Raises:
        pytest.UsageError: a capability given without ``--wfe-persistence``.
    """
    given = {c: config.getoption(f"--wfe-{c}") for c in ("persistence", "lock", "queue", "search")}
    if given["persistence"] is None:
        if any(given.values()):
            raise pytest.UsageError("--wfe-lock, --wfe-queue and --wfe-search need --wfe-persistence")
        return None
    return StoreSet(given["persistence"], lock=given["lock"], queue=given["queue"], search=given["search"])


def chosen_schemes(config: pytest.Config, capability: str) -> list[str] | None:
    """The schemes the ``--wfe-*`` options run ``capability``'s contract suite on, or ``None``
    for every installed one."""
    chosen = chosen_store_set(config)
    if chosen is None:
        return None
    specs = _plugins().specs()
    if capability == "heartbeats":  # a host keeps them in its lock's store, else its own
        candidates = [s for s in (chosen.lock, chosen.persistence) if s is not None]
        return [
            s for s in candidates
            if s not in specs or capability in {c.value for c in specs[s].capabilities}
        ][:1]
    scheme = getattr(chosen, capability) or chosen.persistence
    spec = specs.get(scheme)
    return [scheme] if spec is None or capability in {c.value for c in spec.capabilities} else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("wfe_stores")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    if "wfe_stores" in metafunc.fixturenames:
        sets = store_sets(
            _plugins(),
            chosen=chosen_store_set(metafunc.config),
            capability=options.get("capability"),
            shared_across_processes=options.get("shared_across_processes", False),
        )
        metafunc.parametrize("wfe_stores", sets, indirect=True, ids=str)
    if "wfe_store_url" in metafunc.fixturenames:
        schemes = store_schemes(
            options.get("capability", "persistence"),
            shared_across_processes=options.get("shared_across_processes", False),
            plugin_host=_plugins(),
        )
        chosen = chosen_store_set(metafunc.config)
        if chosen is not None:
            schemes = [s for s in schemes if s in chosen.schemes()]
        metafunc.parametrize("wfe_store_url", schemes, indirect=True, ids=str)


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_SERVICES_VARIABLE) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_VARIABLE}=1)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def _or_skip(opening: contextlib.AbstractContextManager[_T]) -> Iterator[_T]:
    """Enter ``opening``, skipping the test when a store is unavailable; under
    ``WFE_REQUIRE_SERVICES=1`` failing it instead, so a broken CI configuration cannot pass."""
    stack = contextlib.ExitStack()
    try:
        value = stack.enter_context(opening)
    except StoreUnavailableError as exc:
        _unavailable(exc.reason)
    with stack:
        yield value


def store_or_skip(
    scheme: str, directory: Path, plugin_host: PluginHost | None = None
) -> contextlib.AbstractContextManager[str]:
    """:func:`~wfe_core.testing.empty_store`, skipping the test when the store is unavailable
    (failing it under ``WFE_REQUIRE_SERVICES=1``)."""
    return _or_skip(empty_store(scheme, directory, plugin_host or _plugins()))


def stores_or_skip(
    store_set: StoreSet, directory: Path, plugin_host: PluginHost | None = None
) -> contextlib.AbstractContextManager[Stores]:
    """:func:`~wfe_core.testing.open_stores`, skipping the test when a store is unavailable
    (failing it under ``WFE_REQUIRE_SERVICES=1``)."""
    return _or_skip(open_stores(store_set, directory, plugin_host or _plugins()))


@pytest.fixture
def wfe_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Fresh, empty stores of this test's store set (``memory`` if unparametrized)."""
    with stores_or_skip(getattr(request, "param", StoreSet("memory")), tmp_path) as stores:
        yield stores


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
