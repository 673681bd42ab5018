"""Binds the contract suites to every installed provider scheme.

Each capability's fixture is parametrized over the schemes that the installed ``wfe`` entry
points declare for it, with the scheme as the test id (``test_fifo[memory]``,
``test_fifo[sqlite]``), so a provider is tested the moment it is registered and
``pytest -k sqlite`` picks one. The empty store comes from the test store the provider package
declares; a scheme whose service is not configured is skipped, or fails under
``WFE_REQUIRE_SERVICES=1``; see :mod:`wfe_core.testing.contracts._targets`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from wfe_core._plugins import PluginHost
from wfe_core.backends import Capability
from wfe_core.testing._pytest_plugin import chosen_schemes
from wfe_core.testing.contracts._targets import open_provider, schemes_offering, store_or_skip

# Built once at collection: the parameters must be known before any test runs.
PLUGIN_HOST = PluginHost()

#: (scheme, test name) -> why that provider fails that case today. Each entry is a bug in the
#: provider, not in the suite; the xfail is strict, so a fix shows up as XPASS and the entry
#: must then be deleted.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}

#: The fixture each capability's suite asks for.
FIXTURES = {
    "persistence": Capability.PERSISTENCE,
    "lock": Capability.LOCK,
    "queue": Capability.QUEUE,
    "search_index": Capability.SEARCH,
    "heartbeats": Capability.HEARTBEATS,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each suite's fixture over the schemes offering it (those the ``--wfe-*`` options name)."""
    for name, capability in FIXTURES.items():
        if name not in metafunc.fixturenames:
            continue
        schemes = chosen_schemes(metafunc.config, capability.value)
        if schemes is None:
            schemes = schemes_offering(capability, PLUGIN_HOST)
        metafunc.parametrize(name, schemes, indirect=True, ids=str)
    if "store_and_lock" in metafunc.fixturenames:
        stores = chosen_schemes(metafunc.config, Capability.PERSISTENCE.value)
        locks = chosen_schemes(metafunc.config, Capability.LOCK.value)
        both = [
            scheme for scheme in schemes_offering(Capability.PERSISTENCE, PLUGIN_HOST)
            if scheme in schemes_offering(Capability.LOCK, PLUGIN_HOST)
            and (stores is None or scheme in stores) and (locks is None or scheme in locks)
        ]
        metafunc.parametrize("store_and_lock", both, indirect=True, ids=str)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the known provider bugs as strict xfails (in this directory only)."""
    here = Path(__file__).parent
    for item in items:
        if not isinstance(item, pytest.Function) or not hasattr(item, "callspec"):
            continue
        if here not in item.path.parents:
            continue
        for name in FIXTURES:
            scheme = str(item.callspec.params.get(name))
            reason = KNOWN_VIOLATIONS.get((scheme, item.originalname))
            if reason is not None:
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


def _provider_fixture(capability: Capability, name: str) -> Callable[..., AsyncIterator[Any]]:
    @pytest.fixture(name=name)
    async def provider(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
        with store_or_skip(request.param, tmp_path, PLUGIN_HOST) as url:
            async with open_provider(capability, url, PLUGIN_HOST) as opened:
                yield opened

    return provider


persistence = _provider_fixture(Capability.PERSISTENCE, "persistence")
lock = _provider_fixture(Capability.LOCK, "lock")
queue = _provider_fixture(Capability.QUEUE, "queue")
search_index = _provider_fixture(Capability.SEARCH, "search_index")
heartbeats = _provider_fixture(Capability.HEARTBEATS, "heartbeats")


@pytest.fixture
async def store_and_lock(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A scheme's persistence and lock providers on one store, as a host of one URL has them."""
    with store_or_skip(request.param, tmp_path, PLUGIN_HOST) as url:
        backend = PLUGIN_HOST.backend(url)
        pair = (backend.provider(Capability.PERSISTENCE), backend.provider(Capability.LOCK))
        await backend.start()
        try:
            yield pair
        finally:
            await backend.close()
