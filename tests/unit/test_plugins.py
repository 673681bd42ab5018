"""``PluginHost``: entry-point discovery and resolving provider URLs by scheme."""

from __future__ import annotations

from typing import Any

import pytest

from wfe import WorkflowHost
from wfe.errors import ConfigurationError, MissingDependencyError
from wfe_core import (
    LockProvider,
    PersistenceProvider,
    PluginHost,
    ProviderSpec,
    hookimpl,
)
from wfe_core.providers import QueueProvider, SearchIndex


class FakePlugin:
    """A plugin object declaring one scheme, as a third-party package would."""

    def __init__(self, name: str, scheme: str, factories: dict[str, Any], **spec: Any) -> None:
        self.__name__ = name  # pluggy names an object plugin after its __name__
        self._spec = ProviderSpec(scheme=scheme, factories=factories, **spec)

    @hookimpl
    def wfe_providers(self) -> list[ProviderSpec]:
        return [self._spec]


def _never_called(url: str, shared: dict[str, Any]) -> Any:
    raise AssertionError("the factory must not be called")


# -- discovery ------------------------------------------------------------------------------


def test_entry_points_declare_memory_and_sqlite() -> None:
    specs = PluginHost().specs()
    assert {"memory", "sqlite"} <= set(specs)
    for scheme in ("memory", "sqlite"):
        assert set(specs[scheme].factories) == {"persistence", "lock", "queue", "search"}


def test_without_entry_points_nothing_is_declared() -> None:
    assert PluginHost(load_entry_points=False).specs() == {}


@pytest.mark.parametrize(
    ("capability", "protocol"),
    [
        ("persistence", PersistenceProvider),
        ("lock", LockProvider),
        ("queue", QueueProvider),
        ("search", SearchIndex),
    ],
)
def test_memory_scheme_opens_every_capability(capability: str, protocol: type) -> None:
    provider = PluginHost().open(capability, "memory://")
    assert isinstance(provider, protocol)


def test_schemes_are_case_insensitive() -> None:
    plugins = PluginHost()
    assert plugins.spec_for("MEMORY://") is plugins.spec_for("memory://")


def test_one_host_shares_providers_through_the_shared_dict() -> None:
    plugins = PluginHost()
    shared: dict[str, Any] = {}
    first = plugins.open("queue", "memory://", shared)
    assert plugins.open("queue", "memory://", shared) is first
    assert plugins.open("queue", "memory://", {}) is not first


def test_a_plugin_object_can_be_registered_later() -> None:
    plugins = PluginHost(load_entry_points=False)
    assert "later" not in plugins.specs()
    made: list[str] = []

    def factory(url: str, shared: dict[str, Any]) -> str:
        made.append(url)
        return "lock"

    plugins.register(FakePlugin("later_plugin", "later", {"lock": factory}))
    assert plugins.open("lock", "later://x") == "lock"
    assert made == ["later://x"]


def test_the_factory_gets_the_url_and_the_shared_dict() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def factory(url: str, shared: dict[str, Any]) -> str:
        seen.append((url, shared))
        return "provider"

    plugins = PluginHost(
        load_entry_points=False, plugins=(FakePlugin("p", "fake", {"queue": factory}),)
    )
    shared = {"k": 1}
    assert plugins.open("queue", "fake://host:1/path?x=1", shared) == "provider"
    assert seen == [("fake://host:1/path?x=1", shared)]


# -- errors ---------------------------------------------------------------------------------


def test_two_plugins_claiming_one_scheme_is_an_error_naming_both() -> None:
    one = FakePlugin("plugin_one", "dup", {"lock": _never_called})
    two = FakePlugin("plugin_two", "dup", {"queue": _never_called})
    plugins = PluginHost(load_entry_points=False, plugins=(one, two))
    with pytest.raises(ConfigurationError) as info:
        plugins.specs()
    message = str(info.value)
    assert "dup://" in message
    assert "plugin_one" in message
    assert "plugin_two" in message


def test_a_plugin_claiming_an_installed_scheme_is_an_error() -> None:
    impostor = FakePlugin("impostor", "memory", {"lock": _never_called})
    plugins = PluginHost(plugins=(impostor,))
    with pytest.raises(ConfigurationError) as info:
        plugins.open("lock", "memory://")
    message = str(info.value)
    assert "memory://" in message
    assert "impostor" in message
    assert "memory" in message.replace("memory://", "")  # the entry point's name


