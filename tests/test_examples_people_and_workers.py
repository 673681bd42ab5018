"""Guard tests: the activity and user task examples run and say what they did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # two processes: the host and its worker
def test_activities_example_answers_from_a_worker_process(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples" / "activities.py"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "beach.jpg: complete, thumbnail beach-640.jpg" in out
    # The failure went through on_error: retried, answered by the worker the second time.
    assert out.index("worker: failed: broken.jpg") < out.index("broken.jpg: complete")
    assert "retried after a failure: 1 error(s)" in out
    assert "  [timing] Receive: " in out and "  [timing] Publish: " in out  # the middleware
    assert "in-process worker: garden-640.jpg" in out
    assert (tmp_path / "activities.db").exists()  # the store the two processes shared


def test_approval_example_runs_the_chosen_options_and_escalates(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples" / "approval.py"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "ann is asked: Approve a taxi for 40 EUR? options: approve, reject" in out
    assert "'maybe' is not an option" in out and "choose one of: approve, reject" in out
    assert "a taxi: paid" in out
    assert "escalated to director: Approve a laptop for 2400 EUR?" in out
    assert "a laptop: not paid" in out and "open tasks left: 0" in out
