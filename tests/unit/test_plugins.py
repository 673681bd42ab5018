"""``PluginHost``: entry-point discovery, defensive loading, and one backend per store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wfe import WorkflowHost
from wfe.errors import ConfigurationError, MissingDependencyError
from wfe_core import (
    Capability,
    LockProvider,
    PersistenceProvider,
    PluginHost,
    ProviderBackend,
    ProviderSpec,
    TestStore,
    hookimpl,
)
from wfe_core._memory import MemoryLock, MemoryPersistence
from wfe_core._plugins import ProviderBackends
from wfe_core.providers import QueueProvider, SearchIndex
from wfe_core.testing import StoreUnavailableError, empty_store, service_url, store_schemes
from wfe_core.testing._pytest_plugin import store_or_skip

ALL = {
    Capability.PERSISTENCE, Capability.LOCK, Capability.QUEUE, Capability.SEARCH,
    Capability.HEARTBEATS,
}


class FakePlugin:
    """A plugin object declaring one scheme, as a third-party package would."""

    def __init__(
        self,
        name: str,
        scheme: str,
        capabilities: set[Any],
        backend: Any = None,
        **spec: Any,
    ) -> None:
        self.__name__ = name  # pluggy names an object plugin after its __name__
        self._spec = ProviderSpec(
            scheme=scheme, capabilities=capabilities, backend=backend or _never_called, **spec
        )

    @hookimpl
    def wfe_providers(self) -> list[ProviderSpec]:
        return [self._spec]


def _never_called(url: str) -> ProviderBackend:
    raise AssertionError("the backend must not be made")


class Recorder:
    """A provider that records its start and close calls in its backend's journal."""

    def __init__(self, journal: list[str], name: str) -> None:
        self.journal, self.name = journal, name

    async def start(self) -> None:
        self.journal.append(f"start {self.name}")

    async def close(self) -> None:
        self.journal.append(f"close {self.name}")


#: Every backend a RecordingBackend made, in order.
MADE: list[RecordingBackend] = []


