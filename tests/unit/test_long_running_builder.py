"""The builder's options for long-running work: step timeouts, wait timeouts, workflow
deadlines, priorities and continue-as-new; bad values are listed by ``build()``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wfe import WorkflowBuilder
from wfe.errors import DefinitionError


def noop(ctx: object) -> None:
    return None


def test_timeout_is_kept_on_the_step() -> None:
    definition = WorkflowBuilder().start_with(noop).timeout(timedelta(seconds=5)).then(noop).build("t")
    assert definition.steps[0].timeout == timedelta(seconds=5)
    assert definition.steps[1].timeout is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (timedelta(0), "must be more than zero"),
        (timedelta(seconds=-1), "must not be negative"),
        (5, "must be a timedelta"),
    ],
)
def test_a_bad_step_timeout_is_a_definition_problem(value: object, words: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        WorkflowBuilder().start_with(noop).timeout(value).build("t")  # type: ignore[arg-type]
    assert words in str(caught.value)
    assert "give a positive timedelta" in str(caught.value)


def test_wait_for_takes_a_timeout() -> None:
    definition = WorkflowBuilder().start_with(noop).wait_for("e", "k", timeout=timedelta(minutes=1)).build("w")
    assert ("timeout", timedelta(minutes=1)) in definition.steps[1].inputs
    with pytest.raises(DefinitionError, match="the timeout of wait_for 'e' must be a timedelta"):
        WorkflowBuilder().start_with(noop).wait_for("e", "k", timeout=3).build("w")  # type: ignore[arg-type]


def test_a_definition_takes_a_workflow_timeout() -> None:
    definition = WorkflowBuilder(timeout=timedelta(hours=2)).start_with(noop).build("d")
    assert definition.timeout == timedelta(hours=2)
    assert WorkflowBuilder().start_with(noop).build("d").timeout is None
    with pytest.raises(DefinitionError, match="the workflow timeout must be more than zero"):
        WorkflowBuilder(timeout=timedelta(0)).start_with(noop).build("d")


async def test_start_workflow_refuses_a_bad_timeout_and_stores_nothing() -> None:
    from wfe import WorkflowHost

    async with WorkflowHost() as host:
        host.register(WorkflowBuilder().start_with(noop).build("d"))
        with pytest.raises(ValueError, match="timeout of start_workflow must not be negative"):
            await host.start_workflow("d", timeout=timedelta(seconds=-1))
        with pytest.raises(ValueError, match="must be a timedelta"):
            await host.start_workflow("d", timeout=30)  # type: ignore[arg-type]
        assert (await host.search()).total == 0
