"""No input loops a workflow: whatever a step raises or leaves behind is a step failure.

Only a transient outage is retried without end; any other failure of a pass is a step failure,
recorded in ``get_execution_errors`` and sent through ``on_error``. The recorded message is made
safe for every store: an exception whose ``__str__`` raises is recorded by its type's name, lone
surrogates and NUL are escaped, and a long message is cut with a note of its length. Each case
runs on every store set (the ``host`` fixture); before these rules, each of them left its
workflow looping at the poller, or hung it with its lease held.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from wfe import ErrorBehavior, StepBody, WorkflowBuilder, WorkflowHost, WorkflowStatus

#: Each step appends its name here when its body runs.
CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()


async def _suspended_by(host: WorkflowHost, step: Any, name: str) -> tuple[Any, list[Any]]:
    """Run a one-step workflow that suspends on its first error; its instance and errors."""
    definition = WorkflowBuilder(dict).start_with(step).on_error(ErrorBehavior.suspend()).build(name)
    host.register(definition)
    wid = await host.start_workflow(name, {"kept": 1})
    instance = await host.wait_for_workflow(wid, timeout=15)
    return instance, await host.get_execution_errors(wid)


# -- messages every store can keep -------------------------------------------------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("no text for you")


class RaisesUnprintable(StepBody):
    async def run(self, ctx: Any) -> None:
        CALLS.append("unprintable")
        raise Unprintable()


async def test_an_exception_whose_str_raises_is_recorded_by_its_type_name(host: WorkflowHost) -> None:
    instance, errors = await _suspended_by(host, RaisesUnprintable, "unprintable")

    assert CALLS == ["unprintable"]
    assert instance.status is WorkflowStatus.SUSPENDED
    [error] = errors
    assert error.message.startswith("Unprintable")
    assert error.error_type == "Unprintable"


def _lone_surrogate() -> str:
    """Text with a lone surrogate, as a file name read with ``surrogateescape`` gives."""
    return b"caf\xff".decode("utf-8", "surrogateescape")


def _raises(message: str) -> Any:
    def step(ctx: Any) -> None:
        CALLS.append("raised")
        raise RuntimeError(message)

    return step


# Built inside the test: a lone surrogate in a parameter breaks pytest-xdist's reports.
MESSAGES = {
    "lone-surrogate": (lambda: f"bad name {_lone_surrogate()}", "bad name caf\\udcff"),
    "nul": (lambda: "before\x00after", "before\\x00after"),
    "both": (lambda: f"{_lone_surrogate()}\x00", "caf\\udcff\\x00"),
}


@pytest.mark.parametrize("kind", list(MESSAGES))
async def test_a_message_no_store_could_keep_is_stored_escaped(host: WorkflowHost, kind: str) -> None:
    make, stored = MESSAGES[kind]

    instance, errors = await _suspended_by(host, _raises(make()), f"escaped-{kind}")

    assert CALLS == ["raised"]
    assert instance.status is WorkflowStatus.SUSPENDED
    [error] = errors
    assert error.message == f"RuntimeError: {stored}"
    assert error.message.encode("utf-8")  # every store writes UTF-8


async def test_a_long_message_is_cut_with_a_note_of_its_length(host: WorkflowHost) -> None:
    message = "x" * 5_000_000

    instance, errors = await _suspended_by(host, _raises(message), "long-message")

    assert instance.status is WorkflowStatus.SUSPENDED
    [error] = errors
    assert len(error.message) < 10_000
    assert error.message.startswith("RuntimeError: xxxx")
    assert "5,000,014 characters" in error.message


# -- exceptions that asyncio treats specially ----------------------------------------------------


class RaisesStopIteration(StepBody):
    def run(self, ctx: Any) -> None:
        CALLS.append("stop-iteration")
        raise StopIteration


class RaisesGeneratorExit(StepBody):
    def run(self, ctx: Any) -> None:
        CALLS.append("generator-exit")
        raise GeneratorExit


@pytest.mark.parametrize(
    ("step", "type_name"),
    [(RaisesStopIteration, "StopIteration"), (RaisesGeneratorExit, "GeneratorExit")],
    ids=["stop-iteration", "generator-exit"],
)
async def test_a_sync_step_raising_a_generator_signal_is_a_step_failure(
    host: WorkflowHost, step: type[StepBody], type_name: str
) -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(step)
        .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=10), max_retries=1))
        .build(f"signal-{type_name}")
    )
    host.register(definition)

    wid = await host.start_workflow(definition.id, {"kept": 1})

    instance = await host.wait_for_workflow(wid, timeout=15)
    assert instance.status is WorkflowStatus.SUSPENDED
    assert len(CALLS) == 2  # ran, retried once, suspended: no loop
    errors = await host.get_execution_errors(wid)
    assert [e.error_type for e in errors[:2]] == [type_name] * 2
    assert "retries exhausted" in errors[2].message
    assert instance.data == {"kept": 1}


class Quick(StepBody):
    def run(self, ctx: Any) -> None:
        ctx.data["done"] = True


async def test_a_step_raising_stop_iteration_leaves_other_workflows_running(host: WorkflowHost) -> None:
    host.register(
        WorkflowBuilder(dict)
        .start_with(RaisesStopIteration)
        .on_error(ErrorBehavior.terminate())
        .build("stops-iterating")
    )
    host.register(WorkflowBuilder(dict).start_with(Quick).then(Quick).build("quick"))

    # Started together, their sync steps finish in the same batches of the thread hand-off.
    failing = [host.start_workflow("stops-iterating", {}) for _ in range(4)]
    quick = [host.start_workflow("quick", {}) for _ in range(12)]
    ids = await asyncio.gather(*failing, *quick)

    done = [await host.wait_for_workflow(wid, timeout=15) for wid in ids]
    assert [i.status for i in done[:4]] == [WorkflowStatus.TERMINATED] * 4
    assert [i.status for i in done[4:]] == [WorkflowStatus.COMPLETE] * 12


# -- answers a step gives that can never be kept ----------------------------------------------------


async def test_a_delay_function_returning_a_negative_period_is_a_step_failure(
    host: WorkflowHost,
) -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: None)
        .delay(lambda data: timedelta(seconds=-5))
        .on_error(ErrorBehavior.suspend())
        .then(lambda ctx: CALLS.append("after"))
        .build("negative-delay-fn")
    )
    host.register(definition)

    wid = await host.start_workflow("negative-delay-fn", {})

    instance = await host.wait_for_workflow(wid, timeout=15)
    assert instance.status is WorkflowStatus.SUSPENDED
    assert CALLS == []
    [error] = await host.get_execution_errors(wid)
    assert error.error_type == "ValueError"
    assert "negative" in error.message and "-1 day, 23:59:55" in error.message


@dataclass
class Typed:
    count: int = 0
    note: str = "default"


class ReplacesTypedData(StepBody):
    def run(self, ctx: Any) -> None:
        CALLS.append("replace")
        ctx.data = {"not": "a Typed"}


class ReplacesWithTyped(StepBody):
    def run(self, ctx: Any) -> None:
        ctx.data = Typed(count=ctx.data.count + 1, note="replaced")


async def test_typed_data_replaced_by_another_type_is_a_step_failure(host: WorkflowHost) -> None:
    definition = (
        WorkflowBuilder(Typed)
        .start_with(ReplacesTypedData)
        .on_error(ErrorBehavior.suspend())
        .build("typed-replaced")
    )
    host.register(definition)

    wid = await host.start_workflow("typed-replaced", Typed(count=3, note="kept"))

    instance = await host.wait_for_workflow(wid, timeout=15)
    assert instance.status is WorkflowStatus.SUSPENDED
    assert instance.data == Typed(count=3, note="kept")
    [error] = await host.get_execution_errors(wid)
    assert error.error_type == "TypeError"
    assert "dict" in error.message and "Typed" in error.message


async def test_typed_data_replaced_by_its_own_type_is_kept(host: WorkflowHost) -> None:
    host.register(WorkflowBuilder(Typed).start_with(ReplacesWithTyped).build("typed-kept"))

    wid = await host.start_workflow("typed-kept", Typed(count=3, note="kept"))

    instance = await host.wait_for_workflow(wid, timeout=15)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == Typed(count=4, note="replaced")


# -- a pass the store refuses for good ----------------------------------------------------------


async def test_a_pass_the_store_refuses_for_good_is_a_step_failure_not_a_loop(
    host: WorkflowHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that refuses a pass's write for a reason no retry fixes (here: any write of data
    holding "poison") would refuse it at every poll: the step that ran in it fails with the
    refusal instead, recorded, and its error behaviour (suspend) decides what follows."""
    from wfe.errors import ProviderError

    runs: list[str] = []

    def poison(ctx: Any) -> None:
        runs.append(ctx.workflow.id)
        ctx.data["poison"] = True

    definition = (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: None)
        .then(poison).on_error(ErrorBehavior.suspend())
        .build("refused-pass")
    )
    host.register(definition)
    persistence = host.persistence
    one, many = persistence.persist_workflow, persistence.persist_workflows

    def refuses(instance: Any) -> bool:
        return isinstance(instance.data, str) and '"poison"' in instance.data

    async def persist_workflow(instance: Any, **kwargs: Any) -> None:
        if refuses(instance):
            raise ProviderError("the store cannot keep this value (test)")
        await one(instance, **kwargs)

    async def persist_workflows(writes: Any) -> list[Exception | None]:
        outcomes: list[Exception | None] = [None] * len(writes)
        kept = [n for n, w in enumerate(writes) if not refuses(w.instance)]
        for n, w in enumerate(writes):
            if refuses(w.instance):
                outcomes[n] = ProviderError("the store cannot keep this value (test)")
        if kept:
            for n, outcome in zip(kept, await many([writes[n] for n in kept]), strict=True):
                outcomes[n] = outcome
        return outcomes

    monkeypatch.setattr(persistence, "persist_workflow", persist_workflow)
    monkeypatch.setattr(persistence, "persist_workflows", persist_workflows)
    wid = await host.start_workflow("refused-pass", {})
    instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.SUSPENDED
    assert "poison" not in instance.data  # the refused pass's change is not kept
    errors = await host.get_execution_errors(wid)
    assert len(errors) == 1
    assert "PassRefusedError" in errors[0].message and "cannot keep this value" in errors[0].message
    await asyncio.sleep(0.3)
    assert runs == [wid]  # ran once: not run and refused again and again
