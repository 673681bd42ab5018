"""A Valkey restart with nothing kept on disk, mid-run: the poller finds what was queued.

Uses a private ``redis-server`` on a free port (started and killed by this test only), so the
shared test server is never disturbed.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def server(valkey_url: str) -> Iterator[_Server]:  # valkey_url: skip where Valkey is not set up
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    s = _Server(_free_port())
    s.start()
    yield s
    s.kill()


async def test_a_restart_that_loses_the_queue_loses_no_workflow(server: _Server, sqlite_url: str) -> None:
    url = f"valkey://127.0.0.1:{server.port}/0?prefix=restart"
    definition = (
        WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for("go", lambda d: d["key"])
        .then(lambda ctx: None).build("waits", 1)
    )
    await asyncio.sleep(0.2)
    async with WorkflowHost(sqlite_url, lock=url, queue=url, poll_interval=3.0, lease_ttl=2) as host:
        host.register(definition)
        wids = [await host.start_workflow("waits", {"key": f"k{n}"}) for n in range(5)]
        for n in range(5):
            while not await host.persistence.get_subscriptions("go", f"k{n}", _far()):
                await asyncio.sleep(0.02)
        server.kill()
        for n in range(5):
            await host.publish_event("go", f"k{n}")  # stored: the caller sees no error
        await asyncio.sleep(1.0)
        server.start()
        for wid in wids:
            assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
        # Pushed wake-ups again: the host's own client is back on the restarted (empty)
        # server, so a resumed workflow is queued there at once, not through the poller's
        # fallback, and a reader takes it. (An event published here is delivered by this
        # host itself, without the queue.)
        wid = await host.start_workflow("waits", {"key": "after"})
        while not await host.persistence.get_subscriptions("go", "after", _far()):
            await asyncio.sleep(0.02)
        from redis.asyncio import Redis

        raw = Redis(port=server.port, decode_responses=True)
        try:
            assert await host.suspend_workflow(wid)
            queued_before = int(await raw.get("restart:queue:workflow:seq") or 0)
            assert await host.resume_workflow(wid)
            # seq is the last enqueue's rank, strictly growing: it moved, so the resume queued.
            assert int(await raw.get("restart:queue:workflow:seq") or 0) > queued_before
            await host.publish_event("go", "after")
            assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
            assert await raw.zcard("restart:queue:workflow:waiting") == 0
        finally:
            await raw.aclose()


async def test_with_the_queue_down_workflows_start_run_and_complete(
    server: _Server, sqlite_url: str
) -> None:
    """The Valkey queue down for good: start and publish still succeed (their writes are
    stored), and the workflows run in this host and complete, without the queue. (With the
    lock on Valkey too, workflows wait for it instead: no lease, no pass.)"""
    url = f"valkey://127.0.0.1:{server.port}/0?prefix=down"
    definition = (
        WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for("go", lambda d: d["key"])
        .then(lambda ctx: ctx.data.update(done=True)).build("waits-down", 1)
    )
    async with WorkflowHost(sqlite_url, queue=url, poll_interval=0.5) as host:
        host.register(definition)
        server.kill()
        wids = [await host.start_workflow("waits-down", {"key": f"k{n}"}) for n in range(3)]
        for n in range(3):
            while not await host.persistence.get_subscriptions("go", f"k{n}", _far()):
                await asyncio.sleep(0.02)
            await host.publish_event("go", f"k{n}")
        for wid in wids:
            instance = await host.wait_for_workflow(wid, timeout=30)
            assert instance.status is WorkflowStatus.COMPLETE and instance.data["done"] is True
        assert (await host.persistence.get_status(wids[0])) is WorkflowStatus.COMPLETE


def _far() -> Any:
    from datetime import UTC, datetime

    return datetime(9999, 1, 1, tzinfo=UTC)
