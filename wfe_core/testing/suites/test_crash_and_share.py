"""Crash recovery and two processes on one store, with real processes and SIGKILL.

Each test runs on every installed scheme whose test store two processes share (``sqlite`` on
a file, and the networked stores), through the ``wfe_stores`` fixture of wfe's pytest plugin (also composed: ``sqlite+valkey``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from wfe_core.testing import Stores

pytestmark = [pytest.mark.slow, pytest.mark.wfe_stores(shared_across_processes=True)]


def worker(mode: str, stores: Stores, log_dir: Path, *extra: str, env: dict[str, str] | None = None):
    return subprocess.Popen(
        [sys.executable, "-m", "wfe_core.testing.suites._worker", mode, stores.to_json(), str(log_dir), *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def step_log(log_dir: Path) -> list[str]:
    path = log_dir / "steps.log"
    return [line.rsplit(" ", 2)[0] for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_line(log_dir: Path, suffix: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.endswith(suffix) for line in step_log(log_dir)):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {suffix!r} in the step log after {timeout} s")


def test_kill_9_mid_step_then_a_new_process_completes_the_workflow(
    wfe_stores: Stores, tmp_path: Path
) -> None:
    url = wfe_stores
    crashing = worker("crash", url, tmp_path, env={"WFE_TEST_HANG": "1"})
    try:
        wait_for_line(tmp_path, "slow-start")
    finally:
        crashing.send_signal(signal.SIGKILL)
        crashing.wait(10)
    assert crashing.returncode == -signal.SIGKILL

    resumed = worker("resume", url, tmp_path)
    out, err = resumed.communicate(timeout=90)
    assert resumed.returncode == 0, err
    assert out.strip() == "complete"

    wid = (tmp_path / "ids.txt").read_text().strip()
    counts = Counter(line.removeprefix(f"{wid} ") for line in step_log(tmp_path))
    # A finished step never runs again; the interrupted one runs again (at-least-once).
    assert counts == {"first": 1, "slow-start": 2, "slow-end": 1, "last": 1}


def test_two_processes_share_one_store_and_apply_each_pass_once(
    wfe_stores: Stores, tmp_path: Path
) -> None:
    url = wfe_stores
    count = 200
    first = worker("share-start", url, tmp_path, str(count))
    second = worker("share", url, tmp_path, str(count))
    out1, err1 = first.communicate(timeout=150)
    out2, err2 = second.communicate(timeout=150)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert out1.strip() == str(count) and out2.strip() == str(count)

    ids = (tmp_path / "ids.txt").read_text().split()
    lines = (tmp_path / "steps.log").read_text().splitlines()
    runs = Counter(line.rsplit(" ", 2)[0] for line in lines)
    twice = [line for line in lines if runs[line.rsplit(" ", 2)[0]] > 1]
    logs = f"ran twice (step, pid, time):\n{twice}\nfirst worker's log:\n{err1}\n" \
        f"second worker's log:\n{err2}"
    for wid in ids:
        assert runs[f"{wid} ping"] == 1, logs
        assert runs[f"{wid} last"] == 1, logs
    pids = {line.rsplit(" ", 2)[1] for line in lines}
    assert len(pids) == 2, "both processes should have run steps"