def test_a_host_with_clashing_plugins_fails_to_build() -> None:
    one = FakePlugin("plugin_one", "memory", {"lock": _never_called})
    with pytest.raises(ConfigurationError):
        WorkflowHost("memory://", plugins=PluginHost(plugins=(one,)))


def test_unknown_scheme_lists_installed_schemes() -> None:
    with pytest.raises(ConfigurationError) as info:
        PluginHost().open("persistence", "nosuchscheme://x")
    message = str(info.value)
    assert "nosuchscheme://" in message
    assert "memory://" in message
    assert "sqlite://" in message


def test_unknown_scheme_with_nothing_installed_says_so() -> None:
    with pytest.raises(ConfigurationError, match="none"):
        PluginHost(load_entry_points=False).open("persistence", "x://y")


def test_a_capability_the_scheme_lacks_is_a_configuration_error() -> None:
    plugins = PluginHost(
        load_entry_points=False,
        plugins=(FakePlugin("lockonly", "lockonly", {"lock": _never_called}),),
    )
    assert not plugins.supports("lockonly://", "persistence")
    with pytest.raises(ConfigurationError) as info:
        plugins.open("persistence", "lockonly://")
    message = str(info.value)
    assert "lockonly://" in message
    assert "lock" in message
    assert "persistence" in message


def test_host_rejects_a_persistence_url_whose_scheme_lacks_persistence() -> None:
    plugins = PluginHost(plugins=(FakePlugin("lockonly", "lockonly", {"lock": _never_called}),))
    with pytest.raises(ConfigurationError, match="persistence"):
        WorkflowHost(persistence="lockonly://", plugins=plugins)


def test_a_plugin_declaring_an_unknown_capability_is_an_error() -> None:
    plugins = PluginHost(
        load_entry_points=False, plugins=(FakePlugin("odd", "odd", {"teleport": _never_called}),)
    )
    with pytest.raises(ConfigurationError, match="teleport"):
        plugins.specs()


def test_a_missing_driver_names_the_extra_to_install() -> None:
    plugin = FakePlugin(
        "needs_driver",
        "needsdriver",
        {"persistence": _never_called},
        extra="needsdriver",
        driver="no_such_module_xyz",
    )
    plugins = PluginHost(load_entry_points=False, plugins=(plugin,))
    with pytest.raises(MissingDependencyError) as info:
        plugins.open("persistence", "needsdriver://somewhere")
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert error.scheme == "needsdriver"
    assert error.extra == "needsdriver"
    assert "no_such_module_xyz" in str(error)
    assert 'pip install "wfe[needsdriver]"' in str(error)


def test_a_missing_driver_without_a_declared_extra_names_the_scheme() -> None:
    plugin = FakePlugin(
        "p", "postgresql", {"persistence": _never_called}, driver="no_such_module_xyz"
    )
    plugins = PluginHost(load_entry_points=False, plugins=(plugin,))
    with pytest.raises(MissingDependencyError, match=r'pip install "wfe\[postgresql\]"'):
        plugins.open("persistence", "postgresql://localhost/db")


def test_a_host_with_a_missing_driver_fails_with_missing_dependency_error() -> None:
    plugin = FakePlugin(
        "p",
        "needsdriver",
        {"persistence": _never_called},
        extra="extra_x",
        driver="no_such_module_xyz",
    )
    plugins = PluginHost(plugins=(plugin,))
    with pytest.raises(MissingDependencyError, match=r"wfe\[extra_x\]"):
        WorkflowHost(persistence="needsdriver://", plugins=plugins)


def test_an_installed_driver_passes_the_check() -> None:
    plugin = FakePlugin("p", "hasdriver", {"lock": lambda url, s: "ok"}, driver="json")
    assert (
        PluginHost(load_entry_points=False, plugins=(plugin,)).open("lock", "hasdriver://") == "ok"
    )


@pytest.mark.parametrize(
    "url", ["wfe.db", "/var/lib/wfe.db", "", "memory", "sqlite:wfe.db", "C:\\wfe.db"]
)
def test_a_url_without_a_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="scheme://"):
        PluginHost().open("persistence", url)


def test_a_host_given_a_url_without_a_scheme_says_how_to_write_one() -> None:
    with pytest.raises(ConfigurationError, match="sqlite:///"):
        WorkflowHost(persistence="wfe.db")
