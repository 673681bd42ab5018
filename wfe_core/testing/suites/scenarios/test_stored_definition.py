"""2.32 StoredJsonScenario and 2.33 StoredYamlScenario, as fluent definitions of the same shape.

wfe has no JSON/YAML loader; what those scenarios pin down besides loading is ported here:
inputs and outputs written as expressions, an if whose body runs three branches in parallel
(built with ``parallel`` inside ``if_do``), a cancel condition with and without
proceed-after-cancel (a cancelled wait blocks its branch unless it proceeds), a decision routed
with ``branch``, and dictionary-backed data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from wfe import ErrorBehavior, StepBody, WorkflowBuilder, WorkflowStatus


@dataclass
class CounterBoard:
    counter1: int = 0
    counter2: int = 0
    counter3: int = 0
    counter4: int = 0
    counter5: int = 0
    counter6: int = 0
    counter7: int = 0
    counter8: int = 0
    counter9: int = 0
    counter10: int = 0
    flag1: bool = False
    flag2: bool = False
    flag3: bool = False


class Counter(StepBody):
    value: int = 0

    def run(self, ctx):
        self.value += 1


def count(builder: Any, n: int, *, first: bool = False) -> Any:
    """A Counter step on ``counterN``: ``in: value <- data.counterN``, ``out: counterN <- value``."""
    step = builder.start_with(Counter) if first else builder.then(Counter)
    return step.input(value=lambda data: getattr(data, f"counter{n}")).output(
        **{f"counter{n}": "value"}
    )


def now(data: Any) -> datetime:
    return datetime.now(UTC)


def three_branches(then: Any) -> Any:
    return then.parallel(
        lambda p: p.branch(lambda b: count(count(b, 3, first=True), 4))
        .branch(
            lambda b: count(
                b.wait_for("Event1", "Key1", now).cancel_condition(lambda data: data.flag2), 5
            )
        )
        .branch(
            lambda b: count(
                b.wait_for("Event1", "Key1", now).cancel_condition(
                    lambda data: data.flag2, proceed_after_cancel=True
                ),
                10,
            )
        )
    )


def stored_shape(decide: bool) -> Any:
    step = count(WorkflowBuilder(CounterBoard), 1, first=True).on_error(ErrorBehavior.retry())
    step = count(step, 2).if_do(lambda data: data.flag1, three_branches)
    step = count(step, 6)
    if decide:
        step = step.decide(lambda data: data.flag3).branch(
            True, lambda b: count(b, 7, first=True)
        ).branch(False, lambda b: count(b, 8, first=True))
    return step


json_definition = stored_shape(decide=True).build("Test", 1)
yaml_definition = stored_shape(decide=False).build("TestYaml", 1)


def counters(data: CounterBoard) -> dict[int, int]:
    return {n: getattr(data, f"counter{n}") for n in (1, 2, 3, 4, 5, 6, 7, 8, 10)}


@pytest.mark.parametrize(
    ("flag3", "outcome1", "outcome2"), [(True, 1, 0), (False, 0, 1)], ids=["branch1", "branch2"]
)
async def test_should_execute_branch(host, error_count, flag3, outcome1, outcome2):
    host.register(json_definition)

    wid = await host.start_workflow("Test", CounterBoard(flag1=True, flag2=True, flag3=flag3))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert counters(instance.data) == {
        1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 1, 7: outcome1, 8: outcome2, 10: 1,
    }  # fmt: skip


async def test_should_execute_yaml_shape(host, error_count):
    host.register(yaml_definition)

    wid = await host.start_workflow("TestYaml", CounterBoard(flag1=True, flag2=True))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert counters(instance.data) == {
        1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 1, 7: 0, 8: 0, 10: 1,
    }  # fmt: skip


# -- stored-dynamic-definition.json: the same steps 1..4 over a plain dict ---------------------


def count_key(builder: Any, n: int, *, first: bool = False) -> Any:
    step = builder.start_with(Counter) if first else builder.then(Counter)
    return step.input(value=lambda data: data.get(f"Counter{n}")).output(**{f"Counter{n}": "value"})


def three_dynamic_branches(then: Any) -> Any:
    flag2 = lambda data: data.get("Flag2") is True
    return then.parallel(
        lambda p: p.branch(lambda b: count_key(count_key(b, 3, first=True), 4))
        .branch(lambda b: count_key(b.wait_for("Event1", "Key1", now).cancel_condition(flag2), 5))
        .branch(
            lambda b: count_key(
                b.wait_for("Event1", "Key1", now).cancel_condition(flag2, proceed_after_cancel=True),
                10,
            )
        )
    )


dynamic_definition = count_key(
    count_key(WorkflowBuilder(dict), 1, first=True).on_error(ErrorBehavior.retry()), 2
)
dynamic_definition = count_key(
    dynamic_definition.if_do(lambda data: data.get("Flag1") is True, three_dynamic_branches), 6
).build("DynamicTest", 1)


async def test_should_execute_workflow_with_dynamic_data(host, error_count):
    host.register(dynamic_definition)
    data: dict[str, Any] = {"Flag1": True, "Flag2": True}
    data.update({f"Counter{n}": 0 for n in (1, 2, 3, 4, 5, 6, 10)})

    wid = await host.start_workflow("DynamicTest", data)
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert {n: instance.data[f"Counter{n}"] for n in (1, 2, 3, 4, 5, 6, 10)} == {
        1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 1, 10: 1,
    }  # fmt: skip
