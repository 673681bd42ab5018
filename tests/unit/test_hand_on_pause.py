"""A host that hands a workflow on for lack of its definition, and gets it straight back from
its own queue readers (they hear of its enqueues first), pauses those readers so that a host
that has the definition takes it (``WorkflowRunner.note_hand_on``)."""

from __future__ import annotations

import time

from wfe import WorkflowHost
from wfe_core._runner import HAND_ON_AGAIN, HAND_ON_PAUSE


async def test_only_a_workflow_handed_on_again_soon_pauses_the_readers() -> None:
    async with WorkflowHost("memory://") as host:
        assert host._runtime is not None
        runner = host._runtime.runner
        runner.note_hand_on("w1")
        runner.note_hand_on("w2")  # another workflow: no pause
        assert runner.readers_pause_until == 0.0
        before = time.monotonic()
        runner.note_hand_on("w1")  # back within HAND_ON_AGAIN: taken again by this host
        assert before + HAND_ON_PAUSE <= runner.readers_pause_until <= time.monotonic() + HAND_ON_PAUSE
        # Hand-ons long past are forgotten: the record does not grow with every workflow.
        runner.handed_on = {"old": time.monotonic() - HAND_ON_AGAIN - 1}
        runner.note_hand_on("w3")
        assert list(runner.handed_on) == ["w3"]
