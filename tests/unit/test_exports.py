"""Guard tests for what the packages export (like httpx ``tests/test_exported_members.py``).

A change to a public ``__all__`` must be a decision: update the pinned list here in the same
change, and say so in the changelog.
"""

from __future__ import annotations

import importlib
import inspect
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import wfe
import wfe.errors
import wfe_core
import wfe_core.errors
import wfe_core.testing

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

WFE_ALL = [
    "ActivityFailed",
    "ActivityWorker",
    "ErrorBehavior",
    "ExecutionError",
    "ExecutionPointer",
    "ExecutionResult",
    "ExternalWait",
    "FakeClock",
    "HistoryLimitError",
    "HostRecord",
    "LifecycleEvent",
    "LifecycleEventType",
    "NonDeterminismError",
    "OpenUserAction",
    "OrchestrationContext",
    "OrchestrationDefinition",
    "PendingActivity",
    "PointerStatus",
    "RetryPolicy",
    "SearchPage",
    "Selected",
    "StepBody",
    "StepExecutionContext",
    "WfeError",
    "WorkflowBuilder",
    "WorkflowClient",
    "WorkflowDefinition",
    "WorkflowHandle",
    "WorkflowHost",
    "WorkflowInstance",
    "WorkflowStatus",
    "WorkflowSummary",
    "errors",
    "orchestration",
]

WFE_CORE_ALL = [
    "ActivityFailed",
    "ActivityWorker",
    "Capability",
    "Clock",
    "ErrorBehavior",
    "Event",
    "EventSubscription",
    "ExecutionError",
    "ExecutionPointer",
    "ExecutionPointers",
    "ExecutionResult",
    "ExternalWait",
    "HeartbeatStore",
    "HistoryLimitError",
    "HostRecord",
    "LifecycleEvent",
    "LifecycleEventType",
    "LifecycleHub",
    "LockProvider",
    "NO_VALUE",
    "NonDeterminismError",
    "OpenUserAction",
    "OrchestrationContext",
    "OrchestrationDefinition",
    "ParallelBuilder",
    "PendingActivity",
    "PersistenceProvider",
    "PluginHost",
    "PointerStatus",
    "ProviderBackend",
    "ProviderSpec",
    "QueueKind",
    "QueueProvider",
    "RetryPolicy",
    "SearchFilter",
    "SearchIndex",
    "SearchPage",
    "Selected",
    "StepBody",
    "StepBuilder",
    "StepExecutionContext",
    "StepHost",
    "StepOutcome",
    "SystemClock",
    "TestStore",
    "WORKFLOW_ENDED_EVENT",
    "WorkflowBuilder",
    "WorkflowClient",
    "WorkflowDefinition",
    "WorkflowHandle",
    "WorkflowHost",
    "WorkflowInstance",
    "WorkflowStatus",
    "WorkflowStep",
    "WorkflowSummary",
    "hookimpl",
    "hookspec",
    "orchestration",
]

ERRORS_ALL = [
    "ActivityFailedError",
    "ActivityTokenError",
    "ConcurrencyError",
    "ConfigurationError",
    "DefinitionError",
    "DuplicateDefinitionError",
    "HostStoppedError",
    "InvalidEventError",
    "MissingDependencyError",
    "PassRefusedError",
    "ProviderError",
    "ProviderUnavailableError",
    "RetriesExhaustedError",
    "SerializationError",
    "StepFailedError",
    "StepTimeoutError",
    "SubWorkflowFailedError",
    "UserActionError",
    "WfeError",
    "WorkflowDeadlineError",
    "WorkflowNotFoundError",
    "WorkflowNotRegisteredError",
]


def _top_level_packages() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text())
    return sorted(p for p in config["tool"]["setuptools"]["packages"] if "." not in p)


def test_the_public_contract_imports() -> None:
    from wfe import (  # noqa: F401
        ErrorBehavior,
        ExecutionResult,
        PointerStatus,
        StepBody,
        StepExecutionContext,
        WorkflowBuilder,
        WorkflowHost,
        WorkflowInstance,
        WorkflowStatus,
    )


def test_wfe_exports_are_pinned() -> None:
    assert wfe.__all__ == WFE_ALL


def test_wfe_core_exports_are_pinned() -> None:
    assert wfe_core.__all__ == WFE_CORE_ALL


def test_error_exports_are_pinned() -> None:
    assert wfe.errors.__all__ == ERRORS_ALL
    assert wfe_core.errors.__all__ == ERRORS_ALL


def test_wfe_core_testing_exports_are_pinned() -> None:
    assert wfe_core.testing.__all__ == [
        "FakeClock",
        "StoreSet",
        "StoreUnavailableError",
        "Stores",
        "empty_store",
        "open_stores",
        "service_url",
        "store_schemes",
        "store_sets",
    ]


def test_the_version_is_the_distributions() -> None:
    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert wfe.__version__ == version
    assert wfe_core.__version__ == version


@pytest.mark.parametrize(
    "module_name", ["wfe", "wfe.errors", "wfe_core", "wfe_core.errors", "wfe_core.testing"]
)
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    assert len(set(module.__all__)) == len(module.__all__), "duplicate names in __all__"


@pytest.mark.parametrize("package", _top_level_packages())
def test_every_name_a_top_level_package_exports_exists(package: str) -> None:
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which does not exist"


def test_wfe_reexports_the_same_objects_as_wfe_core() -> None:
    for name in WFE_ALL:
        if name != "errors" and hasattr(wfe_core, name):
            assert getattr(wfe, name) is getattr(wfe_core, name), name
    assert wfe.errors.WfeError is wfe_core.errors.WfeError
    assert wfe.WfeError is wfe.errors.WfeError


@pytest.mark.parametrize("name", ERRORS_ALL)
def test_every_public_error_derives_from_wfe_error(name: str) -> None:
    error = getattr(wfe.errors, name)
    assert inspect.isclass(error)
    assert issubclass(error, wfe.errors.WfeError)
    assert issubclass(error, Exception)
    assert name.endswith("Error")


def test_every_error_class_in_wfe_core_errors_derives_from_wfe_error() -> None:
    classes = [
        obj
        for obj in vars(wfe_core.errors).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == wfe_core.errors.__name__
    ]
    assert classes
    assert [c.__name__ for c in classes if not issubclass(c, wfe_core.errors.WfeError)] == []


def test_missing_dependency_error_is_a_configuration_error() -> None:
    assert issubclass(wfe.errors.MissingDependencyError, wfe.errors.ConfigurationError)
    assert issubclass(wfe.errors.SubWorkflowFailedError, wfe.errors.StepFailedError)
    assert issubclass(wfe.errors.ProviderUnavailableError, wfe.errors.ProviderError)


@pytest.mark.parametrize("package", _top_level_packages())
def test_every_package_ships_py_typed(package: str) -> None:
    assert resources.files(package).joinpath("py.typed").is_file()


def test_every_top_level_package_is_listed() -> None:
    # The packages the design names that exist in the tree must be shipped.
    assert {"wfe", "wfe_core"} <= set(_top_level_packages())
