"""2.12 DynamicDataIOScenario: an output written as an action, into dictionary-backed data."""

from __future__ import annotations

from dataclasses import dataclass, field

from wfe import StepBody, WorkflowBuilder, WorkflowStatus


@dataclass
class MyDataClass:
    value1: int = 0
    value2: int = 0
    storage: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, key: str) -> int:
        return self.storage[key]

    def __setitem__(self, key: str, value: int) -> None:
        self.storage[key] = value


class AddNumbers(StepBody):
    input1: int = 0
    input2: int = 0
    output: int = 0

    def run(self, ctx):
        self.output = self.input1 + self.input2


def store_value3(step: AddNumbers, data: MyDataClass) -> None:
    data["Value3"] = step.output


dynamic_data_io_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(AddNumbers)
    .input(input1=lambda data: data.value1, input2=lambda data: data.value2)
    .output(store_value3)
    .build("DynamicDataIOWorkflow", 1)
)


async def test_dynamic_data_io(host, error_count):
    host.register(dynamic_data_io_workflow)

    wid = await host.start_workflow("DynamicDataIOWorkflow", MyDataClass(value1=2, value2=3))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert isinstance(instance.data, MyDataClass)
    assert instance.data["Value3"] == 5
