"""Middleware: code the host runs around every step and at each end of every workflow.

``WorkflowHost(middleware=[...])`` takes objects that define any of three async methods:

* ``step(self, ctx, call_next)`` wraps every run of a user step (a ``StepBody`` or a function;
  not the engine's own control-flow steps: containers, waits, delays). ``await call_next()``
  runs the rest of the chain and the body and returns what it returned; a middleware may time
  it, set context around it, call it again, or refuse by raising. Whatever it raises is that
  step's failure, handled by the step's error behaviour like an error of the body.
* ``pre_workflow(self, instance)`` runs before a new workflow is stored, so before its first
  pass; it may change ``instance.data``. What it raises fails the start: nothing is stored.
* ``post_workflow(self, instance)`` runs after a workflow completes or is terminated, on the
  host that ran its last pass (or terminated it). What it raises is logged with the
  workflow's id and changes nothing; a host that dies at that moment skips it (at most once).

Middleware runs in the order given, the first outermost. The host holds one
:class:`MiddlewareChain`; the step invoker (``_invoke``) wraps its calls with it only when some
middleware has a ``step`` method, so a host without middleware pays nothing per step.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._models import WorkflowInstance
from ._step import StepExecutionContext
from ._telemetry import log_fields
from .errors import ConfigurationError

__all__ = ["HOOKS", "MiddlewareChain"]

log = logging.getLogger("wfe.middleware")

#: The methods a middleware may define.
HOOKS = ("step", "pre_workflow", "post_workflow")

#: Runs a step body: ``call(step, body, ctx)`` (``StepInvoker.call``'s signature).
StepCall = Callable[[Any, Any, StepExecutionContext], Awaitable[Any]]


class MiddlewareChain:
    """The host's middleware, checked, with each hook's implementers in order.

    Args:
        items: the middleware objects, outermost first.

    Raises:
        ConfigurationError: an item defines none of :data:`HOOKS`, or defines one that is not
            an ``async def`` method; the message names the item and what to write.
    """

    def __init__(self, items: Sequence[object]) -> None:
        problems: list[str] = []
        for item in items:
            found = [name for name in HOOKS if callable(getattr(item, name, None))]
            if not found:
                problems.append(
                    f"{item!r} defines none of {', '.join(HOOKS)}; give an object with at "
                    "least one of these async methods"
                )
            for name in found:
                if not inspect.iscoroutinefunction(getattr(item, name)):
                    problems.append(f"{item!r}.{name} must be an async def method")
        if problems:
            raise ConfigurationError("middleware: " + "; ".join(problems))
        self.items = list(items)
        self.step_hooks = [item.step for item in items if callable(getattr(item, "step", None))]  # type: ignore[attr-defined]
        self.pre = [m.pre_workflow for m in items if callable(getattr(m, "pre_workflow", None))]  # type: ignore[attr-defined]
        self.post = [m.post_workflow for m in items if callable(getattr(m, "post_workflow", None))]  # type: ignore[attr-defined]

    def wrap(self, call: StepCall) -> StepCall:
        """``call`` with the ``step`` hooks around it, for user steps (primitives go straight)."""
        hooks = self.step_hooks

        async def wrapped(step: Any, body: Any, ctx: StepExecutionContext) -> Any:
            if step.is_primitive:
                return await call(step, body, ctx)

            async def at(index: int) -> Any:
                if index == len(hooks):
                    return await call(step, body, ctx)
                return await hooks[index](ctx, lambda: at(index + 1))

            return await at(0)

        return wrapped

    async def pre_workflow(self, instance: WorkflowInstance) -> None:
        """Run every ``pre_workflow`` in order; what one raises propagates (the start fails)."""
        for hook in self.pre:
            await hook(instance)

    async def post_workflow(self, instance: WorkflowInstance) -> None:
        """Run every ``post_workflow`` in order; what one raises is logged, and the rest run."""
        for hook in self.post:
            try:
                await hook(instance)
            except Exception:
                log.exception(
                    "workflow %s: post_workflow middleware %r failed; the workflow is not "
                    "affected", instance.id, getattr(hook, "__self__", hook),
                    extra=log_fields(instance.id, instance.definition_id),
                )
