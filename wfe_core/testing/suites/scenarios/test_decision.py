"""2.9 DecisionScenario: decide on a value of the data; only the matching branch runs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wfe import StepBody, WorkflowBuilder, WorkflowStatus


@dataclass
class MyDataClass:
    op: str = ""
    value1: int = 0
    value2: int = 0
    value3: int = 0


class AddNumbers(StepBody):
    input1: int = 0
    input2: int = 0
    output: int = 0

    def run(self, ctx):
        self.output = self.input1 + self.input2


class SubtractNumbers(StepBody):
    input1: int = 0
    input2: int = 0
    output: int = 0

    def run(self, ctx):
        self.output = self.input1 - self.input2


def add_branch(b):
    return (
        b.start_with(AddNumbers)
        .input(input1=lambda d: d.value1, input2=lambda d: d.value2)
        .output(value3="output")
    )


def subtract_branch(b):
    return (
        b.start_with(SubtractNumbers)
        .input(input1=lambda d: d.value1, input2=lambda d: d.value2)
        .output(value3="output")
    )


decision_workflow = (
    WorkflowBuilder(MyDataClass)
    .decide(lambda data: data.op)
    .branch("+", add_branch)
    .branch("-", subtract_branch)
    .build("DecisionWorkflow", 1)
)


@pytest.mark.parametrize(("op", "expected"), [("+", 5), ("-", -1)], ids=["scenario1", "scenario2"])
async def test_decision(host, error_count, op, expected):
    host.register(decision_workflow)

    wid = await host.start_workflow("DecisionWorkflow", MyDataClass(op=op, value1=2, value2=3))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert instance.data.value3 == expected