class RecordingBackend(ProviderBackend):
    """A backend whose providers share one 'connection', journaled."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.journal: list[str] = []
        MADE.append(self)

    def make(self, capability: Capability) -> object | None:
        return Recorder(self.journal, capability.value)

    async def connect(self) -> None:
        self.journal.append("connect")

    async def disconnect(self) -> None:
        self.journal.append("disconnect")


def recording_plugins() -> PluginHost:
    MADE.clear()
    plugin = FakePlugin("recording", "rec", ALL, RecordingBackend)
    return PluginHost(load_entry_points=False, plugins=(plugin,))


# -- discovery ------------------------------------------------------------------------------


def test_entry_points_declare_memory_and_sqlite() -> None:
    specs = PluginHost().specs()
    assert {"memory", "sqlite"} <= set(specs)
    for scheme in ("memory", "sqlite"):
        assert specs[scheme].capabilities == ALL
        assert specs[scheme].test_store is not None


def test_without_entry_points_nothing_is_declared() -> None:
    assert PluginHost(load_entry_points=False).specs() == {}


@pytest.mark.parametrize(
    ("capability", "protocol"),
    [
        (Capability.PERSISTENCE, PersistenceProvider),
        (Capability.LOCK, LockProvider),
        (Capability.QUEUE, QueueProvider),
        (Capability.SEARCH, SearchIndex),
    ],
)
@pytest.mark.parametrize("url", ["memory://", "sqlite:///:memory:"])
def test_each_scheme_backend_offers_every_capability(
    url: str, capability: Capability, protocol: type
) -> None:
    backend = PluginHost().backend(url)
    assert isinstance(backend.provider(capability), protocol)
    assert backend.provider(capability) is getattr(backend, capability.value)


def test_schemes_are_case_insensitive() -> None:
    plugins = PluginHost()
    assert plugins.spec_for("MEMORY://") is plugins.spec_for("memory://")


def test_capabilities_may_be_named_by_their_value() -> None:
    assert PluginHost().supports("memory://", "search")
    with pytest.raises(ConfigurationError, match="teleport"):
        PluginHost().supports("memory://", "teleport")


# -- one backend per store --------------------------------------------------------------------


def test_one_host_shares_one_backend_per_store() -> None:
    plugins = PluginHost()
    backends = ProviderBackends(plugins)
    first = backends.provider(Capability.QUEUE, "memory://")
    assert backends.provider("queue", "memory://") is first
    assert backends.backend("memory://") is backends.backend("memory://")
    assert ProviderBackends(plugins).provider(Capability.QUEUE, "memory://") is not first


def test_urls_of_one_sqlite_file_share_one_database(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    host = WorkflowHost("sqlite:///wfe.db", search=f"sqlite:///{tmp_path}/./wfe.db")
    assert host.persistence.database is host.search_index.database  # type: ignore[attr-defined]
    assert host.persistence.database is host.lock.database  # type: ignore[attr-defined]
    assert len(list(host._backends)) == 1


def test_urls_of_one_sqlite_file_must_agree_on_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wfe.db"
    with pytest.raises(ConfigurationError, match="same options"):
        WorkflowHost(url, search=f"{url}?synchronous=NORMAL")


async def test_a_host_opens_and_closes_each_store_once() -> None:
    async with WorkflowHost("rec://one", search="rec://two", plugins=recording_plugins()):
        one, two = MADE
        assert one.journal == [
            "connect", "start persistence", "start lock", "start queue", "start heartbeats",
        ]
        assert two.journal == ["connect", "start search"]
    assert one.journal[5:] == [
        "close heartbeats", "close queue", "close lock", "close persistence", "disconnect",
    ]
    assert two.journal[2:] == ["close search", "disconnect"]


async def test_providers_given_as_instances_are_started_but_left_open() -> None:
    journal: list[str] = []
    given = Recorder(journal, "given")
    host = WorkflowHost("rec://", search=given, plugins=recording_plugins())  # type: ignore[arg-type]
    async with host:
        assert journal == ["start given"]
    assert journal == ["start given"]
    assert MADE[0].journal[-1] == "disconnect"


async def test_a_provider_asked_for_after_start_is_refused() -> None:
    backend = recording_plugins().backend("rec://")
    backend.provider(Capability.LOCK)
    await backend.start()
    try:
        assert backend.lock is not None  # made before start
        with pytest.raises(ConfigurationError, match="before start"):
            backend.provider(Capability.QUEUE)
    finally:
        await backend.close()


def test_memory_persistence_and_search_of_one_host_are_linked() -> None:
    host = WorkflowHost("memory://")
    assert host.persistence._search is host.search_index  # type: ignore[attr-defined]
    apart = WorkflowHost(MemoryPersistence(), lock=MemoryLock())
    assert apart.persistence._search is None  # type: ignore[attr-defined]


def test_a_plugin_object_can_be_registered_later() -> None:
    plugins = PluginHost(load_entry_points=False)
    assert "later" not in plugins.specs()
    plugins.register(FakePlugin("later_plugin", "later", {Capability.LOCK}, RecordingBackend))
    backend = plugins.backend("later://x")
    assert isinstance(backend, RecordingBackend)
    assert backend.url == "later://x"


# -- errors ---------------------------------------------------------------------------------


def test_two_plugins_claiming_one_scheme_is_an_error_naming_both() -> None:
    one = FakePlugin("plugin_one", "dup", {Capability.LOCK})
    two = FakePlugin("plugin_two", "dup", {Capability.QUEUE})
    plugins = PluginHost(load_entry_points=False, plugins=(one, two))
    with pytest.raises(ConfigurationError) as info:
        plugins.specs()
    message = str(info.value)
    assert "dup://" in message
    assert "plugin_one" in message
    assert "plugin_two" in message


def test_a_plugin_claiming_an_installed_scheme_is_an_error() -> None:
    impostor = FakePlugin("impostor", "memory", {Capability.LOCK})
    plugins = PluginHost(plugins=(impostor,))
    with pytest.raises(ConfigurationError) as info:
        plugins.backend("memory://")
    message = str(info.value)
    assert "memory://" in message
    assert "impostor" in message
    assert "memory" in message.replace("memory://", "")  # the entry point's name


def test_a_host_with_clashing_plugins_fails_to_build() -> None:
    one = FakePlugin("plugin_one", "memory", {Capability.LOCK})
    with pytest.raises(ConfigurationError):
        WorkflowHost("memory://", plugins=PluginHost(plugins=(one,)))


def test_unknown_scheme_lists_installed_schemes() -> None:
    with pytest.raises(ConfigurationError) as info:
        PluginHost().backend("nosuchscheme://x")
    message = str(info.value)
    assert "nosuchscheme://" in message
    assert "memory://" in message
    assert "sqlite://" in message


def test_unknown_scheme_with_nothing_installed_says_so() -> None:
    with pytest.raises(ConfigurationError, match="none"):
        PluginHost(load_entry_points=False).backend("x://y")


def test_a_capability_the_scheme_lacks_is_a_configuration_error() -> None:
    plugins = PluginHost(
        load_entry_points=False, plugins=(FakePlugin("lockonly", "lockonly", {Capability.LOCK}),)
    )
    assert not plugins.supports("lockonly://", Capability.PERSISTENCE)
    with pytest.raises(ConfigurationError) as info:
        ProviderBackends(plugins).provider(Capability.PERSISTENCE, "lockonly://")
    message = str(info.value)
    assert "lockonly://" in message
    assert "lock" in message
    assert "persistence" in message


def test_host_rejects_a_persistence_url_whose_scheme_lacks_persistence() -> None:
    plugins = PluginHost(plugins=(FakePlugin("lockonly", "lockonly", {Capability.LOCK}),))
    with pytest.raises(ConfigurationError, match="persistence"):
        WorkflowHost(persistence="lockonly://", plugins=plugins)


def _store_plugins() -> PluginHost:
    """A store without lock and queue (``store://``) and a lock-and-queue scheme (``coord://``)."""
    MADE.clear()
    return PluginHost(
        load_entry_points=False,
        plugins=(
            FakePlugin("store", "store", {Capability.PERSISTENCE, Capability.SEARCH}, RecordingBackend),
            FakePlugin("coord", "coord", {Capability.LOCK, Capability.QUEUE}, RecordingBackend),
        ),
    )


@pytest.mark.parametrize("given", [{}, {"lock": "coord://"}, {"queue": "coord://"}])
def test_a_store_without_a_lock_or_queue_is_refused_without_one_given(given: dict[str, str]) -> None:
    """Two hosts with private locks on one shared store would both run a workflow's steps."""
    with pytest.raises(ConfigurationError) as info:
        WorkflowHost("store://", plugins=_store_plugins(), **given)
    missing = "queue" if "lock" in given else "lock"
    message = str(info.value)
    assert f"offers no {missing}" in message
    assert f"{missing}=" in message
    assert "coord://" in message  # the installed scheme that offers it
    assert all(backend.journal == [] for backend in MADE)  # nothing was opened


async def test_a_store_without_a_lock_or_queue_runs_with_them_given() -> None:
    host = WorkflowHost("store://", lock="coord://", queue="coord://", plugins=_store_plugins())
    async with host:
        store, coord = MADE[-2:]
        assert store.journal == ["connect", "start persistence", "start search"]
        assert coord.journal == ["connect", "start lock", "start queue"]


def test_a_persistence_instance_needs_its_lock_and_queue_given_unless_in_memory() -> None:
    stranger = Recorder([], "persistence")
    with pytest.raises(ConfigurationError, match="Recorder offers no lock"):
        WorkflowHost(stranger, plugins=_store_plugins())  # type: ignore[arg-type]
    alone = WorkflowHost(MemoryPersistence())  # in-process: nothing else can share it
    assert isinstance(alone.lock, MemoryLock)


def test_a_plugin_declaring_an_unknown_capability_is_an_error() -> None:
    plugins = PluginHost(
        load_entry_points=False, plugins=(FakePlugin("odd", "odd", {"teleport"}),)
    )
    with pytest.raises(ConfigurationError, match="teleport"):
        plugins.specs()


def test_a_missing_driver_names_the_extra_to_install() -> None:
    plugin = FakePlugin(
        "needs_driver",
        "needsdriver",
        {Capability.PERSISTENCE},
        extra="needsdriver",
        driver="no_such_module_xyz",
    )
    plugins = PluginHost(load_entry_points=False, plugins=(plugin,))
    with pytest.raises(MissingDependencyError) as info:
        plugins.backend("needsdriver://somewhere")
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert error.scheme == "needsdriver"
    assert error.extra == "needsdriver"
    assert "no_such_module_xyz" in str(error)
    assert 'pip install "wfe[needsdriver]"' in str(error)


def test_a_missing_driver_without_a_declared_extra_names_the_scheme() -> None:
    plugin = FakePlugin("p", "postgresql", {Capability.PERSISTENCE}, driver="no_such_module_xyz")
    plugins = PluginHost(load_entry_points=False, plugins=(plugin,))
    with pytest.raises(MissingDependencyError, match=r'pip install "wfe\[postgresql\]"'):
        plugins.backend("postgresql://localhost/db")


def test_a_host_with_a_missing_driver_fails_with_missing_dependency_error() -> None:
    plugin = FakePlugin(
        "p", "needsdriver", {Capability.PERSISTENCE}, extra="extra_x", driver="no_such_module_xyz"
    )
    plugins = PluginHost(plugins=(plugin,))
    with pytest.raises(MissingDependencyError, match=r"wfe\[extra_x\]"):
        WorkflowHost(persistence="needsdriver://", plugins=plugins)


def test_an_installed_driver_passes_the_check() -> None:
    plugin = FakePlugin("p", "hasdriver", {Capability.LOCK}, RecordingBackend, driver="json")
    plugins = PluginHost(load_entry_points=False, plugins=(plugin,))
    assert isinstance(plugins.backend("hasdriver://"), RecordingBackend)


@pytest.mark.parametrize(
    "url", ["wfe.db", "/var/lib/wfe.db", "", "memory", "sqlite:wfe.db", "C:\\wfe.db"]
)
def test_a_url_without_a_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="scheme://"):
        PluginHost().backend(url)


