"""Guard tests for the provider API: what provider packages import is public, and cheap to import.

A provider package (and the ``wfe`` command) imports only public ``wfe_core`` modules, so the
engine's private modules can change without breaking them; docs/providers.md documents each
public name. Importing a plugin module loads no engine module: the plugin host imports every
installed plugin, in every process that only lists or opens providers.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import wfe_core
from wfe_core.errors import ConfigurationError, HostStoppedError

ROOT = Path(__file__).resolve().parents[2]

#: Packages that use wfe_core only through its public modules.
CLIENT_PACKAGES = ["wfe_sqlite", "wfe_postgres", "wfe_valkey", "wfe_opensearch", "wfe"]

#: The public provider API: module -> the names it must export.
PUBLIC_API = {
    "wfe_core.models": [
        "Event",
        "EventSubscription",
        "ExecutionError",
        "ExecutionPointer",
        "ExecutionPointers",
        "PointerStatus",
        "WorkflowInstance",
        "WorkflowStatus",
    ],
    "wfe_core.coalesce": ["MAX_BATCH", "Coalescer", "bulk_reads", "in_step"],
    "wfe_core.tasks": ["stop_tasks"],
    "wfe_core.providers": [
        "LifecycleChannel",
        "LockProvider",
        "PersistenceProvider",
        "QueueKind",
        "QueueProvider",
        "SearchFilter",
        "SearchIndex",
        "SearchPage",
        "WorkflowListing",
        "WorkflowSummary",
        "WorkflowWrite",
        "persist_one_by_one",
        "search_words",
    ],
    "wfe_core.backends": ["Capability", "ProviderBackend"],
    "wfe_core.hookspecs": ["ProviderSpec", "TestStore", "hookimpl", "hookspec"],
    "wfe_core.errors": [
        "ConcurrencyError",
        "ConfigurationError",
        "MissingDependencyError",
        "ProviderError",
        "ProviderUnavailableError",
        "WfeError",
        "WorkflowNotFoundError",
    ],
}

#: What importing a plugin module may load of wfe_core: the provider-facing modules (and the
#: private ones behind the public doors), never the executor, host, runtime or telemetry.
PROVIDER_FACING = {
    "wfe_core",
    "wfe_core._coalesce",
    "wfe_core._lifecycle",
    "wfe_core._memory_plugin",
    "wfe_core._models",
    # Priority levels and the aging rule providers rank by (issue 24): constants and arithmetic.
    "wfe_core._priority",
    "wfe_core._tasks",
    # The data type variable of the models (issue 27): typing only, no engine code.
    "wfe_core._typevars",
    # What a step waits on outside the engine, for the search text (issue 23): models only.
    "wfe_core._waits",
    "wfe_core.backends",
    "wfe_core.coalesce",
    "wfe_core.errors",
    "wfe_core.hookspecs",
    "wfe_core.models",
    "wfe_core.providers",
    "wfe_core.search",
    "wfe_core.serialization",
    "wfe_core.tasks",
}

PLUGIN_MODULES = [
    "wfe_core._memory_plugin",
    "wfe_sqlite._plugin",
    "wfe_postgres._plugin",
    "wfe_valkey._plugin",
    "wfe_opensearch._plugin",
]


def _private(dotted: str) -> bool:
    """Whether a dotted name has a private segment (``_x``; a dunder like ``__version__`` is not)."""
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def _private_imports(source: str, where: str) -> list[str]:
    """``where:line: module`` for each import of a private wfe_core module or name in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # from wfe_core._x import y, and from wfe_core import _x (a private module or name)
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "wfe_core" and _private(name):
                found.append(f"{where}:{node.lineno}: {name}")
                break
    return found


def _client_files() -> list[Path]:
    return sorted(p for package in CLIENT_PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_scan_sees_every_client_package() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in _client_files()} == set(CLIENT_PACKAGES)


def test_the_scan_finds_private_imports() -> None:
    source = (
        "from wfe_core._models import WorkflowInstance\n"
        "import wfe_core._tasks\n"
        "from wfe_core.testing._stores import service_url\n"
        "from wfe_core import _memory\n"
        "from wfe_core import __version__\n"
        "from wfe_core.models import Event\n"
        "from ._url import parse_url\n"
        "def lazily():\n"
        "    from wfe_core._plugins import PluginHost\n"
    )
    assert _private_imports(source, "sample.py") == [
        "sample.py:1: wfe_core._models",
        "sample.py:2: wfe_core._tasks",
        "sample.py:3: wfe_core.testing._stores",
        "sample.py:4: wfe_core._memory",
        "sample.py:9: wfe_core._plugins",
    ]


