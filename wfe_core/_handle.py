"""``WorkflowHandle``: one started workflow, typed by its data.

``await host.start(definition, Order(...))`` returns a ``WorkflowHandle[Order]``, so that what
comes back (``await handle.wait()``, ``await handle.get()``) is a ``WorkflowInstance[Order]``
to the type checker, where the string-id calls (``start_workflow``, ``wait_for_workflow``)
give a ``WorkflowInstance`` of ``Any``. The host builds handles (``start_handle``); the handle
asks the host for the instance each time, so it holds no state of its own but the id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, cast

from ._typevars import D

if TYPE_CHECKING:
    from ._definition import WorkflowDefinition
    from ._models import WorkflowInstance

__all__ = ["WorkflowHandle"]


class _Workflows(Protocol):
    """What a handle uses of its host (``WorkflowHost`` is one)."""

    async def start_workflow(
        self,
        definition_id: str,
        data: Any = None,
        version: int | None = None,
        reference: str | None = None,
        *,
        description: str | None = None,
        timeout: timedelta | None = None,
    ) -> str: ...

    async def get_workflow(self, workflow_id: str) -> WorkflowInstance[Any]: ...

    async def wait_for_workflow(
        self, workflow_id: str, timeout: float | None = 30.0
    ) -> WorkflowInstance[Any]: ...


class WorkflowHandle(Generic[D]):
    """A started workflow whose data is a ``D``.

    Attributes:
        id: the workflow's id, for the string-id calls (``publish_event`` keys, ``wfe show``).
        definition: the definition it was started from.
    """

    __slots__ = ("_host", "definition", "id")

    def __init__(self, host: _Workflows, workflow_id: str, definition: WorkflowDefinition[D]) -> None:
        self._host = host
        self.id = workflow_id
        self.definition = definition

    async def get(self) -> WorkflowInstance[D]:
        """The workflow as it is now, its data rebuilt as a ``D``.

        Raises:
            WorkflowNotFoundError: it is gone (purged, or the store was reset).
        """
        return cast("WorkflowInstance[D]", await self._host.get_workflow(self.id))

    async def wait(self, timeout: float | timedelta | None = 30.0) -> WorkflowInstance[D]:
        """Wait until the workflow is no longer runnable and return it.

        Args:
            timeout: seconds (or a ``timedelta``) to wait; None waits for ever.

        Raises:
            TimeoutError: still runnable after ``timeout``.
            WorkflowNotFoundError: it is gone.
        """
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        return cast("WorkflowInstance[D]", await self._host.wait_for_workflow(self.id, timeout))

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.id!r}, definition={self.definition.id!r} v{self.definition.version})"


async def start_handle(
    host: _Workflows,
    definition: WorkflowDefinition[D],
    data: D | None,
    *,
    reference: str | None,
    description: str | None,
    timeout: timedelta | None,
) -> WorkflowHandle[D]:
    """Start a workflow of ``definition`` (its id and version) in ``host`` and hand it back.

    The definition is not registered here: which workflows a host runs is said by its
    ``register`` calls alone, and starting an unregistered one raises
    ``WorkflowNotRegisteredError`` as ``start_workflow`` does.
    """
    from ._definition import WorkflowDefinition  # at call time: _definition imports the steps

    if not isinstance(definition, WorkflowDefinition):
        raise TypeError(
            f"start(definition, data) takes a built WorkflowDefinition, not "
            f"{type(definition).__qualname__}; to start one by its id, call "
            "start_workflow(definition_id, data)"
        )
    workflow_id = await host.start_workflow(
        definition.id,
        data,
        definition.version,
        reference,
        description=description,
        timeout=timeout,
    )
    return WorkflowHandle(host, workflow_id, definition)
