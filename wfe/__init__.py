"""wfe: a persistent, embeddable workflow engine for Python.

Define workflows with ``WorkflowBuilder``, run them in a ``WorkflowHost``::

    async with WorkflowHost(persistence="sqlite:///app.db") as host:
        host.register(definition)
        wid = await host.start_workflow("pizza", order)
        instance = await host.wait_for_workflow(wid)

Errors live in ``wfe.errors``; every one derives from ``WfeError``.
"""

from wfe_core import (
    ActivityFailed,
    ActivityWorker,
    ErrorBehavior,
    ExecutionError,
    ExecutionPointer,
    ExecutionResult,
    ExternalWait,
    HistoryLimitError,
    HostRecord,
    LifecycleEvent,
    LifecycleEventType,
    NonDeterminismError,
    OpenUserAction,
    OrchestrationContext,
    OrchestrationDefinition,
    PendingActivity,
    PointerStatus,
    RetryPolicy,
    SearchPage,
    Selected,
    StepBody,
    StepExecutionContext,
    WorkflowBuilder,
    WorkflowClient,
    WorkflowDefinition,
    WorkflowHandle,
    WorkflowHost,
    WorkflowInstance,
    WorkflowStatus,
    WorkflowSummary,
    orchestration,
)
from wfe_core import (
    __version__ as __version__,
)
from wfe_core.testing import FakeClock

from . import errors
from .errors import WfeError

__all__ = [
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
