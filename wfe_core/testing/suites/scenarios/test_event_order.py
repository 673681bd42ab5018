"""EventOrderScenario: events published before the workflow waits are still delivered, and
several matching events reach the waits oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus


@dataclass
class MyDataClass:
    value1: int = 0
    value2: int = 0
    value3: int = 0
    value4: int = 0
    value5: int = 0


def minute(m: int, s: int = 0) -> datetime:
    return datetime(2000, 1, 1, 0, m, s, tzinfo=UTC)


event_order_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .wait_for("OrderedEvent", lambda data: "", lambda data: minute(1))
    .output(value1=lambda step: step.event_data)
    .wait_for("OrderedEvent", lambda data: "", lambda data: minute(2))
    .output(value2=lambda step: step.event_data)
    .wait_for("OrderedEvent", lambda data: "", lambda data: minute(3))
    .output(value3=lambda step: step.event_data)
    .wait_for("OrderedEvent", lambda data: "", lambda data: minute(4))
    .output(value4=lambda step: step.event_data)
    .wait_for("OrderedEvent", lambda data: "", lambda data: minute(5))
    .output(value5=lambda step: step.event_data)
    .build("EventOrder", 1)
)


async def test_event_order(host, error_count):
    host.register(event_order_workflow)
    for n in range(1, 6):
        await host.publish_event("OrderedEvent", "", n, minute(n, 1))

    wid = await host.start_workflow("EventOrder", MyDataClass())
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    data = instance.data
    assert (data.value1, data.value2, data.value3, data.value4, data.value5) == (1, 2, 3, 4, 5)
