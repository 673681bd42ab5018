"""A PostgreSQL restart in the middle of a run: ``pg_ctlcluster 15 <cluster> restart``.

Two host processes run the ``mix`` workflows of the many-hosts test when the database restarts
under them: every connection of their pools and their LISTEN connections dies, and for a moment
nothing can connect. Their calls fail as ``ProviderUnavailableError``; each host waits the outage
out, logs it once and when it ends, and resumes by itself. No host process exits, every workflow
completes, and its data holds each step's change exactly once (a pass whose commit failed ran
again, but was never written twice). Some workflows wait for an event that this process
publishes only after the restart, so work is also pushed to the hosts once the database is back.
A second test stops the database for longer than the quiet time that ends an outage, and checks
how the hosts log it: one outage each, over only once the database is back.

Each test makes a PostgreSQL cluster of its own on a free port and drops it afterwards
(``tests.postgres._cluster``), so restarting it disturbs no other test of the parallel run.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest

from tests.postgres._cluster import VERSION, Cluster, cluster_or_skip
from tests.postgres._hosts_worker import (
    expected_data,
    host_log,
    log_lines,
    mix,
    spawn,
    stderr_of,
    stop_all,
    wait_ready,
)
from wfe import WorkflowHost, WorkflowStatus
from wfe.errors import ProviderUnavailableError

pytest.importorskip("psycopg")

pytestmark = pytest.mark.slow

#: Workflows whose events are published before the restart, and after it.
BEFORE, AFTER = 60, 30

T = TypeVar("T")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A cluster of this test's own, to restart."""
    with cluster_or_skip() as made:
        yield made


@pytest.fixture
def url(cluster: Cluster) -> str:
    """The cluster's test database; small pools, as the hosts share its connections."""
    return f"postgresql://wfe:wfe@127.0.0.1:{cluster.port}/wfe_test?schema=wfe_restart&pool_size=4"


async def until(what: str, call: Callable[[], Awaitable[T]], within: float) -> T:
    """``await call()`` until it does not raise ``ProviderUnavailableError`` (the database is
    still restarting); a caller's retry, as the error asks for."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await call()
        except ProviderUnavailableError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still unavailable after {within:g} s") from exc
            await asyncio.sleep(0.1)


class Run:
    """Two host processes on ``url`` running ``mix`` workflows that this process starts (its
    host is not started: it only stores) and whose events it publishes."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir()
        self.processes = [spawn(url, log_dir) for _ in range(2)]
        self.client = WorkflowHost(url)
        self.client.register(mix)
        self.starts: dict[str, dict[str, object]] = {}
        self._calls = asyncio.Semaphore(4)  # a few calls at a time, as a few clients make them

    async def start(self, count: int) -> list[str]:
        async def one(n: int) -> str:
            data: dict[str, object] = {"n": n, "text": f"Zoë ✓ {{\"n\": {n}}} \\ 日本"}
            async with self._calls:
                wid = await self.client.start_workflow("mix", data)
            self.starts[wid] = data
            return wid

        first = len(self.starts)
        return list(await asyncio.gather(*(one(first + n) for n in range(count))))

    async def publish(self, wid: str) -> None:
        async with self._calls:
            # The caller's retry, as the error asks for: right after an outage the client's
            # pool has lost its connections too.
            await until(
                f"publishing to {wid}", functools.partial(self.client.publish_event, "go", wid), 60
            )

    def alive(self) -> None:
        for p in self.processes:
            assert p.poll() is None, f"a host process exited: {stderr_of(p, self.log_dir)}"

    async def wait_mid_run(self) -> None:
        """Until a few workflows have completed (the others are still running or waiting)."""
        deadline = time.monotonic() + 120
        while sum(1 for line in log_lines(self.log_dir) if line[1] == "last") < 5:
            assert time.monotonic() < deadline, "the hosts completed no workflow in 120 s"
            self.alive()
            await asyncio.sleep(0.02)

    async def wait_all_complete_with_their_data(self) -> None:
        deadline = time.monotonic() + 120
        pending = set(self.starts)
        while pending:
            assert time.monotonic() < deadline, (
                f"{len(pending)} of {len(self.starts)} workflows did not complete within 120 s "
                f"of the outage, e.g. {sorted(pending)[:3]}; the host logs are in {self.log_dir}"
            )
            self.alive()
            for wid in list(pending)[:100]:
                status = await until(
                    "reading a status", functools.partial(self.client.persistence.get_status, wid), 60
                )
                if status is WorkflowStatus.COMPLETE:
                    pending.discard(wid)
            await asyncio.sleep(0.1)
        for wid, data in self.starts.items():
            instance = await until(
                "reading a workflow", functools.partial(self.client.get_workflow, wid), 60
            )
            # Each step's state change made once: a pass whose commit failed was not written.
            assert instance.data == expected_data(data), (wid, instance.data)

    async def wait_outages_logged(self, every_host: bool = True) -> tuple[list[str], list[str]]:
        """Until each host has logged an outage's start and as many ends (after some quiet
        seconds): the warning once per outage, not once per failed attempt. The lines.

        ``every_host=False``: a host may have logged none, when none of its calls failed: a
        restart is over in a second or two, and a call that meets a connection the server
        ended runs again on another (``PostgresDatabase.run``), so a quick restart may pass
        unseen. Whatever a host logged as begun, it logged as ended.
        """
        deadline = time.monotonic() + 90
        while True:
            logs = [host_log(p, self.log_dir).splitlines() for p in self.processes]
            began = [[line for line in lines if "the store is unavailable" in line] for lines in logs]
            ended = [[line for line in lines if "the store is available again" in line] for lines in logs]
            matched = [len(b) == len(e) for b, e in zip(began, ended, strict=True)]
            if all(matched) and (all(began) or not every_host):
                return [line for b in began for line in b], [line for e in ended for line in e]
            assert time.monotonic() < deadline, (
                f"outages logged as begun {[len(b) for b in began]} and ended "
                f"{[len(e) for e in ended]} times per host; logs in {self.log_dir}"
            )
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        stop_all(self.processes, self.log_dir)
        for p in self.processes:
            assert p.returncode == 0, stderr_of(p, self.log_dir)


