"""2.1 ActivityScenario and what wfe adds: steps whose work an outside worker does.

A workflow hands ``parameters`` to an activity by name and waits; a worker takes it with
``get_pending_activity`` (the wait pushes it, so a waiting worker returns at once), answers
with a token, and the result goes into the data. A failure goes through the step's
``on_error``; a late or second answer is refused; a token given back or left to expire goes
to the next worker.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from wfe import ErrorBehavior, WorkflowBuilder, WorkflowStatus
from wfe.errors import ActivityTokenError

activity_workflow = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .activity("get-approval", parameters=lambda d: {"amount": d["amount"]})
    .output(approved="result")
    .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=10), max_retries=2))
    .then_fn(lambda ctx: ctx.data.update(done=True))
    .build("activity-flow", 1)
)


async def test_activity_round_trip_with_a_waiting_worker(host):
    host.register(activity_workflow)
    waiting = asyncio.ensure_future(host.get_pending_activity("get-approval", "w1", timeout=20))
    await asyncio.sleep(0.05)  # the worker is waiting before the step is due: pushed to it
    wid = await host.start_workflow("activity-flow", {"amount": 120})
    pending = await waiting

    assert pending is not None
    assert (pending.name, pending.parameters, pending.workflow_id) == (
        "get-approval", {"amount": 120}, wid,
    )
    assert await host.get_pending_activity("get-approval", "w2", timeout=0) is None  # held
    await host.submit_activity_success(pending.token, {"by": "ann"})
    instance = await host.wait_for_workflow(wid)

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["approved"] == {"by": "ann"}
    assert instance.data["done"] is True
    with pytest.raises(ActivityTokenError, match="no longer held"):
        await host.submit_activity_success(pending.token, {"by": "bob"})  # never applied twice
    assert (await host.get_workflow(wid)).data["approved"] == {"by": "ann"}


async def test_a_failure_goes_through_on_error_and_a_late_answer_is_refused(host):
    host.register(activity_workflow)
    wid = await host.start_workflow("activity-flow", {"amount": 5})
    first = await host.get_pending_activity("get-approval", "w1", timeout=20)
    assert first is not None
    await host.submit_activity_failure(first.token, "the approver is away")
    second = await host.get_pending_activity("get-approval", "w1", timeout=20)  # the retry
    assert second is not None and second.token != first.token
    with pytest.raises(ActivityTokenError):
        await host.submit_activity_success(first.token, "late")
    await host.submit_activity_success(second.token, "yes")
    instance = await host.wait_for_workflow(wid)

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["approved"] == "yes"
    errors = await host.get_execution_errors(wid)
    assert [e.message for e in errors] == [
        "ActivityFailedError: activity 'get-approval' failed: the approver is away"
    ]


async def test_a_released_or_expired_token_goes_to_the_next_worker(stores):
    async with stores.host(activity_ttl=0.3) as host:
        host.register(activity_workflow)
        wid = await host.start_workflow("activity-flow", {"amount": 1})
        taken = await host.get_pending_activity("get-approval", "w1", timeout=20)
        assert taken is not None
        await host.release_activity_token(taken.token)
        again = await host.get_pending_activity("get-approval", "w2", timeout=20)
        assert again is not None and again.workflow_id == wid
        # w2 dies holding it: after activity_ttl, a waiting worker gets it
        third = await host.get_pending_activity("get-approval", "w3", timeout=20)
        assert third is not None and third.token != again.token
        with pytest.raises(ActivityTokenError, match="no longer held"):
            await host.submit_activity_success(again.token, "stale")
        await host.submit_activity_success(third.token, "fresh")
        instance = await host.wait_for_workflow(wid)
    assert instance.data["approved"] == "fresh"


async def test_a_bad_token_is_refused_naming_what_to_pass(host):
    with pytest.raises(ActivityTokenError, match="not an activity token"):
        await host.submit_activity_success("nonsense", 1)


def test_an_activity_without_a_name_is_a_definition_error():
    from wfe.errors import DefinitionError

    with pytest.raises(DefinitionError, match="needs a name"):
        WorkflowBuilder(dict).start_with(lambda ctx: None).activity("").build("x", 1)


async def test_an_activity_worker_runs_the_work_and_answers(host):
    from wfe_core._activity_worker import ActivityWorker

    host.register(activity_workflow)

    async def approve(parameters):
        if parameters["amount"] > 100:
            raise ValueError("too much")
        return {"ok": parameters["amount"]}

    async with ActivityWorker(host, "get-approval", approve, concurrency=2) as worker:
        small = await host.start_workflow("activity-flow", {"amount": 7})
        large = await host.start_workflow("activity-flow", {"amount": 700})
        done = await host.wait_for_workflow(small)
        failed = await host.wait_for_workflow(large)
    assert done.data["approved"] == {"ok": 7}
    assert failed.status is WorkflowStatus.SUSPENDED  # its retries used up
    assert worker.done == 4  # one answer, and the large one's three failures
    messages = [e.message for e in await host.get_execution_errors(large)]
    assert messages[0] == "ActivityFailedError: activity 'get-approval' failed: ValueError: too much"
