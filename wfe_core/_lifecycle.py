"""Lifecycle events (workflow started, completed, ...; step started, completed; activities and user
tasks opened, taken, answered) and their hub.

The executor and host produce events; ``LifecycleHub`` delivers them in-process to whoever
subscribed through ``host.lifecycle.subscribe``. A failing subscriber never breaks the engine.

A host given ``lifecycle="valkey://..."`` connects its hub to a :class:`LifecycleChannel` (a
provider offering ``Capability.LIFECYCLE_EVENTS``): every event is then also sent to the other
hosts on that channel, and their events are delivered here. An event comes back to the host
that sent it only once, locally: messages carry their hub's origin id.
"""

from __future__ import annotations

import enum
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from ._models import utcnow

__all__ = ["LifecycleChannel", "LifecycleEvent", "LifecycleEventType", "LifecycleHub"]

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
    #: A step opened an activity wait (``message``: the activity's name).
    ACTIVITY_PENDING = "activity_pending"
    #: A worker took an activity's token (``message``: the activity's name).
    ACTIVITY_TAKEN = "activity_taken"
    #: A worker answered an activity (``message``: ``NAME succeeded`` or ``NAME failed: ...``).
    ACTIVITY_ANSWERED = "activity_answered"
    #: A step opened a user task (``message``: the task's key).
    USER_TASK_OPENED = "user_task_opened"
    #: A person answered a user task (``message``: ``KEY: VALUE by USER``).
    USER_TASK_ANSWERED = "user_task_answered"


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


@runtime_checkable
class LifecycleChannel(Protocol):
    """Carries lifecycle events, as text, between the hosts of a cluster (best effort).

    The provider of ``Capability.LIFECYCLE_EVENTS`` (Valkey pub/sub). Started and closed with
    its store, like the other providers.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def listen(self, receive: Callable[[str], Awaitable[None]]) -> None:
        """Before ``start()``: call ``await receive(message)`` for every message any host
        (this one included) publishes, from ``start()`` until ``close()``."""

    async def publish(self, message: str) -> None:
        """Send ``message`` to every host. Must not wait for the network (the pass waits)."""


def _encode(event: LifecycleEvent, origin: str) -> str:
    fields = attrs.asdict(event, recurse=False)
    fields["type"] = event.type.value
    fields["time"] = event.time.isoformat()
    return json.dumps({"origin": origin, "event": fields})


def _decode(message: str) -> tuple[str, LifecycleEvent]:
    body = json.loads(message)
    fields = dict(body["event"])
    fields["type"] = LifecycleEventType(fields["type"])
    fields["time"] = datetime.fromisoformat(fields["time"])
    return str(body["origin"]), LifecycleEvent(**fields)


class LifecycleHub:
    """Publish/subscribe for lifecycle events, in-process and (when connected to a channel)
    across hosts. Sync or async subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._channel: LifecycleChannel | None = None
        self._origin = uuid.uuid4().hex

    def connect(self, channel: LifecycleChannel) -> None:
        """Share events with the other hosts on ``channel`` (before it starts)."""
        self._channel = channel
        channel.listen(self._received)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    @property
    def active(self) -> bool:
        """Whether anyone may listen: a local subscriber, or other hosts on a channel."""
        return bool(self._subscribers) or self._channel is not None

    async def publish(self, event: LifecycleEvent) -> None:
        if self._channel is not None:
            try:
                await self._channel.publish(_encode(event, self._origin))
            except Exception:  # other hosts missing an event must not stop workflows here
                log.exception("sending lifecycle event %s to other hosts failed", event.type.value)
        await self._deliver(event)

    async def _received(self, message: str) -> None:
        try:
            origin, event = _decode(message)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed lifecycle message from another host: %.200r", message)
            return
        if origin != self._origin:  # this host's own events were delivered when published
            await self._deliver(event)

    async def _deliver(self, event: LifecycleEvent) -> None:
        for callback in list(self._subscribers):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a subscriber's bug must not stop workflows
                log.exception("lifecycle subscriber %r failed on %s", callback, event.type.value)
