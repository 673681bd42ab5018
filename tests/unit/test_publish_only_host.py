"""A host that registered nothing (it only starts workflows and publishes events) runs nothing
and says nothing about the workflows that fall due while it watches the store."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus

sleeper = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .delay(timedelta(milliseconds=300))
    .then(lambda ctx: None)
    .build("sleeper", 1)
)


async def test_a_host_that_registered_nothing_leaves_due_workflows_to_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    caplog.set_level(logging.INFO, logger="wfe")
    # The publishing host looks often, so its poller sees the delays fall due (its timers).
    async with WorkflowHost(url, poll_interval=0.1) as publisher, WorkflowHost(url) as worker:
        worker.register(sleeper)
        wids = [await worker.start_workflow("sleeper", {}) for _ in range(10)]
        for wid in wids:
            assert (await publisher.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
    needs = [r.getMessage() for r in caplog.records if "needs definition" in r.getMessage()]
    assert needs == []


waiter = WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for("go", lambda d: d["key"]).build("waiter", 1)


async def test_events_published_by_a_host_that_registered_nothing_wake_workflows_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    caplog.set_level(logging.INFO, logger="wfe")
    async with WorkflowHost(url, poll_interval=0.1) as publisher, WorkflowHost(url) as worker:
        worker.register(waiter)
        wids = [await worker.start_workflow("waiter", {"key": f"k{n}"}) for n in range(20)]
        for n, wid in enumerate(wids):
            while not await publisher.persistence.get_subscriptions("go", f"k{n}", publisher.clock.now()):
                await asyncio.sleep(0.01)
            await publisher.publish_event("go", f"k{n}")
        for wid in wids:
            assert (await publisher.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
    needs = [r.getMessage() for r in caplog.records if "needs definition" in r.getMessage()]
    assert needs == []
