"""An event published on one host for a workflow another host ran to its wait.

The publishing host delivers a due event itself, at once: the waiting workflow goes on there
when that host has registered its definition, or is queued for a host that has. Both hosts
poll once an hour here, so a workflow that finishes was woken by a push, not found by a poll.
On ``memory://`` the second host is given the first one's providers (a memory store lives in
one host's objects); every other scheme opens the same URL again, as a second process would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe_core.testing import Stores

#: Longer than any test here: the poller never runs after the hosts start.
HOUR = 3600.0


def _definition(ran_on: list[Any]) -> Any:
    return (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: ran_on.append(("before", ctx.host)))
        .wait_for("parcel.arrived", lambda d: d["parcel"])
        .output(lambda step, data: data.update(arrived=step.event_data))
        .then_fn(lambda ctx: ran_on.append(("after", ctx.host)))
        .build("parcel", 1)
    )


@pytest.fixture
def second_host(stores: Stores) -> Callable[[WorkflowHost], Any]:
    """``async with second_host(first) as other``: another host on the first one's store."""

    @asynccontextmanager
    async def make(first: WorkflowHost) -> AsyncIterator[WorkflowHost]:
        if stores.set.persistence == "memory":
            other = WorkflowHost(first.persistence, first.lock, first.queue, first.search_index,
                                 poll_interval=HOUR)
        else:
            other = stores.host(poll_interval=HOUR)
        async with other:
            yield other

    return make


@pytest.fixture
def poll_interval() -> float:
    return HOUR


async def _waiting(host: WorkflowHost, ran_on: list[Any], wait_for_subscription: Any) -> str:
    host.register(_definition(ran_on))
    wid = await host.start_workflow("parcel", {"parcel": "p-1"})
    await wait_for_subscription("parcel.arrived", "p-1")
    return wid


async def test_the_publishing_host_runs_the_step_after_the_wait(
    host: WorkflowHost, second_host: Any, wait_for_subscription: Any
) -> None:
    ran_on: list[Any] = []
    wid = await _waiting(host, ran_on, wait_for_subscription)
    async with second_host(host) as other:
        other.register(_definition(ran_on))
        await other.publish_event("parcel.arrived", "p-1", {"dock": 4})
        done = await other.wait_for_workflow(wid, timeout=30)
    assert done.status is WorkflowStatus.COMPLETE
    assert done.data["arrived"] == {"dock": 4}
    assert ran_on == [("before", host), ("after", other)]


async def test_a_host_without_the_definition_hands_the_woken_workflow_to_one_with_it(
    host: WorkflowHost, second_host: Any, wait_for_subscription: Any
) -> None:
    ran_on: list[Any] = []
    wid = await _waiting(host, ran_on, wait_for_subscription)
    async with second_host(host) as other:  # registers nothing: a publisher only
        await other.publish_event("parcel.arrived", "p-1", {"dock": 7})
        done = await host.wait_for_workflow(wid, timeout=30)
    assert done.status is WorkflowStatus.COMPLETE
    assert done.data["arrived"] == {"dock": 7}
    assert ran_on == [("before", host), ("after", host)]
    assert await host.persistence.get_subscriptions("parcel.arrived", "p-1", done.create_time) == []
