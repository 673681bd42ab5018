"""Workflow priority: the levels, the check of a given level, and the aging rule.

Eight levels, 0 (critical) to 7 (idle), 4 by default. A workflow's level is stored with its
instance (``WorkflowInstance.priority``); the host passes it with every enqueue of the
workflow, and every provider serves ready work by its *rank*:

    rank = the time the item became ready (seconds) + level * PRIORITY_AGING

lowest rank first. Read one way, that is "highest priority first, then the one waiting
longest"; read the other, an item gains one level for every ``PRIORITY_AGING`` seconds it
waits, so a level-7 item that waited ``7 * PRIORITY_AGING`` seconds goes before a level-0
item that just arrived: no level starves for good, however busy the ones above it are.
One number per item, fixed when it arrives, so an index (SQL), a sorted set (Valkey) or a heap
(memory and the host's own waiting line) keeps the order without re-sorting as time passes.

Callers: ``WorkflowHost`` (start, ``set_priority``), the builder (a definition's default),
``Capacity`` (its waiting line), the runtime's enqueues (``enqueue_workflow``) and every
queue provider (``queue_rank``).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # providers re-exports this module's constants: imported late
    from .providers import QueueProvider

__all__ = [
    "DEFAULT_PRIORITY",
    "HIGHEST_PRIORITY",
    "LOWEST_PRIORITY",
    "PRIORITY_AGING",
    "Priorities",
    "check_priority",
    "enqueue_workflow",
    "priority_problem",
    "queue_rank",
]

#: The most urgent level.
HIGHEST_PRIORITY = 0
#: The least urgent level ("idle").
LOWEST_PRIORITY = 7
#: The level of a workflow nobody gave one.
DEFAULT_PRIORITY = 4
#: Seconds of waiting worth one level (see the module docstring): a level-7 item waits at
#: most seven minutes longer than level-0 work arriving after it.
PRIORITY_AGING = 60.0


def priority_problem(value: object, what: str) -> str | None:
    """What is wrong with ``value`` as a priority level (None: nothing)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if HIGHEST_PRIORITY <= value <= LOWEST_PRIORITY:
            return None
        shown = repr(value)
    else:
        shown = f"{value!r} (a {type(value).__qualname__})"
    return (
        f"{what} must be an int from {HIGHEST_PRIORITY} (critical) to {LOWEST_PRIORITY} (idle), "
        f"not {shown}; {DEFAULT_PRIORITY} is the default"
    )


def check_priority(value: object, what: str) -> int:
    """``value`` as a level, or ValueError naming ``what`` and the allowed range."""
    problem = priority_problem(value, what)
    if problem is not None:
        raise ValueError(problem)
    return value  # type: ignore[return-value]


def queue_rank(priority: int, ready: float, aging: float = PRIORITY_AGING) -> float:
    """The rank of an item of level ``priority`` ready at ``ready`` (seconds): lowest first."""
    return ready + priority * aging


# Queue classes whose ``enqueue`` takes ``priority`` (a third-party queue written before
# priorities keeps working: it gets the id alone, and serves it in its own order).
_TAKES_PRIORITY: dict[type, bool] = {}


def _takes_priority(queue: Any) -> bool:
    cls = type(queue)
    known = _TAKES_PRIORITY.get(cls)
    if known is None:
        try:
            parameters = inspect.signature(queue.enqueue).parameters
        except (TypeError, ValueError):
            known = False
        else:
            known = "priority" in parameters or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
            )
        _TAKES_PRIORITY[cls] = known
    return known


async def enqueue_workflow(queue: QueueProvider, workflow_id: str, priority: int) -> None:
    """Queue a workflow at its level (alone, for a queue whose ``enqueue`` has no ``priority``)."""
    from .providers import QueueKind

    if priority != DEFAULT_PRIORITY and _takes_priority(queue):
        await queue.enqueue(QueueKind.WORKFLOW, workflow_id, priority=priority)
    else:
        await queue.enqueue(QueueKind.WORKFLOW, workflow_id)


class Priorities:
    """The levels of workflows this host has seen, for the enqueues that have only an id (a
    timer that fired, the poller): only levels other than the default are kept, so a host whose
    workflows all have the default keeps nothing. Bounded: the oldest are forgotten first (a
    forgotten one is queued at the default level, and runs all the same)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._levels: dict[str, int] = {}

    def note(self, workflow_id: str, priority: int) -> None:
        levels = self._levels
        if priority != DEFAULT_PRIORITY:
            if len(levels) >= self.limit and workflow_id not in levels:
                del levels[next(iter(levels))]
            levels[workflow_id] = priority
        elif levels:
            levels.pop(workflow_id, None)

    def forget(self, workflow_id: str) -> None:
        if self._levels:
            self._levels.pop(workflow_id, None)

    def of(self, workflow_id: str) -> int:
        return self._levels.get(workflow_id, DEFAULT_PRIORITY)
