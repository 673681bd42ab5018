"""Lifecycle events (workflow started, completed, ...; step started, completed) and their hub.

The executor and host produce events; ``LifecycleHub`` delivers them in-process to whoever
subscribed through ``host.lifecycle.subscribe``. A failing subscriber never breaks the engine.
"""

from __future__ import annotations

import enum
import inspect
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from ._models import utcnow

__all__ = ["LifecycleEvent", "LifecycleEventType", "LifecycleHub"]

log = logging.getLogger("wfe.lifecycle")


class LifecycleEventType(enum.Enum):
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_TERMINATED = "workflow_terminated"
    WORKFLOW_SUSPENDED = "workflow_suspended"
    WORKFLOW_RESUMED = "workflow_resumed"
    WORKFLOW_ERROR = "workflow_error"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"


@attrs.frozen
class LifecycleEvent:
    """Something that happened to a workflow or one of its steps."""

    type: LifecycleEventType
    workflow_id: str
    definition_id: str
    version: int
    reference: str | None = None
    step_id: int | None = None
    step_name: str | None = None
    pointer_id: str | None = None
    message: str | None = None
    time: datetime = attrs.field(factory=utcnow)


Subscriber = Callable[[LifecycleEvent], Any]


class LifecycleHub:
    """In-process publish/subscribe for lifecycle events. Sync or async subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    @property
    def active(self) -> bool:
        return bool(self._subscribers)

    async def publish(self, event: LifecycleEvent) -> None:
        for callback in list(self._subscribers):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a subscriber's bug must not stop workflows
                log.exception("lifecycle subscriber %r failed on %s", callback, event.type.value)