def test_a_host_given_a_url_without_a_scheme_says_how_to_write_one() -> None:
    with pytest.raises(ConfigurationError, match="sqlite:///"):
        WorkflowHost(persistence="wfe.db")


# -- misspelled, broken and blocked plugins ----------------------------------------------------


class Misspelled:
    __name__ = "misspelled_plugin"

    @hookimpl
    def wfe_provider(self) -> list[ProviderSpec]:  # wfe_providers, misspelled
        return []


def test_a_misspelled_hook_is_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        PluginHost(plugins=(Misspelled(),))
    message = str(info.value)
    assert "misspelled_plugin" in message
    assert "wfe_provider'" in message
    assert "wfe_providers" in message
    assert "WFE_BLOCK_PLUGINS=misspelled_plugin" in message
    assert "install" not in message


def test_a_misspelled_hook_registered_later_is_named() -> None:
    with pytest.raises(ConfigurationError, match="misspelled_plugin"):
        PluginHost(load_entry_points=False).register(Misspelled())


def install_entry_point(path: Path, monkeypatch: Any, name: str, module: str, source: str) -> None:
    """Make ``name = module`` a ``wfe`` entry point of a distribution found on ``path``."""
    info = path / f"wfe_test_{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: wfe-test-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[wfe]\n{name} = {module}\n")
    if source:
        (path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(path))


