"""2.8 DataIOScenario: typed input and output mappings; decimals and nested objects survive the
store exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from wfe import StepBody, WorkflowBuilder, WorkflowStatus

V4 = Decimal("1.235465673450897890")


@dataclass
class DataSubclass:
    value5: Decimal = Decimal(0)


@dataclass
class MyDataClass:
    value1: int = 0
    value2: int = 0
    value3: int = 0
    value4: Decimal = Decimal(0)
    sub_value: DataSubclass = field(default_factory=DataSubclass)


class AddNumbers(StepBody):
    input1: int = 0
    input2: int = 0
    output: int = 0

    def run(self, ctx):
        self.output = self.input1 + self.input2


data_io_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(AddNumbers)
    .input(input1=lambda data: data.value1, input2=lambda data: data.value2)
    .output(value3="output")
    .build("DataIOWorkflow", 1)
)


async def test_data_io(host, error_count):
    host.register(data_io_workflow)

    wid = await host.start_workflow(
        "DataIOWorkflow",
        MyDataClass(value1=2, value2=3, value4=V4, sub_value=DataSubclass(value5=V4)),
    )
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    data = instance.data
    assert isinstance(data, MyDataClass)
    assert data.value3 == 5
    assert data.value4 == V4
    # Exactly: same digits, trailing zero included, not a float's approximation.
    assert isinstance(data.value4, Decimal) and str(data.value4) == "1.235465673450897890"
    assert isinstance(data.sub_value, DataSubclass)
    assert str(data.sub_value.value5) == "1.235465673450897890"
