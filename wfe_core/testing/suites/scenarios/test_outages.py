"""A store that is busy or a lease that is lost: the host slows down or stops a pass, never dies.

* Another process holds SQLite's write lock for longer than the busy timeout while a host runs
  workflows: every write meanwhile fails with ``ProviderUnavailableError``; the host waits it
  out, logs the outage once (a warning when it starts, an info line when it ends), and the
  workflows complete after the lock is released.
* A pass that outlives its lease (another host took the workflow) writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe_core._memory import MemoryLock

HOLD = 3.0  # seconds the other process holds the write lock: three busy timeouts


def _hold_write_lock(path: Path, taken: threading.Event, seconds: float) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_a_store_locked_past_the_busy_timeout_slows_the_host_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wfe")
    path = tmp_path / "busy.db"
    steps: list[tuple[str, str]] = []
    definition = (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: steps.append(("first", ctx.workflow.id)))
        .delay(timedelta(milliseconds=300))
        .then_fn(lambda ctx: steps.append(("second", ctx.workflow.id)))
        .build("busy", 1)
    )
    async with WorkflowHost(
        f"sqlite:///{path}?busy_timeout=1000", poll_interval=0.5, lease_ttl=2.0
    ) as host:
        host.register(definition)
        ids = [await host.start_workflow("busy", {}) for _ in range(5)]
        taken = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, taken, HOLD))
        holder.start()
        try:
            await asyncio.to_thread(taken.wait, 10)
            started = time.monotonic()
            for wid in ids:
                instance = await host.wait_for_workflow(wid, timeout=60)
                assert instance.status is WorkflowStatus.COMPLETE
            # Nothing could be written while the lock was held.
            assert time.monotonic() - started >= HOLD - 0.5
        finally:
            await asyncio.to_thread(holder.join)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _records(caplog, "available again"):
            await asyncio.sleep(0.1)

    # Every workflow ran its second step. One that ran while the lock was held, in a pass
    # that could not be written (its lease ran out meanwhile), ran again: a step is
    # repeated only when its pass was never stored.
    assert {wid for name, wid in steps if name == "second"} == set(ids)
    assert len(_records(caplog, "the store is unavailable", logging.WARNING)) == 1
    assert len(_records(caplog, "the store is available again", logging.INFO)) == 1
    # Transient failures are not reported as errors with tracebacks.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def _records(
    caplog: pytest.LogCaptureFixture, text: str, level: int | None = None
) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if text in r.getMessage() and (level is None or r.levelno == level)
    ]


class StolenLock(MemoryLock):
    """The memory lock, where another owner can take a lease once it expired."""

    def steal(self, key: str, thief: str) -> bool:
        lease = self._live(key)
        if lease is not None:
            return False
        self._leases[key] = (thief, time.monotonic() + 60)
        return True


async def test_a_pass_that_outlives_its_lease_writes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="wfe")
    lock = StolenLock()
    release = asyncio.Event()
    entered = asyncio.Event()
    ran: list[str] = []

    async def slow(ctx: object) -> None:
        ran.append("slow")
        entered.set()
        await release.wait()

    definition = (
        WorkflowBuilder(dict)
        .start_with(slow)
        .then_fn(lambda ctx: ran.append("after"))
        .build("stolen", 1)
    )
    async with WorkflowHost("memory://", lock=lock, lease_ttl=0.3, poll_interval=60) as host:
        host.register(definition)
        # The renewals of this host are refused from the moment another owner holds it.
        lock.renew = _never_renew  # type: ignore[method-assign]
        wid = await host.start_workflow("stolen", {})
        await asyncio.wait_for(entered.wait(), 5)
        before = await host.get_workflow(wid)
        deadline = time.monotonic() + 5
        while not lock.steal(f"wf:{wid}", "another-host"):
            assert time.monotonic() < deadline, "the lease never expired"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.4)  # a renewal round notes the lease lost
        release.set()
        await asyncio.sleep(0.3)
        after = await host.get_workflow(wid)
        assert after.revision == before.revision  # the pass wrote nothing
        assert ran == ["slow"]
    assert any("lease lost during a pass" in r.getMessage() for r in caplog.records)


async def _never_renew(key: str, owner: str, ttl: float) -> bool:
    return False
