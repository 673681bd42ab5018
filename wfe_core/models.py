"""The persisted state of workflows, as providers store it: the public door to ``_models``.

Provider packages import the models from here (``from wfe_core.models import
WorkflowInstance``); the engine's own modules import ``wfe_core._models``, which holds them. Both
names are the same classes. Applications see them through ``wfe``.

Importing this module loads no engine module: only attrs and the standard library.
"""

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

__all__ = [
    "Event",
    "EventSubscription",
    "ExecutionError",
    "ExecutionPointer",
    "ExecutionPointers",
    "HostRecord",
    "PointerStatus",
    "WorkflowInstance",
    "WorkflowStatus",
]
