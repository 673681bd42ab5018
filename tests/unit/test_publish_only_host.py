"""A host that registered nothing (it only starts workflows and publishes events) runs nothing
and says nothing about the workflows that fall due while it watches the store."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from wfe import ErrorBehavior, WorkflowBuilder, WorkflowHost, WorkflowStatus

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


BROKEN = {"yes"}


def _fails_while_broken(ctx: object) -> None:
    if BROKEN:
        raise RuntimeError("broken for now")


flaky = (
    WorkflowBuilder(dict).start_with(_fails_while_broken).on_error(ErrorBehavior.suspend())
    .build("flaky", 1)
)


async def test_what_a_host_that_runs_nothing_starts_publishes_or_resumes_runs_at_once(
    tmp_path: Path,
) -> None:
    """Stored by a host that only opened its stores, and queued: a running host that polls
    once an hour takes each at once."""
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    BROKEN.add("yes")
    async with WorkflowHost(url, poll_interval=3600) as worker:
        worker.register(waiter)
        worker.register(sleeper)
        worker.register(flaky)
        waiting = await worker.start_workflow("waiter", {"key": "k"})
        while not await worker.persistence.get_subscriptions("go", "k", worker.clock.now()):
            await asyncio.sleep(0.01)
        paused = await worker.start_workflow("flaky", {})  # suspended by its failing step
        assert (await worker.wait_for_workflow(paused, timeout=10)).status is WorkflowStatus.SUSPENDED
        BROKEN.clear()
        client = WorkflowHost(url)
        client.register(sleeper)
        async with client.open_stores():
            started = await client.start_workflow("sleeper", {})
            await client.publish_event("go", "k")
            assert await client.resume_workflow(paused)
        for wid in (started, waiting, paused):
            assert (await worker.wait_for_workflow(wid, timeout=10)).status is WorkflowStatus.COMPLETE
