"""Kill -9 around an activity: of the worker holding its token, and of the host waiting on it.

A host starts a workflow whose step waits on the activity ``bake``; an outside worker takes it
(a token leased for 1 s) and hangs. Both processes are killed with SIGKILL. A new host and a
new worker start: the worker gets the activity once the dead worker's lease ran out, answers
it, and the dead worker's token is refused; the new host finishes the workflow with that
answer. Nothing is lost and nothing is applied twice. Real processes, on every store set two
processes share (see ``_worker.py`` for the modes).
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


def test_kill_9_of_a_worker_holding_an_activity_and_of_the_host_waiting_on_it(
    wfe_stores: Stores, tmp_path: Path
) -> None:
    host = worker("oven-start", wfe_stores, tmp_path)
    taker = worker("activity-take", wfe_stores, tmp_path)
    try:
        wait_for_line(tmp_path, " taken")  # its token is written by then
    finally:
        _kill(taker)
        _kill(host)

    resumed = worker("resume", wfe_stores, tmp_path)
    answerer = worker("activity-answer", wfe_stores, tmp_path)
    answered, err = answerer.communicate(timeout=60)
    assert answerer.returncode == 0, err
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert out.strip() == "complete"

    wid = (tmp_path / "ids.txt").read_text().strip()
    counts = Counter(line.removeprefix(f"{wid} ") for line in step_log(tmp_path))
    # Taken twice (the dead worker's lease ran out), answered once, the late token refused;
    # the steps around the activity ran once each.
    assert counts == {"first": 1, "taken": 2, "answered": 1, "late-refused": 1, "last": 1}
