"""Continue-as-new: a workflow starts over from its first step with new data.

A step returns ``ExecutionResult.continue_as_new(data)`` (the builder's ``.continue_as_new(fn)``
adds a step that does); the executor's pass checks that the data can be stored and calls
:func:`continue_as_new`, which replaces the instance's pointers with a fresh first pointer. The
pass's write then asks the store to drop every pointer it has of the workflow
(``PassResult.replace_pointers``: ``changed_pointers=None``), so the stored size of a loop that
continues as new stays bounded however many times it goes round.
"""

from __future__ import annotations

from typing import Any

from ._apply import PassState
from ._deadline import DEADLINE_KEY
from ._models import ExecutionPointer, ExecutionPointers, PointerStatus
from ._primitives import Primitive
from ._step import ExecutionResult, StepExecutionContext

__all__ = ["ContinueAsNew", "continue_as_new"]


def continue_as_new(state: PassState, data: Any, text: str) -> None:
    """Start ``state``'s workflow over with ``data`` (``text``: the data as stored).

    Keeps the id, reference, creation time and deadline; the pointers so far are closed here
    (so nothing of this pass runs them again) and dropped from the store by the pass's write.
    What this pass subscribed to for the old pointers is dropped too.
    """
    old_first = state.pointers.first()
    deadline = old_first.extension_attributes.get(DEADLINE_KEY) if old_first is not None else None
    for pointer in state.pointers.open():
        state.pointers.close(pointer, state.now, PointerStatus.COMPLETE)
    first = ExecutionPointer(step_id=0, step_name=state.steps[0].name)
    if deadline is not None:
        first.extension_attributes[DEADLINE_KEY] = deadline
    pointers = ExecutionPointers([first])
    state.wf.execution_pointers = pointers
    state.pointers = pointers
    state.waiting_on.clear()
    state.wf.data = data
    result = state.result
    result.replace_pointers = True
    result.changed = {first.id}
    result.subscriptions = ()
    result.data_text = text


class ContinueAsNew(Primitive):
    """The builder's ``.continue_as_new(fn)``: continues as new with ``new_data`` (fn's answer)."""

    new_data: Any = None

    def run(self, ctx: StepExecutionContext) -> ExecutionResult:
        return ExecutionResult.continue_as_new(self.new_data)
