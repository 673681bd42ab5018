"""Activities: steps whose work an outside worker does, handed out by token and answered durably.

``builder.activity(name, parameters=...)`` adds an :class:`Activity` step. It waits, as an event
wait does, on a subscription named :data:`ACTIVITY_EVENT` keyed by the activity's name and
carrying its parameters; so the activities pending under a name are that key's subscriptions,
in every store, with no table of their own. A worker takes one with
``host.get_pending_activity(name, worker_id)``: the host takes the lease ``activity:<sub id>``
on the host's lock for ``activity_ttl`` seconds (a worker that dies lets it expire, and the
activity is pending again) and hands out a token naming the workflow, the pointer, the wait
and the lease. The answer (``submit_activity_success`` / ``_failure``) is written straight into
the waiting pointer (``_external.answer_wait``); the step then proceeds with ``step.result``, or
fails with :class:`~wfe_core.errors.ActivityFailedError` through its ``on_error`` (a retry waits
again, under a new wait id, so an answer to the old one is refused).

Pushed, not polled: the pass that opens the wait queues the subscription's id on the queue
kind of its name (``QueueKind.activity(name)``), so a worker waiting in ``dequeue`` on that kind
wakes at once, in any process (SQLite's, PostgreSQL's notifications, Valkey's blocking pop).
A waiting worker also looks every :data:`RESCAN` seconds, which finds activities whose
effective date came, or whose holder's lease ran out.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._external import announce, answer_wait, is_waiting
from ._lifecycle import LifecycleEventType
from ._models import (
    EventSubscription,
    ExecutionPointer,
    WorkflowInstance,
    WorkflowStatus,
    random_hex,
)
from ._primitives import EPOCH, Primitive
from ._step import ExecutionResult, StepExecutionContext
from ._waits import ACTIVITY_EVENT, ExternalWait, external_waits
from .errors import ActivityFailedError, ActivityTokenError, WorkflowNotFoundError
from .providers import QueueKind
from .serialization import dump_value

if TYPE_CHECKING:
    from ._host import WorkflowHost

__all__ = ["ACTIVITY_EVENT", "Activity", "Activities", "PendingActivity"]

#: Later than any effective date: asks for every pending activity of a name.
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=EPOCH.tzinfo)
#: Seconds between a waiting worker's looks at the pending activities, pushes aside.
RESCAN = 1.0


@attrs.frozen
class PendingActivity:
    """An activity handed to a worker.

    Attributes:
        token: what the worker answers with (``submit_activity_success(token, result)``);
            valid while the worker holds it (``activity_ttl`` seconds, renewed by answering).
        name: the activity's name.
        parameters: its parameters, as the step computed them (JSON values).
        workflow_id: the workflow that waits for it.
    """

    token: str
    name: str
    parameters: Any
    workflow_id: str


class Activity(Primitive):
    """Waits until a worker answers the activity ``activity_name``; its result is ``result``."""

    activity_name: str = ""
    parameters: Any = None
    effective_date: datetime | None = None
    result: Any = None

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        pointer = ctx.pointer
        attempt = pointer.extension_attributes.get("activity_attempt", 0)
        wait = f"{pointer.id}.{attempt}"
        answer = pointer.event_data if pointer.event_published else None
        if not isinstance(answer, dict) or answer.get("wait") != wait:
            as_of = self.effective_date or EPOCH
            if not isinstance(as_of, datetime) or as_of.tzinfo is None:
                raise ValueError(
                    f"the effective_date of activity {self.activity_name!r} is {as_of!r}; "
                    "give a timezone-aware datetime (use UTC)"
                )
            dump_value(self.parameters)  # parameters that cannot be stored fail the step now
            pointer.extension_attributes["activity_wait"] = wait
            result = ExecutionResult.wait_for_event(ACTIVITY_EVENT, self.activity_name, as_of)
            result.subscription_data = {"wait": wait, "parameters": self.parameters}
            return result
        if answer.get("ok"):
            self.result = answer.get("result")
            return ExecutionResult.next()
        pointer.extension_attributes["activity_attempt"] = attempt + 1
        raise ActivityFailedError(
            f"activity {self.activity_name!r} failed: {answer.get('error')}"
        )


@attrs.frozen
class _Token:
    """What a token names: the waiting pointer, its wait, and the lease the worker holds."""

    workflow_id: str
    pointer_id: str
    wait: str
    subscription_id: str
    owner: str
    name: str

    @property
    def text(self) -> str:
        # The name goes last: it is the one part that may hold the separator.
        return "~".join(
            (self.workflow_id, self.pointer_id, self.wait, self.subscription_id, self.owner, self.name)
        )

    @property
    def lease(self) -> str:
        return f"activity:{self.subscription_id}"

    @classmethod
    def parse(cls, token: object) -> _Token:
        parts = token.split("~", 5) if isinstance(token, str) else []
        if len(parts) != 6 or not all(parts):
            raise ActivityTokenError(
                f"{token!r} is not an activity token; pass the token of a PendingActivity "
                "that get_pending_activity returned"
            )
        return cls(*parts)


class Activities:
    """The host's side of activities: hand out, answer, give back. One per ``WorkflowHost``."""

    def __init__(self, host: WorkflowHost) -> None:
        self.host = host

    async def get_pending(self, name: str, worker_id: str, timeout: float) -> PendingActivity | None:
        if not isinstance(name, str) or not name:
            raise ValueError("get_pending_activity needs the activity's name")
        host = self.host
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        kind = QueueKind.activity(name)
        while True:
            taken = await self.take(name, worker_id)
            if taken is not None:
                return taken
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            # Woken by the pass that opens a wait of this name, in any process.
            await host.queue.dequeue(kind, min(remaining, RESCAN))

    async def take(self, name: str, worker_id: str) -> PendingActivity | None:
        """Take the lease of the first pending activity of ``name`` nobody holds, if any."""
        host = self.host
        subs = await host.persistence.get_subscriptions(ACTIVITY_EVENT, name, host.clock.now())
        for sub in subs:
            token = _Token(sub.workflow_id, sub.execution_pointer_id,
                           str((sub.subscription_data or {}).get("wait")), sub.id,
                           random_hex(16), name)
            if not await host.lock.acquire(token.lease, token.owner, host.activity_ttl):
                continue  # another worker holds it
            usable = await self.still_pending(sub, token)
            if usable:
                return PendingActivity(
                    token.text, name, (sub.subscription_data or {}).get("parameters"),
                    sub.workflow_id,
                )
            await host.lock.release(token.lease, token.owner)
        return None

    async def still_pending(self, sub: EventSubscription, token: _Token) -> bool:
        """Whether ``sub`` still stands for a wait (else it is ended, if it never will again);
        when it does, the token is taken: announced as ``ACTIVITY_TAKEN``."""
        host = self.host
        try:
            instance = await host.persistence.get_workflow(sub.workflow_id)
        except WorkflowNotFoundError:
            await host.persistence.terminate_subscription(sub.id)
            return False
        pointer = instance.execution_pointers.get(sub.execution_pointer_id)
        if instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED) or not (
            _waits_for(pointer, token.wait)
        ):
            await host.persistence.terminate_subscription(sub.id)  # spent: served or gone
            return False
        if instance.status is not WorkflowStatus.RUNNABLE:
            return False  # a suspended one waits its turn
        await announce(host, LifecycleEventType.ACTIVITY_TAKEN, instance, sub.execution_pointer_id, token.name)
        return True

    async def answer(self, token: str, answer: dict[str, Any]) -> None:
        parsed = _Token.parse(token)
        host = self.host
        if not await host.lock.renew(parsed.lease, parsed.owner, host.activity_ttl):
            raise ActivityTokenError(
                f"activity token {token!r} is no longer held: its lease ran out "
                f"(activity_ttl, {host.activity_ttl:g} s) or it was answered or released, and "
                "the activity went back to pending; take it again with get_pending_activity"
            )
        answer["wait"] = parsed.wait

        def check(instance: WorkflowInstance, pointer: ExecutionPointer | None) -> str | None:
            if instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED):
                return f"its workflow {instance.id} is {instance.status.value}"
            if not _waits_for(pointer, parsed.wait):
                return "it was answered already, or its step moved on (cancelled or retried)"
            return None

        try:
            instance = await answer_wait(
                host, parsed.workflow_id, parsed.pointer_id, check, answer,
                lambda why: ActivityTokenError(f"activity token {token!r} is refused: {why}"),
            )
        except WorkflowNotFoundError:
            raise ActivityTokenError(
                f"activity token {token!r} is refused: workflow {parsed.workflow_id} is gone"
            ) from None
        finally:
            await host.lock.release(parsed.lease, parsed.owner)
        await host.persistence.terminate_subscription(parsed.subscription_id)
        outcome = "succeeded" if answer.get("ok") else f"failed: {answer.get('error')}"
        await announce(host, LifecycleEventType.ACTIVITY_ANSWERED, instance, parsed.pointer_id,
                       f"{parsed.name} {outcome}")

    async def describe(self, instance: WorkflowInstance) -> list[ExternalWait]:
        """``instance``'s external waits; an activity's with its parameters and whether a
        worker holds its token."""
        found = []
        for wait in external_waits(instance):
            if wait.kind == "activity" and wait.activity is not None:
                held, parameters = await self.held(instance.id, wait.pointer_id, wait.activity)
                wait = attrs.evolve(wait, held=held, parameters=parameters)
            found.append(wait)
        return found

    async def held(self, workflow_id: str, pointer_id: str, name: str) -> tuple[bool | None, Any]:
        """Whether a worker holds the token of the activity ``pointer_id`` waits on, and the
        activity's parameters.

        Asks the lock by trying the lease for a moment (released at once when it was free);
        None when the lock cannot be asked (a store opened read-only).
        """
        host = self.host
        subs = await host.persistence.get_subscriptions(ACTIVITY_EVENT, name, _FAR_FUTURE)
        for sub in subs:
            if sub.workflow_id != workflow_id or sub.execution_pointer_id != pointer_id:
                continue
            parameters = (sub.subscription_data or {}).get("parameters")
            lease, owner = f"activity:{sub.id}", "probe-" + random_hex(12)
            try:
                if not await host.lock.acquire(lease, owner, min(host.activity_ttl, 1.0)):
                    return True, parameters
                await host.lock.release(lease, owner)
            except Exception:  # noqa: BLE001 - a read-only or unreachable lock: not known
                return None, parameters
            return False, parameters
        return None, None

    async def release(self, token: str) -> None:
        parsed = _Token.parse(token)
        await self.host.lock.release(parsed.lease, parsed.owner)
        # Pending again: a worker waiting for this name takes it at once.
        await self.host.queue.enqueue(QueueKind.activity(parsed.name), parsed.subscription_id)


def _waits_for(pointer: ExecutionPointer | None, wait: str) -> bool:
    return (
        is_waiting(pointer, ACTIVITY_EVENT)
        and pointer is not None
        and pointer.extension_attributes.get("activity_wait") == wait
    )
