"""CancelledEventScenario: a true cancel condition cancels a waiting step and its branch; the
event that arrives later for the cancelled wait is ignored."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus

fired: dict[str, bool] = {}


@pytest.fixture(autouse=True)
def reset_flags() -> None:
    fired.update(event1=False, event2=False)


@dataclass
class MyDataClass:
    str_value: str | None = None


def workflow_id(data, ctx):
    return ctx.workflow.id


def has_value(data) -> bool:
    return bool(data.str_value)


def fire(name: str):
    def step(ctx):
        fired[name] = True

    return step


def waiting_branch(event_name: str, flag: str):
    return lambda b: (
        b.start_with(lambda ctx: ExecutionResult.next())
        .wait_for(event_name, workflow_id)
        .cancel_condition(has_value)
        .output(str_value=lambda step: step.event_data)
        .then(fire(flag))
    )


cancelled_event_workflow = (
    WorkflowBuilder(MyDataClass)
    .start_with(lambda ctx: ExecutionResult.next())
    .parallel(
        lambda p: p.branch(waiting_branch("Event1", "event1")).branch(waiting_branch("Event2", "event2"))
    )
    .wait_for("Event3", workflow_id)
    .build("CancelledEventWorkflow", 1)
)


async def test_cancelled_event(host, wait_for_subscription, error_count):
    host.register(cancelled_event_workflow)

    wid = await host.start_workflow("CancelledEventWorkflow", MyDataClass())
    await wait_for_subscription("Event1", wid)
    await wait_for_subscription("Event2", wid)
    await host.publish_event("Event2", wid, "Pass")
    await wait_for_subscription("Event3", wid)
    await host.publish_event("Event1", wid, "Fail")
    await host.publish_event("Event3", wid, None)
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert instance.data.str_value == "Pass"
    assert fired["event1"] is False
    assert fired["event2"] is True