@pytest.mark.parametrize("package", CLIENT_PACKAGES)
def test_client_packages_import_only_public_wfe_core_modules(package: str) -> None:
    found = [
        line
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in _private_imports(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert found == [], "import these from wfe_core's public modules (docs/providers.md)"


def _loaded_after_import(module: str) -> list[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


def test_importing_the_hookspecs_loads_only_what_they_need() -> None:
    loaded = _loaded_after_import("wfe_core.hookspecs")
    assert [m for m in loaded if m.startswith("wfe_core")] == [
        "wfe_core",
        "wfe_core.backends",
        "wfe_core.errors",
        "wfe_core.hookspecs",
    ]
    assert [m for m in loaded if m.startswith("opentelemetry")] == []
    assert "asyncio" not in loaded  # a third of what is left (backends imports it to close)


@pytest.mark.parametrize(
    "module",
    [*PLUGIN_MODULES, "wfe_core.models", "wfe_core.coalesce", "wfe_core.tasks", "wfe_core.errors"],
)
def test_importing_a_plugin_or_public_module_loads_no_engine_module(module: str) -> None:
    loaded = _loaded_after_import(module)
    engine = [m for m in loaded if m.startswith("wfe_core") and m not in PROVIDER_FACING]
    assert engine == [], f"importing {module} loads engine modules"
    assert [m for m in loaded if m.startswith("opentelemetry")] == []


def test_importing_wfe_core_alone_loads_nothing_else() -> None:
    loaded = _loaded_after_import("wfe_core")
    assert [m for m in loaded if m.startswith("wfe_core")] == ["wfe_core"]


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_public_names_are_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    for name in PUBLIC_API[module_name]:
        assert name in exported, f"{module_name}.__all__ lacks {name}"
        assert getattr(module, name) is not None


def test_the_public_doors_give_the_engines_own_objects() -> None:
    from wfe_core import _coalesce, _models, _tasks, coalesce, models, tasks

    for name in models.__all__:
        assert getattr(models, name) is getattr(_models, name)
    assert coalesce.Coalescer is _coalesce.Coalescer
    assert tasks.stop_tasks is _tasks.stop_tasks
    assert models.WorkflowInstance is wfe_core.WorkflowInstance


def test_the_host_and_the_plugin_host_offer_a_public_store_open() -> None:
    from wfe_core import PluginHost, ProviderSpec, WorkflowHost

    assert callable(WorkflowHost.open_stores)
    assert callable(PluginHost.existing_url)
    assert "existing_url" in attrs.fields_dict(ProviderSpec)


@pytest.mark.parametrize(
    ("url", "read_only", "opened"),
    [
        ("sqlite:///app.db", True, "sqlite:///app.db?mode=ro"),
        ("sqlite:///app.db", False, "sqlite:///app.db?mode=rw"),
        ("SQLite:///app.db?synchronous=NORMAL", True, "SQLite:///app.db?synchronous=NORMAL&mode=ro"),
        ("sqlite:///app.db?mode=rwc", True, "sqlite:///app.db?mode=rwc"),  # the caller's choice
        ("sqlite:///:memory:", True, "sqlite:///:memory:"),  # always new: nothing to open
        ("memory://", True, "memory://"),  # a scheme without existing_url: the URL as given
    ],
)
def test_existing_url_asks_the_schemes_provider(url: str, read_only: bool, opened: str) -> None:
    from wfe_core import PluginHost

    assert PluginHost().existing_url(url, read_only=read_only) == opened


async def test_open_stores_opens_without_running_and_closes_at_the_end() -> None:
    from wfe_core import WorkflowBuilder, WorkflowHost, WorkflowStatus

    host = WorkflowHost("memory://")
    host.register(WorkflowBuilder(dict).start_with(lambda ctx: None).build("one-step", 1))
    async with host.open_stores() as opened:
        assert opened is host and not host.running
        wid = await host.start_workflow("one-step", {})
        await asyncio.sleep(0.05)  # a started host would have run it by now
        assert (await host.get_workflow(wid)).status is WorkflowStatus.RUNNABLE
    async with host:
        with pytest.raises(ConfigurationError, match="running"):
            async with host.open_stores():
                pass
    with pytest.raises(HostStoppedError):
        async with host.open_stores():
            pass


def _type_checking_imports() -> dict[str, str]:
    """Name -> module of the imports under ``if TYPE_CHECKING:`` in wfe_core/__init__.py."""
    tree = ast.parse((ROOT / "wfe_core" / "__init__.py").read_text())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    )
    return {
        alias.name: "." * node.level + (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_the_lazy_names_are_the_statically_typed_ones() -> None:
    assert _type_checking_imports() == wfe_core._SOURCES
    assert sorted(wfe_core._SOURCES) == sorted(wfe_core.__all__)


def test_every_lazy_name_resolves_and_is_listed_by_dir() -> None:
    listed = dir(wfe_core)
    for name in [*wfe_core.__all__, "__version__"]:
        assert name in listed
        assert getattr(wfe_core, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        wfe_core.Nothing  # type: ignore[attr-defined]  # noqa: B018


DOCS = ROOT / "docs" / "providers.md"


def _spans(text: str) -> list[str]:
    """The inline code spans of a Markdown text (fenced blocks are examples, not citations)."""
    return re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))


def test_every_file_the_provider_docs_cite_exists() -> None:
    cited = {
        span.rstrip("/")
        for span in _spans(DOCS.read_text())
        if re.fullmatch(r"[\w.-]*(/[\w.-]+)+/?", span)
    }
    assert cited, "the scan found no file in docs/providers.md"
    assert sorted(path for path in cited if not (ROOT / path).exists()) == []


def test_every_wfe_core_name_the_provider_docs_cite_exists() -> None:
    cited = {m for span in _spans(DOCS.read_text()) for m in re.findall(r"wfe_core(?:\.\w+)+", span)}
    missing = []
    for dotted in sorted(cited):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                found: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for name in parts[cut:]:
                found = getattr(found, name, None)
            break
        if found is None:
            missing.append(dotted)
    assert missing == []
