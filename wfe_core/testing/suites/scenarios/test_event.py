"""2.15 EventScenario: event keys computed from the data, event data mapped into the data, two
waits one after the other (the first from "now", the second with no effective date)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus


@dataclass
class MyDataClass:
    str_value1: str = ""
    str_value2: str = ""


event_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .wait_for("MyEvent", lambda data: data.str_value1, lambda data: datetime.now(UTC))
    .output(str_value1=lambda step: step.event_data)
    .wait_for("MyEvent2", lambda data: data.str_value2)
    .output(str_value2=lambda step: step.event_data)
    .build("EventWorkflow", 1)
)


async def test_event(host, wait_for_subscription, error_count):
    host.register(event_workflow)
    event_key = str(uuid.uuid4())

    wid = await host.start_workflow(
        "EventWorkflow", MyDataClass(str_value1=event_key, str_value2=event_key)
    )
    await wait_for_subscription("MyEvent", event_key)
    await host.publish_event("MyEvent", event_key, "Pass1")
    await wait_for_subscription("MyEvent2", event_key)
    await host.publish_event("MyEvent2", event_key, "Pass2")
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert instance.data.str_value1 == "Pass1"
    assert instance.data.str_value2 == "Pass2"
