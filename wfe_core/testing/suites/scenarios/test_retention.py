"""Retention and purge: finished workflows deleted for good, with what they own.

``host.purge_workflows(older_than=...)`` deletes complete and terminated workflows that
completed before the cutoff, with their errors, subscriptions and search entries (the search
sees them no more, whatever index the store set uses: in the store, or fed from its outbox);
running and suspended ones stay. A host made with ``retention=`` does the same in the
background. Time is a ``FakeClock`` moved by hand.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from wfe import WorkflowBuilder, WorkflowStatus
from wfe.errors import WorkflowNotFoundError
from wfe_core.testing import FakeClock

HOUR = timedelta(hours=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def fails_once(ctx):
    if ctx.pointer.retry_count == 0:
        raise ValueError("first try fails")


quick = WorkflowBuilder().start_with(fails_once).build("RetentionQuick", 1)
plain = WorkflowBuilder().start_with(lambda ctx: None).build("RetentionPlain", 1)
waits = (
    WorkflowBuilder().start_with(lambda ctx: None).wait_for("retention.go", lambda d: d["key"])
    .build("RetentionWaits", 1)
)


async def _gone(host, wid: str) -> bool:
    try:
        await host.get_workflow(wid)
    except WorkflowNotFoundError:
        return True
    return False


async def test_purge_deletes_finished_workflows_and_what_they_own(host, clock, wait_for_subscription):
    host.register(quick)
    host.register(waits)
    tag = uuid.uuid4().hex
    done = [await host.start_workflow("RetentionQuick", {"tag": tag}) for _ in range(3)]
    ended = await host.start_workflow("RetentionWaits", {"key": f"e-{tag}", "tag": tag})
    running = await host.start_workflow("RetentionWaits", {"key": f"r-{tag}", "tag": tag})
    await wait_for_subscription("retention.go", f"e-{tag}")
    await wait_for_subscription("retention.go", f"r-{tag}")
    clock.advance(timedelta(seconds=5))  # the retries wait a second of the fake clock
    for wid in done:
        assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
        assert len(await host.get_execution_errors(wid)) == 1
    assert await host.terminate_workflow(ended)
    assert (await host.search(tag)).total == 5

    with pytest.raises(ValueError, match="only finished workflows"):
        await host.purge_workflows(older_than=HOUR, status="runnable")
    assert await host.purge_workflows(older_than=HOUR) == 0  # none is an hour old yet
    clock.advance(2 * HOUR)
    assert await host.purge_workflows(older_than=HOUR, dry_run=True) == 4
    assert await host.purge_workflows(older_than=HOUR, status="terminated") == 1
    seen: list[tuple[int, int]] = []
    assert await host.purge_workflows(older_than=HOUR, batch=2, progress=lambda *p: seen.append(p)) == 3
    assert seen[-1] == (3, 3)

    for wid in [*done, ended]:
        assert await _gone(host, wid)
        assert await host.get_execution_errors(wid) == []
    assert [s.workflow_id for s in await host.persistence.get_subscriptions(
        "retention.go", f"r-{tag}", clock.now())] == [running]
    page = await host.search(tag)
    assert [item.id for item in page.items] == [running] and page.total == 1
    # The one still waiting runs on as before.
    await host.publish_event("retention.go", f"r-{tag}")
    assert (await host.wait_for_workflow(running, timeout=30)).status is WorkflowStatus.COMPLETE


async def test_retention_deletes_old_workflows_in_the_background(stores, clock, wait_until):
    host = stores.host(clock=clock, poll_interval=0.05, retention=HOUR)
    async with host:
        host.register(plain)
        old = await host.start_workflow("RetentionPlain", {})
        await host.wait_for_workflow(old, timeout=30)
        clock.advance(2 * HOUR)
        young = await host.start_workflow("RetentionPlain", {})
        await host.wait_for_workflow(young, timeout=30)
        await wait_until(lambda: _gone(host, old), what="the old workflow purged")
        assert not await _gone(host, young)
        assert [item.id for item in (await host.search("")).items if item.id in (old, young)] == [young]
