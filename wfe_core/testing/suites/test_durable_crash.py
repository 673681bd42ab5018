"""Durable functions under kill -9, and two host processes sharing their workflows.

Real processes (``_worker`` with ``_durable_worker``'s modes) on every store set two processes
share. A host is killed with SIGKILL in the middle of a durable function, during an activity
of a ``gather`` and while it waits for an event or a timer; a new host finishes it. Every
activity counts its runs in the step log: a finished one never runs again, the one in flight
runs again (at least once). Then two hosts run many durable functions together, and each
activity runs, and is recorded, once.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from wfe_core.testing import Stores

from .test_crash_and_share import step_log, wait_for_line, worker

pytestmark = [pytest.mark.slow, pytest.mark.wfe_stores(shared_across_processes=True)]


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL


def _runs(log_dir: Path) -> Counter[str]:
    wid = (log_dir / "ids.txt").read_text().strip()
    return Counter(line.removeprefix(f"{wid} ") for line in step_log(log_dir))


def test_kill_9_during_an_activity_of_a_gather(wfe_stores: Stores, tmp_path: Path) -> None:
    host = worker("durable-gather", wfe_stores, tmp_path, env={"WFE_TEST_HANG": "1"})
    try:
        wait_for_line(tmp_path, " recorded")  # first and both parts stored; slow still runs
        wait_for_line(tmp_path, " slow-start")
    finally:
        _kill(host)

    resumed = worker("durable-resume", wfe_stores, tmp_path, "go")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert out.split() == ["complete", "12"]  # parts 0 + 1 + 10, and 1: the event came first
    # The parts finished before the kill: never again. slow was in flight: it ran again.
    assert _runs(tmp_path) == {
        "first": 1, "part-0": 1, "part-1": 1, "recorded": 1, "slow-start": 2, "slow-end": 1,
        "last": 1,
    }


def test_kill_9_while_waiting_for_an_event_or_a_timer(wfe_stores: Stores, tmp_path: Path) -> None:
    host = worker("durable-wait", wfe_stores, tmp_path)
    try:
        wait_for_line(tmp_path, " waiting")
    finally:
        _kill(host)

    resumed = worker("durable-resume", wfe_stores, tmp_path)  # no event: the 2 s timer fires
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert out.split() == ["complete", "13"]
    assert _runs(tmp_path) == {
        "first": 1, "part-0": 1, "part-1": 1, "slow-start": 1, "slow-end": 1, "waiting": 1,
        "last": 1,
    }


def test_two_hosts_run_durable_functions_together(wfe_stores: Stores, tmp_path: Path) -> None:
    count = 100
    first = worker("durable-share-start", wfe_stores, tmp_path, str(count))
    second = worker("durable-share", wfe_stores, tmp_path, str(count))
    out1, err1 = first.communicate(timeout=90)
    out2, err2 = second.communicate(timeout=90)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert out1.split() == out2.split() == [str(count), str(count)]  # all complete, each 0 + 1

    ids = (tmp_path / "ids.txt").read_text().split()
    lines = (tmp_path / "steps.log").read_text().splitlines()
    runs = Counter(line.rsplit(" ", 2)[0] for line in lines)
    twice = sorted(k for k, n in runs.items() if n > 1)
    logs = f"ran twice: {twice}\nfirst host's log:\n{err1}\nsecond host's log:\n{err2}"
    assert set(runs) == {f"{wid} {a}" for wid in ids for a in ("first", "part-0", "part-1", "last")}
    assert not twice, logs
    assert len({line.rsplit(" ", 2)[1] for line in lines}) == 2, "both hosts should have run some"
