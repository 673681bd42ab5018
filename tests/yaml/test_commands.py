"""``wfe validate``, ``wfe schema`` and ``wfe run``: in-process through ``wfe._cli.main`` for the
quick cases, and through the console script for the crash: a run killed with SIGKILL in the
middle of a shell step resumes with ``wfe run --resume`` and only that step runs twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wfe._cli import main

WFE = shutil.which("wfe", path=str(Path(sys.executable).parent))

PIPELINE = """\
workflow:
  id: greet
  inputs:
    who: string
    times: {type: integer, required: false}
  outputs: [greeting]
  steps:
    - name: hello
      config: {run: 'echo "hi $WHO"; echo "##wfe[output greeting=hi $WHO]"'}
    - name: maybe
      when: {field: times, gt: 1}
      config: {run: 'echo again'}
    - name: broken
      when: {field: who, equals: nobody}
      config: {run: 'echo oops >&2; exit 4'}
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "greet.yaml"
    path.write_text(PIPELINE)
    return path


def test_validate_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str], pipeline: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("workflow:\n  id: x\n  steps:\n    - name: a\n    - name: a\n      type: rust\n")
    assert main(["validate", str(pipeline), str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{bad}:4:7: a shell step needs exactly one of `config.run` (inline) or `config.file` (a path)",
        f"{bad}:5:13: step name 'a' is already used (line 4); names are unique in a workflow, "
        "hooks and parallel steps included",
        f"{bad}:6:13: unknown step type 'rust'; use one of shell, deno, workflow",
    ]
    assert main(["validate", "--json", str(bad)]) == 1
    found = json.loads(capsys.readouterr().out)
    assert found["valid"] is False and [p["line"] for p in found["problems"]] == [4, 5, 6]
    assert main(["validate", str(pipeline)]) == 0
    assert capsys.readouterr().out == "1 file(s) valid\n"


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$defs"]["step"]["required"] == ["name"]


def test_run_streams_steps_and_prints_a_summary(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(pipeline), "--input", "who=ada", "--input", "times=2"]) == 0
    out = capsys.readouterr().out
    assert "  hello | hi ada" in out and "  maybe | again" in out
    assert out.index("hello running") < out.index("hello | hi ada") < out.index("hello complete")
    summary = out[out.index("STEP"):].splitlines()
    assert summary[1].split()[:2] == ["hello", "complete"]
    assert summary[3].split() == ["broken", "skipped", "-"]
    assert 'output greeting = "hi ada"' in out
    assert out.rstrip().endswith("complete")


def test_run_json_and_failure_exit(pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--json", str(pipeline), "--input", "who=nobody"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "terminated"
    steps = {s["step"]: s for s in document["steps"]}
    assert steps["broken"]["status"] == "failed"
    assert steps["broken"]["output"] == ["[stderr] oops"]
    assert "exited with code 4" in document["errors"][0]


@pytest.mark.parametrize(("args", "message"), [
    (["--input", "times=2"], "missing input(s): who"),
    (["--input", "who=a", "--input", "times=many"], "--input times=many: not a integer"),
    (["--input", "colour=red"], "the workflow has no such input"),
    (["--input", "who"], "write KEY=VALUE"),
    (["--workflow", "other"], "no workflow 'other' in the files; give --workflow one of greet"),
    (["--input", "who=a", "--resume", "abc"], "--resume needs the store"),
])
def test_run_refuses_bad_input(pipeline: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                               message: str) -> None:
    assert main(["run", str(pipeline), *args]) == 2
    assert message in capsys.readouterr().err


def test_run_refuses_an_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("workflow:\n  id: x\n  steps: []\n")
    assert main(["run", str(bad)]) == 2
    assert "the workflow needs `steps`" in capsys.readouterr().out


CRASH = """\
workflow:
  id: crash
  steps:
    - name: one
      config: {run: 'echo one >> "$LOG"'}
    - name: two
      config:
        run: |
          echo two >> "$LOG"
          if [ ! -e "$MARK" ]; then touch "$MARK"; sleep 60; fi
    - name: three
      config: {run: 'echo three >> "$LOG"'}
"""


@pytest.mark.slow
def test_a_run_killed_in_a_shell_step_resumes_and_only_that_step_runs_twice(tmp_path: Path) -> None:
    assert WFE is not None
    path = tmp_path / "crash.yaml"
    path.write_text(CRASH)
    log, mark = tmp_path / "runs.log", tmp_path / "mark"
    env = {**os.environ, "LOG": str(log), "MARK": str(mark), "NO_COLOR": "1"}
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    # The short lease lets the resumed run take the workflow a second after the crash.
    crashing = subprocess.Popen([WFE, "run", str(path), "--db", db, "--lease-ttl", "1"],
                                env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert crashing.stdout is not None
    first = crashing.stdout.readline()
    wid = first.split()[1]
    deadline = time.monotonic() + 30
    while not mark.exists():  # step two is running now (its sleep)
        assert time.monotonic() < deadline and crashing.poll() is None
        time.sleep(0.05)
    os.killpg(crashing.pid, signal.SIGKILL)  # the wfe process and its shell step
    crashing.wait()
    assert log.read_text().split() == ["one", "two"]
    resumed = subprocess.run(
        [WFE, "run", str(path), "--db", db, "--lease-ttl", "1", "--resume", wid],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming workflow {wid}" in resumed.stdout
    assert log.read_text().split() == ["one", "two", "two", "three"]