def logged_at(line: str) -> float:
    """The time of a host log line (``%(asctime)s``: local time, milliseconds after a comma)."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


async def test_a_database_restart_mid_run_loses_no_workflow_and_no_host(
    url: str, cluster: Cluster, tmp_path: Path
) -> None:
    run = Run(url, tmp_path / "run")
    try:
        await wait_ready(run.processes, run.log_dir)
        published, later = await run.start(BEFORE), await run.start(AFTER)
        await asyncio.gather(*(run.publish(wid) for wid in published))
        await run.wait_mid_run()

        restarted = await asyncio.to_thread(cluster.ctl, "restart")
        assert restarted.returncode == 0, (
            f"pg_ctlcluster {VERSION} {cluster.name} restart failed: {restarted.stderr}"
        )
        # Pushed to the hosts after the restart (their LISTEN connections are new ones).
        await asyncio.gather(*(run.publish(wid) for wid in later))

        await run.wait_all_complete_with_their_data()
        await run.wait_outages_logged(every_host=False)
        run.alive()
    finally:
        run.stop()


async def test_a_database_down_for_a_while_is_one_outage_over_only_when_it_is_back(
    url: str, cluster: Cluster, tmp_path: Path
) -> None:
    """The database stopped for twice the quiet time that ends an outage (``SETTLE``), then
    started: each host logs one outage, whose end comes after the start, never before."""
    from wfe_core._outage import SETTLE

    run = Run(url, tmp_path / "run")
    try:
        await wait_ready(run.processes, run.log_dir)
        wids = await run.start(BEFORE // 2)
        await asyncio.gather(*(run.publish(wid) for wid in wids))
        await run.wait_mid_run()

        stop_issued = time.time()
        stopped = await asyncio.to_thread(cluster.ctl, "stop")
        assert stopped.returncode == 0, f"pg_ctlcluster {VERSION} {cluster.name} stop failed: {stopped.stderr}"
        down_since = time.time()
        deadline = time.monotonic() + 2 * SETTLE + 30
        while True:  # down until every host has met it, and for 2 x SETTLE at least
            met = all("the store is unavailable" in host_log(p, run.log_dir) for p in run.processes)
            if met and time.time() - down_since >= 2 * SETTLE:
                break
            assert time.monotonic() < deadline, f"the hosts never met the outage; logs in {run.log_dir}"
            run.alive()
            await asyncio.sleep(0.1)
        back_from = time.time()  # no call can have gone through since stop_issued
        await asyncio.to_thread(cluster.ensure_up)

        await run.wait_all_complete_with_their_data()
        began, ended = await run.wait_outages_logged()
        run.alive()
        too_early = [line for line in ended if stop_issued <= logged_at(line) < back_from]
        assert too_early == [], f"logged while the database was down: {too_early}"
        assert len(began) == len(run.processes), f"one outage logged as several: {began}"
    finally:
        run.stop()
