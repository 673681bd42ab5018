"""wfe: a persistent, embeddable workflow engine for Python.

Define workflows with ``WorkflowBuilder``, run them in a ``WorkflowHost``::

    async with WorkflowHost(persistence="sqlite:///app.db") as host:
        host.register(definition)
        wid = await host.start_workflow("pizza", order)
        instance = await host.wait_for_workflow(wid)

Errors live in ``wfe.errors``; every one derives from ``WfeError``.
"""

from wfe_core import (
    ErrorBehavior,
    ExecutionError,
    ExecutionPointer,
    ExecutionResult,
    HostRecord,
    LifecycleEvent,
    LifecycleEventType,
    PointerStatus,
    SearchPage,
    StepBody,
    StepExecutionContext,
    WorkflowBuilder,
    WorkflowClient,
    WorkflowDefinition,
    WorkflowHost,
    WorkflowInstance,
    WorkflowStatus,
    WorkflowSummary,
)
from wfe_core import (
    __version__ as __version__,
)
from wfe_core.testing import FakeClock

from . import errors
from .errors import WfeError

__all__ = [
    "ErrorBehavior",
    "ExecutionError",
    "ExecutionPointer",
    "ExecutionResult",
    "FakeClock",
    "HostRecord",
    "LifecycleEvent",
    "LifecycleEventType",
    "PointerStatus",
    "SearchPage",
    "StepBody",
    "StepExecutionContext",
    "WfeError",
    "WorkflowBuilder",
    "WorkflowClient",
    "WorkflowDefinition",
    "WorkflowHost",
    "WorkflowInstance",
    "WorkflowStatus",
    "WorkflowSummary",
    "errors",
]
