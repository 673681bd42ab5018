"""wfe's engine: models, builder, primitives, executor, host, provider Protocols and plugins.

Applications import from ``wfe``; provider packages import from here.
"""

from importlib import metadata as _metadata

from ._builder import ParallelBuilder, StepBuilder, WorkflowBuilder
from ._definition import StepOutcome, WorkflowDefinition, WorkflowStep
from ._host import WorkflowHost
from ._lifecycle import LifecycleEvent, LifecycleEventType, LifecycleHub
from ._models import (
    Event,
    EventSubscription,
    ExecutionError,
    ExecutionPointer,
    ExecutionPointers,
    PointerStatus,
    WorkflowInstance,
    WorkflowStatus,
)
from ._plugins import PluginHost
from ._step import ErrorBehavior, ExecutionResult, StepBody, StepExecutionContext
from .backends import Capability, ProviderBackend
from .clock import Clock, SystemClock
from .hookspecs import ProviderSpec, TestStore, hookimpl, hookspec
from .providers import (
    LockProvider,
    PersistenceProvider,
    QueueKind,
    QueueProvider,
    SearchFilter,
    SearchIndex,
    SearchPage,
    WorkflowSummary,
)

try:
    __version__: str = _metadata.version("wfe")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Capability",
    "Clock",
    "ErrorBehavior",
    "Event",
    "EventSubscription",
    "ExecutionError",
    "ExecutionPointer",
    "ExecutionPointers",
    "ExecutionResult",
    "LifecycleEvent",
    "LifecycleEventType",
    "LifecycleHub",
    "LockProvider",
    "ParallelBuilder",
    "PersistenceProvider",
    "PluginHost",
    "PointerStatus",
    "ProviderBackend",
    "ProviderSpec",
    "QueueKind",
    "QueueProvider",
    "SearchFilter",
    "SearchIndex",
    "SearchPage",
    "StepBody",
    "StepBuilder",
    "StepExecutionContext",
    "StepOutcome",
    "SystemClock",
    "TestStore",
    "WorkflowBuilder",
    "WorkflowDefinition",
    "WorkflowHost",
    "WorkflowInstance",
    "WorkflowStatus",
    "WorkflowStep",
    "WorkflowSummary",
    "hookimpl",
    "hookspec",
]
