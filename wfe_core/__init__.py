"""wfe's engine: models, builder, primitives, executor, host, provider Protocols and plugins.

Applications import from ``wfe``; provider packages import from here and from the public
modules beside it (``wfe_core.models``, ``providers``, ``backends``, ``hookspecs``, ``errors``,
``serialization``, ``search``, ``coalesce``, ``tasks``; see docs/providers.md).

The names below are resolved on first use (PEP 562): the plugin host imports every installed
plugin, and a plugin module that imports ``wfe_core.hookspecs`` must not load the executor, the
host and OpenTelemetry with it (about 0.2 s, in every process that only lists providers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # What type checkers and editors see; at run time __getattr__ imports the same names.
    from ._activities import PendingActivity
    from ._activity_worker import ActivityWorker
    from ._builder import ParallelBuilder, StepBuilder, WorkflowBuilder
    from ._client import WorkflowClient
    from ._definition import NO_VALUE, StepOutcome, WorkflowDefinition, WorkflowStep
    from ._handle import WorkflowHandle
    from ._history import ActivityFailed, HistoryLimitError, NonDeterminismError
    from ._host import WorkflowHost
    from ._lifecycle import LifecycleEvent, LifecycleEventType, LifecycleHub
    from ._models import (
        Event,
        EventSubscription,
        ExecutionError,
        ExecutionPointer,
        ExecutionPointers,
        HostRecord,
        PointerStatus,
        WorkflowInstance,
        WorkflowStatus,
    )
    from ._orchestration import OrchestrationDefinition, orchestration
    from ._orchestration_context import OrchestrationContext, RetryPolicy, Selected
    from ._plugins import PluginHost
    from ._primitives import WORKFLOW_ENDED_EVENT
    from ._step import ErrorBehavior, ExecutionResult, StepBody, StepExecutionContext, StepHost
    from ._user_tasks import OpenUserAction
    from ._waits import ExternalWait
    from .backends import Capability, ProviderBackend
    from .clock import Clock, SystemClock
    from .hookspecs import ProviderSpec, TestStore, hookimpl, hookspec
    from .providers import (
        HeartbeatStore,
        LockProvider,
        PersistenceProvider,
        QueueKind,
        QueueProvider,
        SearchFilter,
        SearchIndex,
        SearchPage,
        WorkflowSummary,
    )

    __version__: str

__all__ = [
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

#: The module each exported name comes from; the same pairs as the TYPE_CHECKING block above
#: (tests/unit/test_public_api.py holds them equal).
_SOURCES: dict[str, str] = {
    **dict.fromkeys(["ParallelBuilder", "StepBuilder", "WorkflowBuilder"], "._builder"),
    **dict.fromkeys(["StepOutcome", "WorkflowDefinition", "WorkflowStep"], "._definition"),
    "WorkflowHost": "._host",
    "WorkflowHandle": "._handle",
    "NO_VALUE": "._definition",
    "WORKFLOW_ENDED_EVENT": "._primitives",
    **dict.fromkeys(["ActivityFailed", "HistoryLimitError", "NonDeterminismError"], "._history"),
    **dict.fromkeys(["OrchestrationDefinition", "orchestration"], "._orchestration"),
    **dict.fromkeys(["OrchestrationContext", "RetryPolicy", "Selected"], "._orchestration_context"),
    "WorkflowClient": "._client",
    "ActivityWorker": "._activity_worker",
    "PendingActivity": "._activities",
    "OpenUserAction": "._user_tasks",
    "ExternalWait": "._waits",
    **dict.fromkeys(["LifecycleEvent", "LifecycleEventType", "LifecycleHub"], "._lifecycle"),
    **dict.fromkeys(
        [
            "Event",
            "EventSubscription",
            "ExecutionError",
            "ExecutionPointer",
            "ExecutionPointers",
            "HostRecord",
            "PointerStatus",
            "WorkflowInstance",
            "WorkflowStatus",
        ],
        "._models",
    ),
    "PluginHost": "._plugins",
    **dict.fromkeys(
        ["ErrorBehavior", "ExecutionResult", "StepBody", "StepExecutionContext", "StepHost"], "._step"
    ),
    **dict.fromkeys(["Capability", "ProviderBackend"], ".backends"),
    **dict.fromkeys(["Clock", "SystemClock"], ".clock"),
    **dict.fromkeys(["ProviderSpec", "TestStore", "hookimpl", "hookspec"], ".hookspecs"),
    **dict.fromkeys(
        [
            "HeartbeatStore",
            "LockProvider",
            "PersistenceProvider",
            "QueueKind",
            "QueueProvider",
            "SearchFilter",
            "SearchIndex",
            "SearchPage",
            "WorkflowSummary",
        ],
        ".providers",
    ),
}


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("wfe")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


# Hidden from type checkers, which then see only the names imported above: a misspelt name
# stays an error instead of becoming Any.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name == "__version__":
            value: Any = _version()
        elif name in _SOURCES:
            value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value  # once resolved, a plain module attribute
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
