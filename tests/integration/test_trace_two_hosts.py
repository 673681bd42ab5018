"""One workflow is one trace, though its passes run in two processes on one SQLite file.

The first process starts the workflow and runs its first pass, up to a wait for an event, then
exits; the second publishes the event and runs the rest. Every pass and step span of both
processes is in the trace of the ``wfe.start_workflow`` span, a child of it (see
``wfe_core.tracing``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wfe_core import tracing

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run(mode: str, url: str, out: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration._trace_worker", mode, url, str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_passes_on_two_hosts_are_one_trace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/trace.db"
    run("start", url, tmp_path)
    run("finish", url, tmp_path)
    first, second = spans(tmp_path / "spans-start.jsonl"), spans(tmp_path / "spans-finish.jsonl")
    [start] = [s for s in first if s["name"] == tracing.SPAN_START_WORKFLOW]
    wid = start["attributes"][tracing.ATTR_WORKFLOW_ID]
    for made_here in (first, second):
        passes = [s for s in made_here if s["name"] == tracing.SPAN_PASS]
        assert passes, "each process ran a pass"
        assert {(s["trace_id"], s["parent_id"]) for s in passes} == {
            (start["trace_id"], start["span_id"])
        }
        assert all(s["attributes"][tracing.ATTR_WORKFLOW_ID] == wid for s in passes)
    steps = [s for s in first + second if s["name"] == tracing.SPAN_STEP]
    assert {s["trace_id"] for s in steps} == {start["trace_id"]}
    names = {s["attributes"][tracing.ATTR_STEP_NAME] for s in second if s["name"] == tracing.SPAN_STEP}
    assert "Last" in names
    assert "First" in {s["attributes"][tracing.ATTR_STEP_NAME] for s in first if s["name"] == tracing.SPAN_STEP}
    # The event came from the second process: its delivery is in the publisher's trace.
    [publish] = [s for s in second if s["name"] == tracing.SPAN_PUBLISH_EVENT]
    [deliver] = [s for s in second if s["name"] == tracing.SPAN_DELIVER_EVENT]
    assert deliver["parent_id"] == publish["span_id"]
