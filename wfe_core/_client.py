"""``WorkflowClient``: start, find and steer workflows from a process that runs none.

A web application or a script that only starts workflows and publishes events should neither
import every definition nor take work from the shared queue. A client opens the hosts' stores
(``WorkflowHost.open_stores``), never runs a step, and starts a definition by id and version
without its code: the worker that has registered it builds the workflow and runs it. Until one
does, the workflow waits (runnable; ``wfe list`` shows it waiting for a worker).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ._definition import WorkflowDefinition
from ._host import WorkflowHost
from ._models import ExecutionError, HostRecord, WorkflowInstance, WorkflowStatus
from ._plugins import PluginHost
from .clock import Clock
from .errors import ConfigurationError
from .providers import LockProvider, PersistenceProvider, QueueProvider, SearchIndex, SearchPage

__all__ = ["WorkflowClient"]


class WorkflowClient:
    """The hosts' stores, for starting, finding and steering workflows; it runs nothing.

    Use it in an ``async with`` block, given the same store URLs as the workers::

        async with WorkflowClient(persistence="postgresql://db/app", lock="valkey://cache") as client:
            wid = await client.start_workflow("pizza", {"order_id": 7}, version=2)
            instance = await client.wait_for_workflow(wid)

    Args:
        persistence, lock, queue, search: as for :class:`~wfe_core.WorkflowHost`.
        definitions: definitions the client knows, so that it checks their data before it
            stores a start and gives back ``instance.data`` typed. Others are started by id
            and version, their data stored as given (JSON), and checked by the worker: data
            its type does not take suspends the workflow with an execution error saying why.
        plugins: a ``PluginHost`` to resolve URLs with.
        clock: where time comes from.
    """

    def __init__(
        self,
        persistence: str | PersistenceProvider,
        lock: str | LockProvider | None = None,
        queue: str | QueueProvider | None = None,
        search: str | SearchIndex | None = None,
        *,
        definitions: Iterable[WorkflowDefinition] = (),
        plugins: PluginHost | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.host = WorkflowHost(persistence, lock, queue, search, plugins=plugins, clock=clock)
        self.host.starts_unregistered = True
        for definition in definitions:
            self.host.register(definition)
        self._stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> WorkflowClient:
        if self._stack is not None:
            raise ConfigurationError("this client is open already")
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self.host.open_stores())
        self._stack = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def start_workflow(
        self,
        definition_id: str,
        data: Any = None,
        version: int | None = None,
        reference: str | None = None,
        *,
        description: str | None = None,
        priority: int | None = None,
    ) -> str:
        """Store a new workflow for the workers and queue it; returns its id.

        ``priority`` is its level, 0 (critical) to 7 (idle); without it, the definition's
        default when the client knows the definition, else 4.

        ``version=None`` takes the newest version a live host announces in its heartbeat (or
        the newest the client knows). A definition nobody runs yet is accepted with its
        version given, and waits.

        Raises:
            WorkflowNotRegisteredError: no version given, and no live host announces one.
            SerializationError: the data cannot be stored as JSON (or does not fit a
                definition the client knows).
            ValueError: ``priority`` is not an int from 0 to 7.
        """
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                    or version < 1):
            raise ConfigurationError(f"a definition's version is a whole number >= 1, not {version!r}")
        return await self.host.start_workflow(
            definition_id, data, version, reference, description=description, priority=priority
        )

    async def publish_event(
        self, event_name: str, event_key: str, data: Any = None,
        effective_date: datetime | None = None,
    ) -> str:
        """Publish an event (see :meth:`WorkflowHost.publish_event`)."""
        return await self.host.publish_event(event_name, event_key, data, effective_date)

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance:
        """The instance; its data typed when the client knows its definition, else plain JSON."""
        return await self.host.get_workflow(workflow_id)

    async def wait_for_workflow(self, workflow_id: str, timeout: float | None = 30.0) -> WorkflowInstance:
        """Wait until a worker has taken the workflow past runnable (see :class:`WorkflowHost`)."""
        return await self.host.wait_for_workflow(workflow_id, timeout)

    async def get_execution_errors(self, workflow_id: str) -> list[ExecutionError]:
        """What each failed step raised, oldest first."""
        return await self.host.get_execution_errors(workflow_id)

    async def search(
        self, terms: str = "", *, status: WorkflowStatus | None = None,
        definition_id: str | None = None, reference: str | None = None,
        created_after: datetime | None = None, created_before: datetime | None = None,
        skip: int = 0, take: int = 20,
    ) -> SearchPage:
        """Find workflows (see :meth:`WorkflowHost.search`)."""
        return await self.host.search(
            terms, status=status, definition_id=definition_id, reference=reference,
            created_after=created_after, created_before=created_before, skip=skip, take=take,
        )

    async def suspend_workflow(self, workflow_id: str) -> bool:
        return await self.host.suspend_workflow(workflow_id)

    async def resume_workflow(self, workflow_id: str) -> bool:
        return await self.host.resume_workflow(workflow_id)

    async def terminate_workflow(self, workflow_id: str) -> bool:
        return await self.host.terminate_workflow(workflow_id)

    async def list_hosts(self) -> list[HostRecord]:
        """The hosts that record heartbeats in these stores (see :meth:`WorkflowHost.list_hosts`)."""
        return await self.host.list_hosts()
