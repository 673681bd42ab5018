"""A workflow waiting on a worker or a person shows as such: in its waits, in search, in events.

``host.get_external_waits`` names the activity and whether a worker holds its token, or the
user task's prompt, assignee and options; search finds the workflow by ``awaiting-activity``
and the activity's name, or ``awaiting-user-task`` and the assignee, until it is answered; the
lifecycle events say when each opened, was taken and was answered.
"""

from __future__ import annotations

from wfe import LifecycleEvent, LifecycleEventType, WorkflowBuilder, WorkflowStatus

T = LifecycleEventType

baking = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .activity("bake-pizza", parameters=lambda d: {"size": d["size"]})
    .output(baked="result")
    .build("waits-activity", 1)
)

approving = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .user_task(
        "Approve the large order?",
        assigner="ann",
        options={
            "approve": lambda b: b.start_with(lambda ctx: ctx.data.update(result="approved")),
            "reject": lambda b: b.start_with(lambda ctx: ctx.data.update(result="rejected")),
        },
    )
    .build("waits-person", 1)
)


async def _found(host, terms: str) -> list[str]:
    return [s.id for s in (await host.search(terms)).items]


async def test_a_workflow_waiting_on_an_activity_shows_and_is_found_as_such(host, wait_until):
    events: list[LifecycleEvent] = []
    host.lifecycle.subscribe(events.append)
    host.register(baking)
    wid = await host.start_workflow("waits-activity", {"size": "large"})

    async def found(terms: str) -> bool:
        return wid in await _found(host, terms)

    await wait_until(lambda: found("awaiting-activity bake-pizza"), what="found as awaiting")
    [wait] = await host.get_external_waits(wid)
    assert (wait.kind, wait.activity, wait.parameters, wait.held) == (
        "activity", "bake-pizza", {"size": "large"}, False,
    )
    assert await _found(host, "awaiting-user-task") == []

    pending = await host.get_pending_activity("bake-pizza", "w1", timeout=20)
    assert pending is not None
    [wait] = await host.get_external_waits(wid)
    assert wait.held is True
    assert wait.summary(host.clock.now()) == "activity 'bake-pizza' (held by a worker)"
    await host.submit_activity_success(pending.token, "crisp")
    assert (await host.wait_for_workflow(wid)).status is WorkflowStatus.COMPLETE
    assert await host.get_external_waits(wid) == []

    async def not_found() -> bool:
        return wid not in await _found(host, "awaiting-activity")

    await wait_until(not_found, what="no longer found as awaiting once answered")
    assert wid in await _found(host, "crisp")
    mine = [(e.type, e.message) for e in events if e.workflow_id == wid and e.type in (
        T.ACTIVITY_PENDING, T.ACTIVITY_TAKEN, T.ACTIVITY_ANSWERED)]
    assert mine == [
        (T.ACTIVITY_PENDING, "bake-pizza"),
        (T.ACTIVITY_TAKEN, "bake-pizza"),
        (T.ACTIVITY_ANSWERED, "bake-pizza succeeded"),
    ]


async def test_a_workflow_waiting_on_a_person_shows_and_is_found_by_assignee(host, wait_until):
    events: list[LifecycleEvent] = []
    host.lifecycle.subscribe(events.append)
    host.register(approving)
    wid = await host.start_workflow("waits-person", {})

    async def found(terms: str) -> bool:
        return wid in await _found(host, terms)

    await wait_until(lambda: found("awaiting-user-task ann"), what="found by its assignee")
    [wait] = await host.get_external_waits(wid)
    assert (wait.kind, wait.prompt, wait.assigned_to, wait.options, wait.held) == (
        "user_task", "Approve the large order?", "ann", ("approve", "reject"), None,
    )
    assert wait.summary(host.clock.now()) == "person ann: 'Approve the large order?' [approve|reject]"
    assert await _found(host, "awaiting-activity") == []

    await host.publish_user_action(wait.key, "ann", "approve")
    assert (await host.wait_for_workflow(wid)).data["result"] == "approved"

    async def not_found() -> bool:
        return wid not in await _found(host, "awaiting-user-task")

    await wait_until(not_found, what="no longer found as awaiting once answered")
    mine = [(e.type, e.message) for e in events if e.workflow_id == wid and e.type in (
        T.USER_TASK_OPENED, T.USER_TASK_ANSWERED)]
    assert mine == [
        (T.USER_TASK_OPENED, wait.key),
        (T.USER_TASK_ANSWERED, f"{wait.key}: approve by ann"),
    ]
