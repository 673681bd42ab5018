"""2.29 UserScenario and what wfe adds: a person decides, the chosen option's body runs.

A user task lists as open (per workflow, and across workflows by assignee) with its prompt,
assignee and options; answering with one option runs that option's body and the workflow goes
on after it. A value that is not an option is refused with the options listed, a second answer
is refused, and an escalation reassigns the task once its time has passed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from wfe import WorkflowBuilder, WorkflowStatus
from wfe.errors import UserActionError

approval = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .user_task(
        lambda d: f"Approve an order of {d['amount']}?",
        assigner=lambda d: d["manager"],
        options={
            "approve": lambda b: b.start_with(lambda ctx: ctx.data.update(result="approved")),
            "reject": lambda b: b.start_with(lambda ctx: ctx.data.update(result="rejected")),
        },
    )
    .escalate(after=timedelta(hours=1), to="director")
    .then_fn(lambda ctx: ctx.data.update(after=True))
    .build("approval", 1)
)


async def test_user_task_lists_refuses_wrong_answers_and_runs_the_chosen_option(host, wait_until):
    host.register(approval)
    wid = await host.start_workflow("approval", {"amount": 900, "manager": "ann"})
    other = await host.start_workflow("approval", {"amount": 5, "manager": "bob"})

    async def opened() -> bool:
        return len(await host.list_open_user_actions()) == 2

    await wait_until(opened, what="two open user tasks")
    [action] = await host.get_open_user_actions(wid)
    assert action.prompt == "Approve an order of 900?"
    assert action.assigned_to == "ann"
    assert action.options == ["approve", "reject"]
    assert action.workflow_id == wid and not action.escalated
    assert [a.workflow_id for a in await host.list_open_user_actions(assignee="bob")] == [other]

    with pytest.raises(UserActionError, match="not an option .* choose one of: approve, reject"):
        await host.publish_user_action(action.key, "ann", "maybe")
    await host.publish_user_action(action.key, "ann", "approve")
    instance = await host.wait_for_workflow(wid)
    with pytest.raises(UserActionError, match="is closed"):
        await host.publish_user_action(action.key, "ann", "reject")

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["result"] == "approved" and instance.data["after"] is True
    assert await host.get_open_user_actions(wid) == []
    assert [a.workflow_id for a in await host.list_open_user_actions()] == [other]


async def test_an_unanswered_task_escalates_after_its_time(stores):
    from wfe import FakeClock

    clock = FakeClock()
    async with stores.host(clock=clock) as host:
        host.register(approval)
        wid = await host.start_workflow("approval", {"amount": 1, "manager": "ann"})
        for _ in range(1000):  # real time: the fake clock only moves when told
            if await host.get_open_user_actions(wid):
                break
            await asyncio.sleep(0.01)
        [before] = await host.get_open_user_actions(wid)
        clock.advance(timedelta(hours=1, seconds=1))
        [after] = await host.get_open_user_actions(wid)
        assert (before.assigned_to, after.assigned_to, after.escalated) == ("ann", "director", True)
        assert [a.key for a in await host.list_open_user_actions(assignee="director")] == [after.key]
        await host.publish_user_action(after.key, "director", "reject")
        instance = await host.wait_for_workflow(wid)
    assert instance.data["result"] == "rejected"


def test_a_user_task_without_options_is_a_definition_error():
    from wfe.errors import DefinitionError

    with pytest.raises(DefinitionError, match="needs options"):
        WorkflowBuilder(dict).start_with(lambda ctx: None).user_task("ok?").build("x", 1)
