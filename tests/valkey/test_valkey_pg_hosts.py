"""Three host processes on one PostgreSQL database with their leases and queue on Valkey, one
killed with SIGKILL mid-run (the PostgreSQL many-hosts test with ``lock=`` and ``queue=``).

The workflows mix ``then``, ``parallel``, ``for_each``, ``wait_for`` (events published from this
process), ``delay`` and a retry. A fresh process replaces the killed one. Every workflow
completes with every step's state change made once; in the step log kept outside the engine,
every step ran once, except steps whose body finished in the killed process before their pass
was committed (they ran again, at-least-once), so any step logged twice must have one of its
runs in the killed process. The killed host's leases expire on Valkey and the ids it had taken
from the Valkey queue come back, or the others' pollers find them.

A step that ran twice on live hosts means a live host lost a lease it held (its renewal came
after the lease ran out): the failure names the host that logged it. A host renews its leases
one round trip after another (``Leases.renew_loop`` in ``wfe_core/_leases.py``), so on a loaded
machine, with tens of leases held, the renewals fall behind the leases' expiry.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres._hosts_worker import (
    STEPS,
    expected_data,
    log_lines,
    lost_leases,
    mix,
    spawn,
    stderr_of,
    stop_all,
    wait_complete,
    wait_ready,
)
from wfe import WorkflowHost
from wfe_core.testing._pytest_plugin import store_or_skip

pytest.importorskip("psycopg")
pytest.importorskip("redis")

pytestmark = pytest.mark.slow

#: Workflows in the run (the issue's full run is 1,000: WFE_TEST_HOSTS_WORKFLOWS=1000).
WORKFLOWS = int(os.environ.get("WFE_TEST_HOSTS_WORKFLOWS", "150"))


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A ``postgresql://`` URL naming a fresh schema, dropped after the test.

    Each host keeps a pool of four connections, not ten: five processes share a server whose
    100 connections other tests use too, and with leases and queue on Valkey a host's
    database traffic is its passes alone.
    """
    with store_or_skip("postgresql", tmp_path) as url:
        yield f"{url}&pool_size=4"


async def test_three_hosts_on_postgres_with_valkey_lock_and_queue_one_killed(
    pg_url: str, valkey_url: str, tmp_path: Path
) -> None:
    log_dir = tmp_path / "run"
    log_dir.mkdir()
    processes = [spawn(pg_url, log_dir, lock=valkey_url, queue=valkey_url) for _ in range(3)]
    victim: subprocess.Popen[bytes] | None = None
    try:
        await wait_ready(processes, log_dir)
        # This process starts the workflows and publishes their events without running any:
        # an unstarted host only stores, and the three hosts find the work.
        client = WorkflowHost(pg_url, lock=valkey_url, queue=valkey_url)
        client.register(mix)
        starts = {n: {"n": n, "text": f"Zoë ✓ {{\"n\": {n}}} \\ 日本"} for n in range(WORKFLOWS)}
        # A few calls at a time, as a few clients would make them (not one after the other:
        # on a loaded machine that alone takes longer than the run).
        calls = asyncio.Semaphore(4)

        async def start(data: dict[str, object]) -> str:
            async with calls:
                return await client.start_workflow("mix", data)

        async def publish(wid: str) -> None:
            async with calls:
                await client.publish_event("go", wid)

        started = await asyncio.gather(*(start(data) for data in starts.values()))
        ids = dict(zip(started, starts, strict=True))
        await asyncio.gather(*(publish(wid) for wid in ids))

        deadline = time.monotonic() + 120
        while sum(1 for line in log_lines(log_dir) if line[1] == "last") < WORKFLOWS // 4:
            assert time.monotonic() < deadline, "the hosts made no progress in 120 s"
            for p in processes:
                assert p.poll() is None, stderr_of(p, log_dir)
            await asyncio.sleep(0.02)
        victim = processes[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert victim.returncode == -signal.SIGKILL
        processes.append(spawn(pg_url, log_dir, lock=valkey_url, queue=valkey_url))

        persistence = client.persistence
        await wait_complete(persistence, ids, log_dir)
        # Exactly-once state transitions: every step counted once in the stored data.
        for wid, n in ids.items():
            data = (await client.get_workflow(wid)).data
            assert data == expected_data(starts[n]), (wid, data)
    finally:
        stop_all(processes, log_dir)
    assert victim is not None
    for p in processes:
        if p is not victim:
            assert p.returncode == 0, stderr_of(p, log_dir)

    runs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for wid, step, pid in log_lines(log_dir):
        runs[(wid, step)].append(pid)
    killed = str(victim.pid)
    lost = lost_leases(log_dir)
    for wid in ids:
        for step in STEPS:
            pids = runs[(wid, step)]
            assert pids, f"{wid} never ran {step}"
            if len(pids) > 1:
                # At-least-once: only a step in flight in the killed host may run again.
                assert len(pids) == 2 and killed in pids, (
                    f"{wid}: step {step} ran in processes {pids}, killed {killed}; hosts that "
                    f"logged losing its lease: {lost.get(wid, [])} (a lease that runs out between "
                    f"two renewals is not logged; host logs in {log_dir})"
                )
    again = Counter(len(p) for p in runs.values())
    assert again[2] <= 3 * 50, again  # the killed host's passes in flight, no more
    workers = {pid for pids in runs.values() for pid in pids}
    assert len(workers) >= 3, "the work should be spread over the hosts"