def test_a_broken_entry_point_is_skipped_logged_and_named(
    tmp_path: Path, monkeypatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    install_entry_point(tmp_path, monkeypatch, "brokenwfe", "wfe_test_broken_plugin", """
        raise ImportError("its driver is gone")
    """)
    with caplog.at_level(logging.WARNING, logger="wfe.plugins"):
        plugins = PluginHost()
    assert {"memory", "sqlite"} <= set(plugins.specs())  # the others still work
    assert "its driver is gone" in plugins.broken["brokenwfe"]
    assert "brokenwfe" in caplog.text
    assert "WFE_BLOCK_PLUGINS=brokenwfe" in caplog.text
    with pytest.raises(ConfigurationError) as info:
        plugins.backend("absent://x")
    assert "brokenwfe (ImportError: its driver is gone)" in str(info.value)


def test_a_blocked_entry_point_is_not_loaded(tmp_path: Path, monkeypatch: Any) -> None:
    install_entry_point(tmp_path, monkeypatch, "typowfe", "wfe_test_typo_plugin", """
        from wfe_core import hookimpl

        @hookimpl
        def wfe_provider():
            return []
    """)
    with pytest.raises(ConfigurationError, match="typowfe"):
        PluginHost()
    assert "sqlite" in PluginHost(blocked=["typowfe"]).specs()
    monkeypatch.setenv("WFE_BLOCK_PLUGINS", "other, typowfe")
    assert PluginHost().blocked == {"other", "typowfe"}
    assert "sqlite" in PluginHost().specs()


def test_a_blocked_scheme_is_named_when_a_url_needs_it() -> None:
    plugins = PluginHost(blocked=["sqlite"])
    assert "sqlite" not in plugins.specs()
    with pytest.raises(ConfigurationError, match="Blocked plugins: sqlite"):
        WorkflowHost("sqlite:///x.db", plugins=plugins)


# -- test stores ------------------------------------------------------------------------------


def test_a_sqlite_database_opened_by_url_is_closed_by_the_host_once(tmp_path: Path) -> None:
    async def run() -> None:
        host = WorkflowHost(f"sqlite:///{tmp_path}/wfe.db")
        database = host.persistence.database  # type: ignore[attr-defined]
        async with host:
            assert database._worker is not None
            await host.lock.close()  # a provider's close leaves the shared database open
            assert await host.persistence.get_runnable_instances(datetime.now(UTC)) == []
        assert database._worker is None

    asyncio.run(run())


@contextlib.contextmanager
def _journaled_store(directory: Path) -> Iterator[str]:
    STORES.append("made")
    yield "rec://fresh"
    STORES.append("removed")


def _absent_store(directory: Path) -> contextlib.AbstractContextManager[str]:
    return contextlib.nullcontext(service_url("WFE_TEST_NO_SUCH_SERVICE_URL", "absent"))


STORES: list[str] = []


def test_store_schemes_follow_the_declarations() -> None:
    plugins = PluginHost(
        load_entry_points=False,
        plugins=(
            FakePlugin("mem", "mem", ALL, test_store=TestStore(_journaled_store)),
            FakePlugin("disk", "disk", ALL, test_store=TestStore(_journaled_store, True)),
            FakePlugin("lockonly", "lockonly", {Capability.LOCK}),
        ),
    )
    assert store_schemes(plugin_host=plugins) == ["disk", "lockonly", "mem"]
    assert store_schemes("persistence", plugin_host=plugins) == ["disk", "mem"]
    assert store_schemes(("lock", "search"), plugin_host=plugins) == ["disk", "mem"]
    assert store_schemes(
        Capability.LOCK, shared_across_processes=True, plugin_host=plugins
    ) == ["disk", "lockonly"]  # lockonly declares no store: it stays, to be skipped with why


def test_an_empty_store_is_made_and_removed(tmp_path: Path) -> None:
    STORES.clear()
    plugins = PluginHost(
        load_entry_points=False,
        plugins=(FakePlugin("mem", "mem", ALL, test_store=TestStore(_journaled_store)),),
    )
    with empty_store("mem", tmp_path, plugins) as url:
        assert (url, STORES) == ("rec://fresh", ["made"])
    assert STORES == ["made", "removed"]


def test_a_scheme_without_a_test_store_says_how_to_declare_one(tmp_path: Path) -> None:
    plugins = PluginHost(
        load_entry_points=False, plugins=(FakePlugin("lockonly", "lockonly", {Capability.LOCK}),)
    )
    with pytest.raises(StoreUnavailableError, match="test_store"):
        with empty_store("lockonly", tmp_path, plugins):
            pass


@pytest.mark.parametrize("required", ["", "1"])
def test_an_absent_service_skips_or_fails_under_require_services(
    required: str, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WFE_REQUIRE_SERVICES", required)
    monkeypatch.delenv("WFE_TEST_NO_SUCH_SERVICE_URL", raising=False)
    plugins = PluginHost(
        load_entry_points=False,
        plugins=(FakePlugin("absent", "absent", ALL, test_store=TestStore(_absent_store)),),
    )
    outcome = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(outcome, match="WFE_TEST_NO_SUCH_SERVICE_URL"):
        with store_or_skip("absent", tmp_path, plugins):
            pass


@pytest.mark.wfe_stores(shared_across_processes=True)
def test_the_store_fixture_runs_on_schemes_shared_across_processes(
    wfe_store_url: str, request: pytest.FixtureRequest
) -> None:
    scheme = request.node.callspec.id
    assert scheme != "memory"  # two processes never share one memory:// store
    assert wfe_store_url.startswith(f"{scheme}://")


def test_an_alias_scheme_with_the_same_backend_shares_the_store() -> None:
    MADE.clear()
    plugins = PluginHost(
        load_entry_points=False,
        plugins=(
            FakePlugin("rec", "rec", ALL, RecordingBackend, store_key=lambda url: "one"),
            FakePlugin("alias", "recalias", ALL, RecordingBackend, store_key=lambda url: "one"),
            FakePlugin("other", "other", ALL, lambda url: RecordingBackend(url),
                       store_key=lambda url: "one"),
        ),
    )
    backends = ProviderBackends(plugins)
    assert backends.backend("rec://a") is backends.backend("recalias://a")
    assert backends.backend("other://a") is not backends.backend("rec://a")


@pytest.mark.parametrize(
    ("url", "says", "never"),
    [
        ("opensearch+http://node:9200", "did you mean opensearch+https://", "wfe[opensearch+http]"),
        ("sqlit:///wfe.db", "did you mean sqlite://", "wfe[sqlit]"),
        ("zzzz://x", "check the scheme's spelling", "wfe[zzzz]"),
    ],
)
def test_an_unknown_scheme_suggests_only_what_exists(url: str, says: str, never: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        WorkflowHost(url)
    assert says in str(info.value)
    assert never not in str(info.value)


def test_an_uninstalled_provider_of_wfe_names_its_extra() -> None:
    plugins = PluginHost(load_entry_points=False, plugins=(FakePlugin("mem", "mem", ALL),))
    with pytest.raises(ConfigurationError, match=r'pip install "wfe\[valkey\]"'):
        plugins.spec_for("rediss://cache:6380")


@pytest.mark.parametrize("url", ["postgresql://[::1/db", "valkey://[cache:6379", "sqlite://[/x.db"])
def test_a_url_with_an_unbalanced_bracket_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid URL"):
        WorkflowHost(url)


def test_store_sets_compose_each_capability_scheme_with_the_shared_persistence_schemes() -> None:
    from wfe_core.testing import StoreSet, store_sets

    plugins = PluginHost(
        load_entry_points=False,
        plugins=(
            FakePlugin("mem", "mem", ALL, test_store=TestStore(_journaled_store)),
            FakePlugin("disk", "disk", ALL, test_store=TestStore(_journaled_store, True)),
            FakePlugin("file", "file", ALL, test_store=TestStore(_journaled_store, True)),
            FakePlugin("coord", "coord", {Capability.LOCK, Capability.QUEUE},
                       test_store=TestStore(_journaled_store, True)),
            FakePlugin("tls", "tls", {Capability.LOCK},
                       test_store=TestStore(_journaled_store, True, compose_with=("file",))),
            FakePlugin("find", "find", {Capability.SEARCH}, test_store=TestStore(_journaled_store, True)),
        ),
    )
    assert [s.id for s in store_sets(plugins)] == [
        "disk", "disk+coord", "disk+find", "file", "file+coord", "file+find", "file+tls", "mem",
    ]
    assert StoreSet("disk", lock="coord", queue="coord") in store_sets(plugins)
    assert [s.id for s in store_sets(plugins, capability="search")] == [
        "disk", "disk+coord", "disk+find", "file", "file+coord", "file+find", "file+tls", "mem",
    ]
    assert [s.id for s in store_sets(plugins, shared_across_processes=True)] == [
        "disk", "disk+coord", "disk+find", "file", "file+coord", "file+find", "file+tls",
    ]
    chosen = StoreSet("mem", lock="tls")
    assert store_sets(plugins, chosen=chosen) == [chosen]
